package io.cowfs.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import ru.serce.jnrfuse.FuseStubFS;

/**
 * Can a FUSE filesystem be mounted here? /dev/fuse may exist where mounting still cannot work (no
 * fusermount, mount not permitted in a container). Probed once per test JVM by mounting an empty
 * jnr-fuse filesystem (none of cowfs's code, so a cowfs bug fails its tests instead of skipping
 * them) in a child JVM, so that a crash in native code cannot take the test JVM down.
 */
final class FuseProbe {
    private FuseProbe() {
    }

    /** Why FUSE tests cannot run here, or null if they can. */
    static final String WHY_NOT = probe();

    private static String probe() {
        if (!Files.exists(Path.of("/dev/fuse"))) {
            return "no /dev/fuse";
        }
        Path mp = null;
        try {
            mp = Files.createTempDirectory("cowfs-fuse-probe-");
            Path out = Files.createTempFile("cowfs-fuse-probe-", ".txt");
            java.util.List<String> cmd = new java.util.ArrayList<>(Fx.javaCommand(java.util.List.of(), mp.toString()));
            cmd.set(cmd.indexOf(Main.class.getName()), Mount.class.getName());
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            boolean done = p.waitFor(60, TimeUnit.SECONDS);
            if (!done) {
                p.destroyForcibly().waitFor();
            }
            String said = Files.readString(out).strip();
            Files.deleteIfExists(out);
            if (done && p.exitValue() == 0) {
                return null;
            }
            String last = said.isEmpty() ? "" : said.lines().reduce((a, b) -> b).orElse("");
            return "FUSE mounts do not work here (" + (done ? last : "a test mount did not answer in 60 s") + ")";
        } catch (IOException | InterruptedException e) {
            return "cannot probe FUSE: " + e;
        } finally {
            if (mp != null) {
                try {
                    if (Fuse.isMounted(mp)) {
                        Fuse.unmount(mp, true);
                    }
                    Files.deleteIfExists(mp);
                } catch (IOException | InterruptedException e) {
                    // a temp directory left behind; the mount itself died with its process
                }
            }
        }
    }

    /**
     * The child JVM's side; a class of its own, so that starting it does not run the probe
     * (FuseProbe's static initialiser) again.
     */
    static final class Mount {
        private Mount() {
        }

        /** Mounts an empty filesystem at args[0], waits until the kernel lists it, unmounts; exit 0 if all worked. */
        public static void main(String[] args) throws Exception {
            Path mp = Path.of(args[0]).toAbsolutePath();
            FuseStubFS fs = new FuseStubFS();
            Throwable[] failure = new Throwable[1];
            Thread t = new Thread(() -> {
                try {
                    fs.mount(mp, true, false, new String[] {"-o", "fsname=cowfs-probe"});
                } catch (Throwable e) {
                    failure[0] = e;
                }
            }, "fuse-probe");
            t.setDaemon(true);
            t.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            try {
                while (!Fuse.isMounted(mp)) {
                    if (!t.isAlive()) {
                        System.out.println("mount failed: " + (failure[0] == null ? "libfuse exited" : failure[0].getMessage()));
                        System.exit(1);
                    }
                    if (System.nanoTime() > deadline) {
                        System.out.println("the mount did not appear in 30 s");
                        System.exit(1);
                    }
                    Thread.sleep(20);
                }
            } finally {
                fs.umount();
            }
            System.out.println("ok");
            System.exit(0);
        }
    }
}
