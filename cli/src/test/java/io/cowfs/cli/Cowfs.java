package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Test fixture: a throwaway store in a temp directory, the CLI run in-process (as the README's
 * commands run it), and real FUSE mounts that are always unmounted in close().
 */
public final class Cowfs implements AutoCloseable {
    public final Path root;
    public final Path store;
    private final List<Mounted> mounts = new ArrayList<>();

    /** Result of one command. */
    public record Result(int rc, String out, String err) {
        public Result ok() {
            assertEquals(0, rc, () -> "expected success; stdout:\n" + out + "\nstderr:\n" + err);
            return this;
        }

        public Result fails(int expected) {
            assertEquals(expected, rc, () -> "expected exit " + expected + "; stdout:\n" + out + "\nstderr:\n" + err);
            assertFalse(err.isBlank(), "a failure must say why on stderr");
            return this;
        }
    }

    public Cowfs(Path tmp) {
        this.root = tmp;
        this.store = tmp.resolve("store");
        run("init").ok();
    }

    /** Runs a cowfs command against this fixture's store. */
    public Result run(String... args) {
        List<String> a = new ArrayList<>(Arrays.asList(args));
        if (!a.isEmpty()) {
            a.add(1, "--store=" + store);
        }
        return runRaw(a.toArray(new String[0]));
    }

    /** Runs cowfs with exactly these arguments (no --store added). */
    public static Result runRaw(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int rc = Main.commandLine().setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true)).execute(args);
        return new Result(rc, out.toString(), err.toString());
    }

    /** Whether real FUSE mounts work here (probed once: /dev/fuse, fusermount, permission to mount). */
    public static boolean fuseAvailable() {
        return FuseProbe.WHY_NOT == null;
    }

    /** Skips the calling test, saying why, where FUSE mounts cannot work. */
    public static void assumeFuse() {
        Assumptions.assumeTrue(fuseAvailable(), () -> "skipped: " + FuseProbe.WHY_NOT);
    }

    /** A live mount; close() unmounts it (lazily as a last resort) and checks nothing is left. */
    public final class Mounted implements AutoCloseable {
        public final Path dir;
        private boolean closed;

        Mounted(Path dir) {
            this.dir = dir;
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            unmountHard(dir);
        }
    }

    /** Mounts name on a new temp mountpoint with extra options (e.g. "--ro"). */
    public Mounted mount(String name, String... opts) throws IOException {
        Path mp = Files.createTempDirectory(root, "mp-" + name + "-");
        List<String> a = new ArrayList<>(List.of("mount", name, mp.toString()));
        a.addAll(Arrays.asList(opts));
        Result r = run(a.toArray(new String[0]));
        r.ok();
        Mounted m = new Mounted(mp);
        mounts.add(m);
        return m;
    }

    public static boolean isMounted(Path mp) {
        return Fuse.isMounted(mp);
    }

    /** Unmounts with cowfs umount; falls back to a lazy unmount; asserts /proc/mounts is clean. */
    public static void unmountHard(Path mp) {
        if (isMounted(mp)) {
            Result r = runRaw("umount", mp.toString());
            if (r.rc() != 0 && isMounted(mp)) {
                try {
                    Fuse.unmount(mp, true);
                } catch (IOException | InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
        }
        assertFalse(isMounted(mp), "mount left behind at " + mp);
    }

    /** Runs a host command (in dir), returns its output; fails the test on a non-zero exit. */
    public static String sh(Path dir, String script) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("bash", "-c", script).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("timed out: " + script);
        }
        assertEquals(0, p.exitValue(), () -> "command failed: " + script + "\n" + out);
        return out;
    }

    /** Runs a host command and returns exit code + output without asserting. */
    public static Result shRc(Path dir, String script) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("bash", "-c", script).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        p.waitFor(300, TimeUnit.SECONDS);
        return new Result(p.exitValue(), out, out);
    }

    @Override
    public void close() {
        AssertionError first = null;
        for (int i = mounts.size() - 1; i >= 0; i--) {
            try {
                mounts.get(i).close();
            } catch (AssertionError e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
