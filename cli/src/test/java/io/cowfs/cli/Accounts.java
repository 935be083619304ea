package io.cowfs.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * Test fixture for tests that need other users (docs/SECURITY.md): real unprivileged accounts
 * and groups made with useradd/groupadd and removed in close(), commands run as them with
 * runuser, a class path they can read (the test JVM's own lies under /root/.m2), and /dev/fuse
 * opened to everyone (0666, as udev makes it on ordinary systems) for as long as some test of any
 * test JVM needs it, then restored.
 */
final class Accounts implements AutoCloseable {
    /** A directory every account can enter (mode 0755); stores and mountpoints of these tests live under it. */
    final Path base;
    private final List<String> users = new ArrayList<>();
    private final List<String> groups = new ArrayList<>();

    /** An account: name, numeric uid, home directory (its own, 0700). */
    record Account(String name, int uid, Path home) {
    }

    private Accounts(Path base) {
        this.base = base;
    }

    /** Skips the calling test, saying why, where accounts cannot be made (not root, no useradd). */
    static Accounts open() throws IOException, InterruptedException {
        Assumptions.assumeTrue(isRoot(), "skipped: making test accounts needs root");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/sbin/useradd")) && Files.isExecutable(Path.of("/usr/sbin/runuser")),
                "skipped: useradd/runuser missing");
        Path base = Files.createTempDirectory("cowfs-accounts-");
        Files.setAttribute(base, "unix:mode", 0755);
        return new Accounts(base);
    }

    static boolean isRoot() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0;
        } catch (IOException e) {
            return false;
        }
    }

    private static String name(String prefix) {
        return prefix + Long.toString(ThreadLocalRandom.current().nextLong(36L * 36 * 36 * 36 * 36), 36);
    }

    /** A new group; removed in close(). */
    String group() throws IOException, InterruptedException {
        String g = name("cwg");
        root("groupadd", g).ok();
        groups.add(g);
        return g;
    }

    /** A new account with a private home under {@link #base}, in the given extra groups; removed in close(). */
    Account user(String... extraGroups) throws IOException, InterruptedException {
        String n = name("cwu");
        Path home = base.resolve(n);
        List<String> cmd = new ArrayList<>(List.of("useradd", "-m", "-d", home.toString(), "-s", "/bin/sh"));
        if (extraGroups.length > 0) {
            cmd.addAll(List.of("-G", String.join(",", extraGroups)));
        }
        cmd.add(n);
        Cowfs.Result r = root(cmd.toArray(new String[0]));
        Assumptions.assumeTrue(r.rc() == 0, () -> "skipped: useradd failed: " + r.out());
        users.add(n);
        Files.setAttribute(home, "unix:mode", 0700);
        int uid = Integer.parseInt(root("id", "-u", n).ok().out().strip());
        return new Account(n, uid, home);
    }

    /** Runs a command as root (this JVM) and returns exit code and output. */
    static Cowfs.Result root(String... cmd) throws IOException, InterruptedException {
        return exec(new ProcessBuilder(cmd), 120);
    }

    /**
     * Runs a shell script as account a, in its home, with a clean environment (HOME set, no
     * COWFS_STORE or XDG_DATA_HOME: the default store is ~/.local/share/cowfs). The script may call
     * {@code $COWFS ...} to run the CLI.
     */
    Cowfs.Result as(Account a, String script) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("/usr/sbin/runuser", "-u", a.name(), "--", "/usr/bin/env", "-i",
                "HOME=" + a.home(), "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL=C.UTF-8",
                "COWFS=" + String.join(" ", cowfsCommand()), "/bin/sh", "-c", script);
        pb.directory(a.home().toFile());
        return exec(pb, 180);
    }

    private static Cowfs.Result exec(ProcessBuilder pb, int seconds) throws IOException, InterruptedException {
        Path out = Files.createTempFile("cowfs-acct-out", ".txt");
        try {
            Process p = pb.redirectErrorStream(true).redirectOutput(out.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                String s = Files.readString(out);
                return new Cowfs.Result(124, s, s);
            }
            String s = Files.readString(out);
            return new Cowfs.Result(p.exitValue(), s, s);
        } finally {
            Files.deleteIfExists(out);
        }
    }

    // ------------------------------------------------------------------ a class path others can read

    private static List<String> command;

    /** java + the CLI on a class path copied where every account can read it (once per JVM). */
    static synchronized List<String> cowfsCommand() throws IOException {
        if (command == null) {
            Path dir = Files.createTempDirectory("cowfs-cp-");
            Files.setAttribute(dir, "unix:mode", 0755);
            List<String> cp = new ArrayList<>();
            int i = 0;
            for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
                Path src = Path.of(e);
                if (!Files.exists(src)) {
                    continue;
                }
                Path dst = dir.resolve((i++) + "-" + src.getFileName());
                copyReadable(src, dst);
                cp.add(dst.toString());
            }
            List<String> c = new ArrayList<>();
            c.add(ProcessHandle.current().info().command().orElse("java"));
            c.add("--add-opens=java.base/java.nio=ALL-UNNAMED");
            c.add("--add-opens=java.base/sun.nio.ch=ALL-UNNAMED");
            c.add("-XX:TieredStopAtLevel=1");
            c.add("-cp");
            c.add(String.join(":", cp));
            c.add(Main.class.getName());
            command = List.copyOf(c);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir)));
        }
        return command;
    }

    private static void copyReadable(Path src, Path dst) throws IOException {
        try (Stream<Path> all = Files.walk(src)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                Path t = dst.resolve(src.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                    Files.setAttribute(t, "unix:mode", 0755);
                } else {
                    Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
                    Files.setAttribute(t, "unix:mode", 0644);
                }
            }
        }
    }

    static void deleteTree(Path p) {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> all = Files.walk(p)) {
            for (Path f : (Iterable<Path>) all.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            // a temp leftover
        }
    }

    // ------------------------------------------------------------------ /dev/fuse for everyone

    private static final Path DEV_FUSE = Path.of("/dev/fuse");
    /** Held (exclusively) by the one test JVM that has changed /dev/fuse's mode; holds the original mode. */
    private static final Path MODE_LOCK = Path.of("/tmp/cowfs-test-devfuse.lock");
    private static int devFuseUsers; // guarded by Accounts.class
    private static FileChannel lockChannel; // guarded by Accounts.class
    private static FileLock lock; // guarded by Accounts.class
    private static int original; // guarded by Accounts.class

    /**
     * Makes /dev/fuse usable by every account until {@link #releaseDevFuse} has been called as
     * often as this. JVM-wide reference count; across test JVMs a file lock, which also records
     * the original mode (so a JVM that died holding it does not make 0666 the mode to restore).
     */
    static synchronized void openDevFuse() throws IOException {
        if (devFuseUsers++ > 0) {
            return;
        }
        try {
            lockChannel = FileChannel.open(MODE_LOCK, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            lock = lockChannel.lock();
            String recorded = new String(Files.readAllBytes(MODE_LOCK), StandardCharsets.US_ASCII).strip();
            int now = (Integer) Files.getAttribute(DEV_FUSE, "unix:mode") & 07777;
            original = recorded.isEmpty() ? now : Integer.parseInt(recorded, 8); // non-empty: a dead JVM's change
            lockChannel.truncate(0);
            lockChannel.write(java.nio.ByteBuffer.wrap(Integer.toOctalString(original).getBytes(StandardCharsets.US_ASCII)), 0);
            lockChannel.force(true);
            Files.setAttribute(DEV_FUSE, "unix:mode", 0666);
        } catch (IOException | RuntimeException e) {
            devFuseUsers--;
            throw e;
        }
    }

    static synchronized void releaseDevFuse() {
        if (--devFuseUsers > 0) {
            return;
        }
        try {
            Files.setAttribute(DEV_FUSE, "unix:mode", original);
            lockChannel.truncate(0);
            lockChannel.force(true);
            lock.release();
            lockChannel.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot restore the mode of /dev/fuse to " + Integer.toOctalString(original), e);
        }
    }

    /** Removes every account and group made here, and the base directory. */
    @Override
    public void close() throws IOException, InterruptedException {
        for (String u : users) {
            root("userdel", "-f", u);
        }
        for (String g : groups) {
            root("groupdel", g);
        }
        deleteTree(base);
    }
}
