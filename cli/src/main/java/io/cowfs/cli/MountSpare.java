package io.cowfs.cli;

import io.cowfs.blockstore.run.UnixSockets;
import io.cowfs.blockstore.store.LmdbLibrary;
import io.cowfs.fusefs.kernel.LibC;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Spare mount processes (docs/STARTUP.md, "Spare mount processes"): a mount process whose mount
 * ended cleanly stays for a while and serves the next {@code cowfs mount} of the same user, build
 * and environment, so that mount pays neither a JVM start nor a cold JIT (a fresh mount process
 * reads its first gigabyte at ~0.95 GB/s and the next at ~1.4, docs/PERFORMANCE.md).
 *
 * <p>A pool of one per key: the key is a hash of everything that makes two mount processes
 * alike (the java binary, its flags and class path with each entry's size and time, the uid, the
 * whole environment), and names the spare's Unix socket {@code ~/.cache/cowfs/mount/KEY.sock}
 * (a 0700 directory; the spare also checks the peer's uid). Only an idle process listens: it
 * holds {@code KEY.lock} while it does, so a second process that finishes a mount then exits.
 * A request is text lines:
 * <pre>
 *   cowfs-spare-1
 *   KEY
 *   LOG                                 (the file its output goes to, as a new process's would)
 *   N, then N lines                     (the arguments of "cowfs mount --foreground ...")
 * </pre>
 * answered {@code ok PID} (the spare runs it; there is no way back) or {@code no REASON} (the
 * caller starts a process as before, as it does when it cannot connect). After {@code ok} the
 * connection stays open until the mount command returns, and the spare then writes
 * {@code exit RC}: a caller that has not seen the mount come up learns from it that it failed
 * (and from end of file that the process died).
 *
 * <p>{@code cowfs umount} waits for a mount's process to exit; a spare does not exit, so it
 * changes its name ({@code /proc/PID/comm}: {@value #IDLE_COMM} when idle, {@code cowfs-mN}
 * while it serves its N-th mount) once everything of the mount is closed, and umount takes a
 * change of name as the end of the mount ({@link UmountCommand#awaitExit}).
 *
 * <p>What a reused process must not carry over, and how it does not: shutdown hooks are removed
 * when their mount ends (MountDaemon, Kernel), the idle trimmer stops with its mount, fds 1 and 2
 * are pointed at the next mount's log (and at /dev/null while idle, so that no file in a store
 * stays open), the working directory is / from the start. A mount that fails, one served by
 * libfuse2, and one ended by SIGTERM end the process as before.
 *
 * <p>Threads: one. The spare's main thread listens, answers and runs each mount command in turn;
 * nothing here is shared.
 */
final class MountSpare {
    static final String PROTOCOL = "cowfs-spare-1";
    /** Set by spawn on the mount process's command line: seconds to stay after a clean umount. */
    static final String SECONDS_PROP = "cowfs.mount.spareSeconds";
    /** Set by spawn: the key the process was started under (see the class comment). */
    static final String KEY_PROP = "cowfs.mount.spareKey";
    static final int DEFAULT_SECONDS = 60;
    static final String IDLE_COMM = "cowfs-idle";
    /**
     * Variables a shell sets per call that nothing in a mount process reads (it runs in /): left
     * out of the key, so that mounts from different directories share a spare.
     */
    static final java.util.Set<String> SHELL_ONLY = java.util.Set.of("PWD", "OLDPWD", "_", "SHLVL");
    /** How long either side waits for the other's line of the handshake. */
    static final long HANDSHAKE_MILLIS = 5_000;

    private MountSpare() {
    }

    /**
     * Seconds a mount process stays after its umount, from $COWFS_MOUNT_SPARE (default
     * {@value #DEFAULT_SECONDS}; 0 turns spares off).
     */
    static int seconds(Map<String, String> env) {
        String v = env.get("COWFS_MOUNT_SPARE");
        if (v == null || v.isBlank()) {
            return DEFAULT_SECONDS;
        }
        try {
            int s = Integer.parseInt(v.trim());
            if (s < 0 || s > 86_400) {
                throw new NumberFormatException();
            }
            return s;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("COWFS_MOUNT_SPARE must be a number of seconds from 0 (no spare mount processes) "
                    + "to 86400, not '" + v + "'");
        }
    }

    /**
     * The key of a mount process started with jvm (the command up to and including the main
     * class) and env; null if it cannot be made (a class path entry unreadable: no spare then).
     */
    static String key(List<String> jvm, Map<String, String> env) {
        Memo m = memo;
        if (m != null && System.nanoTime() - m.at < 5_000_000_000L && m.jvm.equals(jvm) && m.env.equals(env)) {
            return m.key; // Main's guess computed it a moment ago (MountCommand.spareListens)
        }
        String key = computeKey(jvm, env);
        memo = new Memo(List.copyOf(jvm), Map.copyOf(env), key, System.nanoTime());
        return key;
    }

    /**
     * The last key computed, from what and when: reused for 5 s at most (a class path entry's
     * stamp, part of the key, changes with a rebuild; a long-lived agent computes keys too).
     */
    private record Memo(List<String> jvm, Map<String, String> env, String key, long at) {
    }

    private static volatile Memo memo;

    private static String computeKey(List<String> jvm, Map<String, String> env) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            for (String s : jvm) {
                d.update((s + "\0").getBytes(StandardCharsets.UTF_8));
            }
            for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
                d.update((stamp(Path.of(e)) + "\0").getBytes(StandardCharsets.UTF_8));
            }
            d.update(("uid=" + Files.getAttribute(Path.of("/proc/self"), "unix:uid") + "\0").getBytes(StandardCharsets.UTF_8));
            for (Map.Entry<String, String> e : new TreeMap<>(env).entrySet()) {
                if (SHELL_ONLY.contains(e.getKey())) {
                    continue;
                }
                d.update((e.getKey() + "=" + e.getValue() + "\0").getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(d.digest(), 0, 16);
        } catch (IOException | NoSuchAlgorithmException | RuntimeException e) {
            return null;
        }
    }

    /** Size and time of a class path entry; of a directory, its newest file and their count (a rebuild changes it). */
    private static String stamp(Path p) throws IOException {
        if (Files.isRegularFile(p)) {
            return p + ":" + Files.size(p) + ":" + Files.getLastModifiedTime(p).toMillis();
        }
        if (!Files.isDirectory(p)) {
            return p + ":absent";
        }
        long newest = 0;
        long n = 0;
        try (var files = Files.walk(p)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                newest = Math.max(newest, Files.getLastModifiedTime(f).toMillis());
                n++;
            }
        }
        return p + ":" + n + ":" + newest;
    }

    /** The socket (and, beside it, the lock) of the spare for key, or null without a usable place. */
    static Path socket(String key) {
        Path dir = LmdbLibrary.userCacheDir();
        if (key == null || dir == null) {
            return null;
        }
        Path s = dir.resolve("mount").resolve(key + ".sock");
        return s; // any length: UnixSockets reaches a long one through its directory's descriptor
    }

    // ---- the caller's side (cowfs mount) ----

    /** A mount handed to a spare. */
    static final class Handed implements AutoCloseable {
        final long pid;
        private final SocketChannel ch;
        private final StringBuilder line = new StringBuilder();
        private final ByteBuffer buf = ByteBuffer.allocate(256);

        private Handed(long pid, SocketChannel ch) throws IOException {
            this.pid = pid;
            this.ch = ch;
            ch.configureBlocking(false);
        }

        /**
         * The mount command's exit code once the spare has sent it, -1 if the connection ended
         * without one (the process died), else null (still running). Does not block.
         */
        Integer exited() {
            try {
                buf.clear();
                int n = ch.read(buf);
                if (n < 0) {
                    return parseExit(line.toString());
                }
                line.append(new String(buf.array(), 0, n, StandardCharsets.UTF_8));
                return line.indexOf("\n") >= 0 ? parseExit(line.toString()) : null;
            } catch (IOException e) {
                return -1;
            }
        }

        private static int parseExit(String s) {
            String l = s.strip();
            try {
                return l.startsWith("exit ") ? Integer.parseInt(l.substring(5).trim()) : -1;
            } catch (NumberFormatException e) {
                return -1;
            }
        }

        @Override
        public void close() {
            try {
                ch.close();
            } catch (IOException e) {
                // nothing to do
            }
        }
    }

    /**
     * Hands "cowfs mount" with args (which start with "mount" and hold "--foreground") to the
     * spare for key, its output to go to log. Null if there is none, it refuses, or anything
     * fails before it took the mount: the caller then starts a process.
     */
    static Handed handOver(String key, List<String> args, Path log) {
        return handOver(socket(key), key, args, log);
    }

    /** {@link #handOver(String, List, Path)} to the spare listening at sock. */
    static Handed handOver(Path sock, String key, List<String> args, Path log) {
        if (sock == null || !Files.exists(sock)) {
            return null;
        }
        SocketChannel ch = null;
        try {
            ch = UnixSockets.at(sock, SocketChannel::open);
            StringBuilder req = new StringBuilder(PROTOCOL).append('\n').append(key).append('\n').append(log).append('\n');
            req.append(args.size()).append('\n');
            for (String a : args) {
                if (a.indexOf('\n') >= 0) {
                    return null; // not sayable in this protocol: a process of its own (ch closed below)
                }
                req.append(a).append('\n');
            }
            ByteBuffer out = ByteBuffer.wrap(req.toString().getBytes(StandardCharsets.UTF_8));
            while (out.hasRemaining()) {
                ch.write(out);
            }
            String answer = readLine(ch, HANDSHAKE_MILLIS);
            if (answer != null && answer.startsWith("ok ")) {
                Handed h = new Handed(Long.parseLong(answer.substring(3).trim()), ch);
                ch = null;
                return h;
            }
            return null;
        } catch (IOException | RuntimeException e) {
            return null;
        } finally {
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException e) {
                    // nothing to do
                }
            }
        }
    }

    /** One line from ch (without its newline), or null at end of file or after timeoutMs. */
    private static String readLine(SocketChannel ch, long timeoutMs) throws IOException {
        ch.configureBlocking(false);
        ByteBuffer one = ByteBuffer.allocate(1);
        java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        try (Selector sel = Selector.open()) {
            ch.register(sel, SelectionKey.OP_READ);
            while (true) {
                one.clear();
                int n = ch.read(one);
                if (n < 0) {
                    return null;
                }
                if (n == 0) {
                    long left = (deadline - System.nanoTime()) / 1_000_000;
                    if (left <= 0) {
                        return null;
                    }
                    sel.select(left);
                    sel.selectedKeys().clear();
                    continue;
                }
                if (one.get(0) == '\n') {
                    return line.toString(StandardCharsets.UTF_8);
                }
                line.write(one.get(0));
                if (line.size() > 1 << 16) {
                    return null;
                }
            }
        }
    }

    // ---- the spare's side (the mount process) ----

    /**
     * Whether this process, whose mount command args just returned rc, may wait for another
     * mount: it was started by cowfs mount as a candidate, the mount ended cleanly through the
     * kernel adapter, and the JVM is not shutting down (SIGTERM).
     */
    static boolean mayStay(String[] args, int rc) {
        if (rc != 0 || System.getProperty(SECONDS_PROP) == null || System.getProperty(KEY_PROP) == null
                || args.length == 0 || !args[0].equals("mount")) {
            return false;
        }
        if (!"kernel".equals(io.cowfs.fusefs.fuse.MountSession.lastAdapter())) {
            return false;
        }
        Thread probe = new Thread(() -> { });
        try {
            Runtime.getRuntime().addShutdownHook(probe);
            Runtime.getRuntime().removeShutdownHook(probe);
            return true;
        } catch (IllegalStateException e) {
            return false; // shutting down
        }
    }

    /**
     * Stays as the spare until no mount comes within the idle time, serving each one that does;
     * returns the exit code of the process (that of a mount command that failed, else 0).
     */
    static int stay() {
        String key = System.getProperty(KEY_PROP);
        long idleMillis;
        try {
            idleMillis = Long.parseLong(System.getProperty(SECONDS_PROP)) * 1000;
        } catch (NumberFormatException e) {
            return 0;
        }
        Path sock = socket(key);
        if (sock == null || idleMillis <= 0) {
            return 0;
        }
        for (int n = 2; ; n++) {
            System.out.flush();
            System.err.flush();
            if (!redirect("/dev/null")) {
                return 0;
            }
            io.cowfs.fusefs.mount.JavaHeap.shrink(); // the last mount's heap and direct buffers back before waiting
            io.cowfs.fusefs.mount.NativeHeap.trim(); // and the C heap's free pages
            if (!setComm(IDLE_COMM)) {
                return 0; // umount could not tell that the mount ended: be a plain process
            }
            Request r;
            try {
                r = await(key, sock, idleMillis);
            } catch (IOException | RuntimeException e) {
                return 0;
            }
            if (r == null) {
                return 0;
            }
            int rc;
            try (r) {
                if (!redirect(r.log) || !setComm("cowfs-m" + n)) {
                    r.answer("exit 1");
                    return 1;
                }
                // a handle on the mountpoint while it serves: how umount finds this process without
                // the store (its command line names its first mount; UmountCommand.daemonPid)
                int mpFd = holdMountpoint(r.args[r.args.length - 1]);
                try {
                    rc = Main.commandLineFor(r.args).execute(r.args);
                } finally {
                    letGo(mpFd);
                }
                System.out.flush();
                System.err.flush();
                r.answer("exit " + rc);
            }
            if (!mayStay(r.args(), rc)) {
                return rc;
            }
        }
    }

    /**
     * A handle (O_PATH) on mountpoint, held while a process serves a mount its command line does
     * not name as it is: how umount finds it without the store (UmountCommand.daemonPid). -1 if it
     * cannot be had (umount then finds the process through the store's registry only).
     */
    static int holdMountpoint(String mountpoint) {
        return LibC.get().open(mountpoint, LibC.O_PATH | LibC.O_DIRECTORY | LibC.O_CLOEXEC);
    }

    /** Closes a handle holdMountpoint gave (nothing for -1). */
    static void letGo(int fd) {
        if (fd >= 0) {
            LibC.get().close(fd);
        }
    }

    /** A mount the spare took: its arguments, its log, and the connection that hears its exit code. */
    private record Request(String[] args, String log, SocketChannel ch) implements AutoCloseable {
        void answer(String line) {
            try {
                ch.configureBlocking(true);
                ch.write(ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8)));
            } catch (IOException e) {
                // the caller is gone (it saw the mount come up): nothing to tell
            }
        }

        @Override
        public void close() {
            try {
                ch.close();
            } catch (IOException e) {
                // nothing to do
            }
        }
    }

    /** Listens at sock for up to idleMillis; the first acceptable request, or null (time up, or another spare listens). */
    private static Request await(String key, Path sock, long idleMillis) throws IOException {
        Path dir = sock.getParent();
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        Path lockFile = dir.resolve(key + ".lock");
        try (FileChannel lockCh = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            FileLock lock = lockCh.tryLock();
            if (lock == null) {
                return null; // a spare of this key waits already: a pool of one
            }
            Files.deleteIfExists(sock); // left by a spare that was killed
            long deadline = System.nanoTime() + idleMillis * 1_000_000;
            try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                    Selector sel = Selector.open()) {
                UnixSockets.at(sock, server::bind);
                server.configureBlocking(false);
                server.register(sel, SelectionKey.OP_ACCEPT);
                try {
                    while (true) {
                        long left = (deadline - System.nanoTime()) / 1_000_000;
                        if (left <= 0) {
                            return null;
                        }
                        sel.select(left);
                        sel.selectedKeys().clear();
                        SocketChannel c = server.accept();
                        if (c == null) {
                            continue;
                        }
                        Request r = take(c, key);
                        if (r != null) {
                            return r;
                        }
                    }
                } finally {
                    Files.deleteIfExists(sock); // before the lock goes: the next spare binds its own
                }
            }
        }
    }

    /** Reads a request from c and answers it; the request if taken, else null (c closed). */
    private static Request take(SocketChannel c, String key) {
        try {
            String why = null;
            Object peer = c.getOption(jdk.net.ExtendedSocketOptions.SO_PEERCRED);
            if (!(peer instanceof jdk.net.UnixDomainPrincipal p)
                    || !p.user().getName().equals(Files.getOwner(Path.of("/proc/self")).getName())) {
                why = "another user";
            }
            String proto = readLine(c, HANDSHAKE_MILLIS);
            String theirKey = readLine(c, HANDSHAKE_MILLIS);
            String log = readLine(c, HANDSHAKE_MILLIS);
            String count = readLine(c, HANDSHAKE_MILLIS);
            List<String> args = new ArrayList<>();
            int n = count == null ? -1 : Integer.parseInt(count.trim());
            for (int i = 0; i < n && i < 1000; i++) {
                String a = readLine(c, HANDSHAKE_MILLIS);
                if (a == null) {
                    break;
                }
                args.add(a);
            }
            if (why == null && !PROTOCOL.equals(proto)) {
                why = "protocol";
            } else if (why == null && !key.equals(theirKey)) {
                why = "key";
            } else if (why == null && (n < 0 || args.size() != n || args.isEmpty() || !args.get(0).equals("mount")
                    || !args.contains("--foreground") || log == null || !log.startsWith("/"))) {
                why = "request";
            }
            Request r = new Request(args.toArray(new String[0]), log, c);
            if (why != null) {
                r.answer("no " + why);
                r.close();
                return null;
            }
            r.answer("ok " + ProcessHandle.current().pid());
            return r;
        } catch (IOException | RuntimeException e) {
            try {
                c.close();
            } catch (IOException ex) {
                // nothing to do
            }
            return null;
        }
    }

    /** Points fds 1 and 2 at path (appended to, which exists: cowfs mount creates the log with the store's mode). */
    private static boolean redirect(String path) {
        LibC c = LibC.get();
        int fd = c.open(path, LibC.O_WRONLY | LibC.O_APPEND | LibC.O_CLOEXEC);
        if (fd < 0) {
            return false;
        }
        try {
            return c.dup2(fd, 1) == 1 && c.dup2(fd, 2) == 2;
        } finally {
            c.close(fd);
        }
    }

    /** Sets this process's name (what ps and /proc/PID/stat show); true if it took. */
    static boolean setComm(String name) {
        Path comm = Path.of("/proc/self/comm");
        try {
            Files.writeString(comm, name);
            return Files.readString(comm).strip().equals(name);
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
