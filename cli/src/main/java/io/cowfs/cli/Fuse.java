package io.cowfs.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Host-side FUSE helpers: is libfuse there, is a path mounted, unmounting. */
final class Fuse {
    private Fuse() {
    }

    static void requireLibfuse() {
        for (String d : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib", "/usr/local/lib", "/lib64", "/usr/lib64")) {
            if (Files.exists(Path.of(d, "libfuse.so.2"))) {
                return;
            }
        }
        throw new IllegalStateException("libfuse 2 is not installed; run: apt-get install -y libfuse2 fuse3");
    }

    static boolean isMounted(Path mp) {
        return io.cowfs.fusefs.kernel.MountPoints.isMounted(mp);
    }

    /** Runs fusermount3/fusermount/umount; returns the error output, or null on success. */
    static String unmount(Path mp, boolean lazy) throws IOException, InterruptedException {
        String last = "no unmount tool found (install fuse3)";
        for (String tool : List.of("fusermount3", "fusermount", "umount")) {
            Path bin = which(tool);
            if (bin == null) {
                continue;
            }
            List<String> cmd = tool.equals("umount")
                    ? (lazy ? List.of(bin.toString(), "-l", mp.toString()) : List.of(bin.toString(), mp.toString()))
                    : (lazy ? List.of(bin.toString(), "-u", "-z", mp.toString()) : List.of(bin.toString(), "-u", mp.toString()));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes()).trim();
            if (p.waitFor() == 0) {
                return null;
            }
            last = output;
        }
        return last;
    }

    static Path which(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(d, tool);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        for (String d : List.of("/usr/bin", "/bin", "/usr/sbin", "/sbin")) {
            Path p = Path.of(d, tool);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }
}
