package io.cowfs.cli;

import io.cowfs.blockstore.store.LmdbLibrary;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The CLI agent (docs/STARTUP.md, "The agent"): one long-lived JVM per user that runs the quick
 * catalog commands, mount and umount a CI runner calls dozens of times a run, so that each call
 * costs the launcher script and a loopback round trip instead of a JVM start (0.4-0.5 s, of which
 * a fork itself is ~10 ms).
 *
 * <p>The launcher (bash) talks to it over TCP on 127.0.0.1, because bash can open a TCP socket
 * ({@code /dev/tcp}) and not a Unix one. Access is by a 256-bit token that only the user can
 * read: the state file {@code ~/.cache/cowfs/agent/state} (0600, in a 0700 directory) holds
 * "PORT TOKEN PID JARSIZE-JARMTIME". A request is text lines:
 * <pre>
 *   cowfs-agent-1 TOKEN JAR             (the caller's jar: the agent's own, unchanged, or it exits)
 *   CWD
 *   N, then N lines NAME=VALUE        (the caller's values of {@link #ENV}; absent ones left out)
 *   M, then M lines                    (the arguments; none may hold a newline)
 * </pre>
 * and the reply is {@code RC OUTLEN ERRLEN\n} followed by that many bytes of standard output and
 * of standard error, or {@code fallback REASON\n} when the agent will not run it. It falls back
 * when the caller's environment differs from its own in a variable a command reads, when its jar
 * is not the caller's or changed since it started (then it exits: it is stale), and for commands outside {@link #SERVED}: the
 * launcher then starts a JVM as before, so a command gives the same output and exit code either
 * way. Relative paths in arguments are resolved against the caller's directory.
 *
 * <p>Threads: one. Requests are served one at a time on the thread that accepts them; each opens
 * and closes the store as the CLI does (LMDB allows one environment per file per process, so two
 * requests on one store must not overlap). A fork takes ~10 ms, so a queue of parallel callers
 * drains quickly. The agent exits after {@code --idle} without a request (0: never; it then runs until
 * {@code cowfs agent stop}, or until a caller runs another build).
 */
public final class Agent {
    /**
     * The commands the agent runs: catalog commands that read no stdin, and mount (which starts
     * the mount process, then returns) and umount. A mount process started by the agent is the
     * agent's child, with the agent's environment: {@link #MOUNT_ENV} must match too.
     */
    static final Set<String> SERVED = Set.of("fork", "list", "show", "snapshot", "rm", "mount", "umount");
    /** The environment variables a served command reads; the caller's must equal the agent's. */
    static final List<String> ENV = List.of("COWFS_STORE", "XDG_DATA_HOME", "XDG_CACHE_HOME", "HOME", "CI", "TZ");
    /** What mount and umount read besides (fusermount is found on PATH; the mount process's options). */
    static final List<String> MOUNT_ENV = List.of("PATH", "COWFS_MOUNT_JAVA_OPTS", "COWFS_FUSE_API", "COWFS_FUSE_DEBUG",
            "COWFS_MOUNT_SPARE");
    static final String PROTOCOL = "cowfs-agent-1";

    private final ServerSocket server;
    private final String token;
    private final String jarKey;
    private final Path state;

    private Agent(ServerSocket server, String token, String jarKey, Path state) {
        this.server = server;
        this.token = token;
        this.jarKey = jarKey;
        this.state = state;
    }

    /** The agent's directory: ~/.cache/cowfs/agent (the launcher's rule), or null without a home. */
    static Path dir() {
        Path c = LmdbLibrary.userCacheDir();
        return c == null ? null : c.resolve("agent");
    }

    /** SIZE-MTIME of the jar this JVM runs from, as the launcher's {@code stat -Lc %s-%Y} prints it. */
    static String jarKey() throws IOException {
        Path jar = jarPath();
        return Files.size(jar) + "-" + Files.getLastModifiedTime(jar).toMillis() / 1000;
    }

    static Path jarPath() throws IOException {
        return Path.of(System.getProperty("java.class.path").split(java.io.File.pathSeparator)[0]).toRealPath();
    }

    /** The state file's fields, or null when there is none (or it cannot be read). */
    record State(int port, String token, long pid, String jarKey) {
        static State read(Path dir) {
            try {
                String[] f = Files.readString(dir.resolve("state")).trim().split(" ");
                return new State(Integer.parseInt(f[0]), f[1], Long.parseLong(f[2]), f[3]);
            } catch (IOException | RuntimeException e) {
                return null;
            }
        }

        /**
         * True if pid is alive and runs the agent. A state file outlives an agent killed with
         * kill -9, and its pid may belong to any process by then (pids wrap at 32,768 on the CI
         * machine kind): stop and start signal only a process whose command line runs this class.
         */
        boolean alive() {
            return agent().isPresent();
        }

        /** The agent's process, if pid is alive and runs the agent (see {@link #alive}). */
        java.util.Optional<ProcessHandle> agent() {
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).filter(Agent::isAgent);
        }
    }

    /** True if process p runs the agent's main class (its command line, from /proc). */
    static boolean isAgent(ProcessHandle p) {
        return p.info().arguments().map(a -> java.util.Arrays.asList(a).contains(Agent.class.getName())).orElse(false);
    }

    /** Runs the agent until it is idle for {@code idle} (args: the idle time in seconds; 0: no idle timeout). */
    public static void main(String[] args) throws Exception {
        Duration idle = Duration.ofSeconds(Long.parseLong(args[0]));
        Path dir = Objects.requireNonNull(dir(), "no home directory for the agent's state");
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        byte[] t = new byte[32];
        new SecureRandom().nextBytes(t);
        warmUp();
        try (ServerSocket ss = new ServerSocket(0, 64, InetAddress.getLoopbackAddress())) {
            Agent a = new Agent(ss, HexFormat.of().formatHex(t), jarKey(), dir.resolve("state"));
            a.publish();
            Runtime.getRuntime().addShutdownHook(new Thread(a::unpublish)); // stop sends SIGTERM
            System.out.println("cowfs agent " + ProcessHandle.current().pid() + " listening on 127.0.0.1:" + ss.getLocalPort());
            System.out.flush();
            try {
                a.serve(idle);
            } finally {
                a.unpublish();
            }
        }
    }

    /**
     * Runs the served commands once on a throwaway store before the agent is published, so that
     * its first caller does not wait for class loading and the JIT (~0.3 s).
     */
    private static void warmUp() throws IOException {
        Path tmp = Files.createTempDirectory("cowfs-agent-");
        try {
            CdsTraining.train(tmp);
        } finally {
            try (java.util.stream.Stream<Path> all = Files.walk(tmp)) {
                all.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** Writes the state file (0600, then renamed into place: a reader sees all of it or none). */
    private void publish() throws IOException {
        Path tmp = state.resolveSibling("state.tmp" + ProcessHandle.current().pid());
        Files.deleteIfExists(tmp);
        Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(tmp, server.getLocalPort() + " " + token + " " + ProcessHandle.current().pid() + " " + jarKey + "\n");
        Files.move(tmp, state, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Removes the state file if it is still this agent's (a newer agent may have replaced it). */
    private void unpublish() {
        State s = State.read(state.getParent());
        if (s != null && s.pid() == ProcessHandle.current().pid()) {
            try {
                Files.deleteIfExists(state);
            } catch (IOException ignored) {
                // the next start replaces it; the launcher checks the pid is alive
            }
        }
    }

    private void serve(Duration idle) throws IOException {
        server.setSoTimeout((int) Math.min(Integer.MAX_VALUE, idle.toMillis())); // 0: accept waits for ever
        while (true) {
            Socket s;
            try {
                s = server.accept();
            } catch (SocketTimeoutException e) {
                System.out.println("cowfs agent: idle for " + idle.toSeconds() + " s, exiting");
                return;
            }
            try (s) {
                s.setSoTimeout(10_000); // a caller that sends half a request does not hold the agent
                if (!handle(new java.io.BufferedInputStream(s.getInputStream()), s.getOutputStream())) {
                    return;
                }
            } catch (IOException | RuntimeException e) {
                System.out.println("cowfs agent: request failed: " + e);
            }
        }
    }

    /** Serves one request; false when the agent should exit (a caller runs another build of cowfs). */
    private boolean handle(InputStream in, OutputStream rawOut) throws IOException {
        OutputStream out = new BufferedOutputStream(rawOut);
        String[] hello = line(in).split(" ");
        if (hello.length != 3 || !PROTOCOL.equals(hello[0])
                || !MessageDigest.isEqual(hello[1].getBytes(StandardCharsets.US_ASCII), token.getBytes(StandardCharsets.US_ASCII))) {
            reply(out, "fallback refused");
            return true;
        }
        if (!sameJar(hello[2])) {
            reply(out, "fallback stale");
            System.out.println("cowfs agent: a caller runs another build of cowfs; exiting");
            return false;
        }
        Path cwd = Path.of(line(in));
        int n = Integer.parseInt(line(in));
        java.util.Map<String, String> env = new java.util.HashMap<>();
        for (int i = 0; i < n; i++) {
            String kv = line(in);
            int eq = kv.indexOf('=');
            env.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        int m = Integer.parseInt(line(in));
        List<String> args = new ArrayList<>();
        for (int i = 0; i < m; i++) {
            args.add(line(in));
        }
        String why = refusal(cwd, env, args);
        if (why != null) {
            System.out.println("cowfs agent: declined " + (args.isEmpty() ? "(nothing)" : args.get(0)) + ": " + why);
            System.out.flush();
            reply(out, "fallback " + why);
            return true;
        }
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        long t0 = System.nanoTime();
        int rc = run(cwd, args.toArray(new String[0]), o, e);
        System.out.printf(java.util.Locale.ROOT, "cowfs agent: ran %s: exit %d in %.1f ms%n", args.get(0), rc, (System.nanoTime() - t0) / 1e6);
        System.out.flush();
        reply(out, rc + " " + o.size() + " " + e.size());
        o.writeTo(out);
        e.writeTo(out);
        out.flush();
        return true;
    }

    /** Whether the caller's jar is this agent's, unchanged since the agent started. */
    private boolean sameJar(String callerJar) {
        try {
            return Path.of(callerJar).toRealPath().equals(jarPath()) && jarKey().equals(jarKey);
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Why the agent will not run this request (the launcher then runs a JVM), or null. */
    static String refusal(Path cwd, java.util.Map<String, String> env, List<String> args) {
        if (args.isEmpty() || !SERVED.contains(args.get(0))) {
            return "not-served";
        }
        if (!cwd.isAbsolute()) {
            return "cwd";
        }
        boolean mounts = args.get(0).equals("mount") || args.get(0).equals("umount");
        for (String name : mounts ? concat(ENV, MOUNT_ENV) : ENV) {
            if (!Objects.equals(env.get(name), System.getenv(name))) {
                return "env-" + name;
            }
        }
        if (args.stream().anyMatch(a -> a.startsWith("--foreground"))) {
            return "foreground"; // it serves the mount until unmounted: the caller's own process does that
        }
        String store = env.get("COWFS_STORE");
        if (store != null && !store.isBlank() && !store.startsWith("/")) {
            return "relative-COWFS_STORE";
        }
        return null;
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** Runs one command as Main would, its output captured, relative paths taken from cwd. */
    static int run(Path cwd, String[] args, OutputStream out, OutputStream err) {
        PrintWriter o = new PrintWriter(new java.io.OutputStreamWriter(out, StandardCharsets.UTF_8), true);
        PrintWriter e = new PrintWriter(new java.io.OutputStreamWriter(err, StandardCharsets.UTF_8), true);
        picocli.CommandLine cl = Main.commandLineFor(args).setOut(o).setErr(e);
        cl.registerConverter(Path.class, s -> cwd.resolve(s));
        int rc;
        try {
            rc = cl.execute(args);
        } catch (RuntimeException | Error ex) { // a handler's own failure: the CLI would die with it
            e.println("cowfs: " + Main.message(ex));
            rc = Main.EXIT_FAILED;
        }
        o.flush();
        e.flush();
        return rc;
    }

    private static void reply(OutputStream out, String head) throws IOException {
        out.write((head + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** One line of UTF-8 (without its newline); a request's lines are short. */
    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int c; (c = in.read()) != '\n'; ) {
            if (c < 0) {
                throw new IOException("the caller closed the connection mid-request");
            }
            if (b.size() > 1 << 20) {
                throw new IOException("a request line over 1 MiB");
            }
            b.write(c);
        }
        return b.toString(StandardCharsets.UTF_8);
    }
}
