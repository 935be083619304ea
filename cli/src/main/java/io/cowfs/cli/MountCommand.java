package io.cowfs.cli;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.fusefs.fuse.MountAccess;
import io.cowfs.fusefs.fuse.MountSession;
import io.cowfs.fusefs.kernel.MountPoints;
import io.cowfs.blockstore.run.MountRecord;
import io.cowfs.blockstore.run.MountRegistry;
import io.cowfs.fusefs.mount.MountDaemon;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "mount", mixinStandardHelpOptions = true,
        description = {"Mount a snapshot (read-only) or a view (read-write) with FUSE.",
                "Returns once the mount answers; the mount runs in its own background process",
                "(log: STORE/run/NAME.log) until 'cowfs umount MOUNTPOINT'."})
final class MountCommand extends Base {
    /**
     * JVM flags of a mount process: a heap that starts small, grows by 40 % free at a time (with 20, a
     * first walk of a million files spent ~25 full GCs growing it), shrinks to a fifth free when idle
     * (JavaHeap.shrink; at once, not in steps: in steps one idle GC gave back a tenth), at most 1 GiB
     * (384 MiB before 2026-12-06: the kernel's references to a million nodes take ~64 MiB of it,
     * and a view's changes are mirrored in it; an unused maximum costs nothing), C1 only (SHA-256 is
     * libcrypto's, so C2 buys a fresh mount nothing but compile time; docs/DESIGN-DECISIONS.md, 3
     * and 13). COWFS_MOUNT_JAVA_OPTS comes after these, so -XX:TieredStopAtLevel=4 there restores C2.
     */
    static final List<String> DAEMON_JVM = List.of("-XX:+UseSerialGC", "-Xms4m", "-Xmx1g", "-Xss256k",
            "-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=2", "-XX:ReservedCodeCacheSize=32m",
            "-XX:MaxHeapFreeRatio=70", "-XX:MinHeapFreeRatio=40", "-XX:-ShrinkHeapInSteps", "-XX:MaxMetaspaceSize=96m",
            "-Dcowfs.cacheBytes=" + (16L << 20), "-Dfile.encoding=UTF-8", "-Dsun.jnu.encoding=UTF-8",
            "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED");

    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = StoreNames.class, description = "snapshot or view")
    String name;

    @Parameters(index = "1", paramLabel = "MOUNTPOINT", description = "an existing empty directory")
    Path mountpoint;

    @Option(names = "--ro", description = "mount read-only (always so for snapshots)")
    boolean ro;

    @Option(names = "--rw", description = "require a writable mount (an error for snapshots: fork them)")
    boolean rw;

    @Option(names = "--allow-other", description = "let other users (and containers) use the mount; non-root users need user_allow_other in /etc/fuse.conf")
    boolean allowOther;

    @Option(names = "--suid", description = "honour set-user-ID and set-group-ID bits and file capabilities (a root "
            + "filesystem for chroot or a container); root only. Mount only trees you trust with it")
    boolean suid;

    @Option(names = "--dev", description = "let device nodes in the mount open their devices (debootstrap, chroot); root only")
    boolean dev;

    @Option(names = "--foreground", description = "serve the mount in this process until it is unmounted")
    boolean foreground;

    @Option(names = "--fuse-api", paramLabel = "API", description = {"kernel: speak the kernel's FUSE protocol "
            + "(one kernel inode per file, READDIRPLUS, writeback cache; the default), or libfuse2: jnr-fuse over "
            + "libfuse 2's path API (the portable fallback). Default: $COWFS_FUSE_API, else kernel."})
    String fuseApi = System.getenv().getOrDefault("COWFS_FUSE_API", "kernel");

    @Override
    public Integer call() throws Exception {
        if (ro && rw) {
            throw new IllegalArgumentException("--ro and --rw contradict each other");
        }
        Path mp = mountpoint.toAbsolutePath().normalize();
        if (!fuseApi.equals("kernel") && !fuseApi.equals("libfuse2")) {
            throw new IllegalArgumentException("unknown --fuse-api '" + fuseApi + "' (use kernel or libfuse2)");
        }
        if (fuseApi.equals("libfuse2")) {
            Fuse.requireLibfuse();
        }
        MountAccess access = new MountAccess(allowOther, suid, dev);
        String problem = io.cowfs.fusefs.kernel.Kernel.accessProblem(access);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        CatalogEntry e;
        // the mount process (foreground) serves with the store it checked with: one open, not two
        Store store = storeOptions.openToRead();
        boolean servedBy = false;
        try {
            e = new Catalog(store).get(name);
            if (store.readOnly() && rw) {
                store.requireWritable("'cowfs mount --rw'");
            }
            if (store.readOnly() && e.isView() && !ro && !foreground) {
                err().println("cowfs: warning: the store " + store.dir() + " is on a read-only filesystem; mounting view '" + name
                        + "' read-only");
            }
            if (!e.isView() && rw) {
                throw new StoreException.InvalidRequestException("'" + name + "' is a snapshot and stays read-only; "
                        + "fork it to write: cowfs fork " + name + " --name NEW");
            }
            refuseFuseMountAt(store, mp);
            MountSession.checkMountpoint(mp);
            if (store.index().damage() != null && e.isView() && !ro && !foreground) {
                err().println("cowfs: warning: " + store.index().damage() + "; mounting view '" + name
                        + "' read-only (run 'cowfs fsck --repair' to rebuild the index)");
            }
            if (e.isView() && !foreground) {
                MountRecord m = MountRegistry.of(store).find(e.viewId());
                if (m != null) {
                    throw new StoreException.BusyException("view '" + name + "' is already mounted at " + m.mountpoint()
                            + " (pid " + m.pid() + "); unmount it first (cowfs umount) or fork it");
                }
            }
            if (foreground) {
                servedBy = true;
                return serve(store, e, mp, access, null);
            }
            if (LauncherHandshake.readyFd() >= 0) {
                Launch l = launch(mp);
                // started by the launcher: a spare takes the mount, else this JVM serves it (LauncherHandshake)
                Integer rc = handToSpare(l, mp, prepareLog(l));
                if (rc != null) {
                    return rc;
                }
                LauncherHandshake h = LauncherHandshake.prepare(l.log); // can fail: before the store is the mount's
                servedBy = true;
                return serveForLauncher(store, e, mp, access, l, h);
            }
        } finally {
            if (!servedBy) {
                store.close();
            }
        }
        return spawn(launch(mp), mp);
    }

    /**
     * Serves e here for the launcher (LauncherHandshake): as a mount process the launch would have
     * started, under its spare key, named {@code cowfs-m1} and holding a handle on mp while it
     * serves (how umount finds it without the store, UmountCommand.daemonPid). Gives up after 60 s
     * without the mount answering, as cowfs mount gives up on a process it started. handshake:
     * prepared by the caller before the store became the mount's (a failure there closes it as any
     * failed command does), closed here.
     */
    private int serveForLauncher(Store store, CatalogEntry e, Path mp, MountAccess access, Launch l, LauncherHandshake handshake) throws Exception {
        // a command that bound its libraries by reflection (it expected a spare, which then did not
        // take the mount: Main.bindsByReflection) serves this mount, but does not stay to serve more
        if (l.m.key != null && !"false".equals(System.getProperty("jnr.ffi.asm.enabled"))) {
            System.setProperty(MountSpare.SECONDS_PROP, Integer.toString(l.m.spareSeconds));
            System.setProperty(MountSpare.KEY_PROP, l.m.key);
        }
        java.util.concurrent.CountDownLatch up = new java.util.concurrent.CountDownLatch(1);
        Thread watchdog = new Thread(() -> {
            try {
                if (!up.await(60, java.util.concurrent.TimeUnit.SECONDS)) {
                    System.err.println("cowfs: the mount did not come up within 60 s");
                    System.exit(Main.EXIT_FAILED); // the shutdown hooks unmount whatever came up
                }
            } catch (InterruptedException ex) {
                // the mount ended first
            }
        }, "cowfs-mount-watchdog");
        watchdog.setDaemon(true);
        int mpFd = -1;
        try (LauncherHandshake h = handshake) {
            try {
                watchdog.start();
                MountSpare.setComm("cowfs-m1");
                mpFd = MountSpare.holdMountpoint(mp.toString());
                return serve(store, e, mp, access, () -> {
                    h.detach();
                    up.countDown();
                });
            } catch (Exception ex) {
                // what the mount said before it failed (the kernel adapter's reason, say) tells whether FUSE is out of reach
                String hint = containerHint(h.said() + "\n" + (ex.getMessage() == null ? "" : ex.getMessage()));
                if (hint.isEmpty()) {
                    throw ex;
                }
                throw failed(Main.exitCode(ex), Main.message(ex) + hint);
            }
        } finally {
            up.countDown();
            watchdog.interrupt();
            MountSpare.letGo(mpFd);
        }
    }

    /** What is done once the mount answers, before it serves (LauncherHandshake.detach). */
    @FunctionalInterface
    private interface OnMounted {
        void run();
    }

    /**
     * Refuses a mountpoint where a FUSE filesystem is mounted: a mount there would hide it and
     * leave its process serving nothing reachable, and the next umount would meet the hidden one.
     * (A cowfs mount whose root is empty passes checkMountpoint's emptiness test.) A directory on
     * which a kernel filesystem such as a tmpfs is mounted is an ordinary mountpoint.
     */
    static void refuseFuseMountAt(Store store, Path mp) {
        List<MountPoints.Mount> table = MountPoints.table();
        MountPoints.Mount there = MountPoints.at(table, MountPoints.realPath(mp));
        if (there == null || !there.fsType().startsWith("fuse")) {
            return;
        }
        String what = there.fsType() + " (" + there.source() + (MountPoints.device(mp) == -1 ? ", not answering: dead?)" : ")");
        for (MountRecord r : MountRegistry.of(store).live().values()) {
            MountPoints.Mount m = MountPoints.at(table, MountPoints.realPath(Path.of(r.mountpoint())));
            if (m != null && m.device().equals(there.device())) { // that mount, or a bind of it
                what = (r.viewId() > 0 ? "view '" : "snapshot '") + r.name() + "' (pid " + r.pid() + ")";
                break;
            }
        }
        throw new StoreException.BusyException(mp + " is already a mountpoint of " + what + "; unmount it first (cowfs umount " + mp
                + ") or mount on another directory");
    }

    /**
     * Serves e from store (which MountDaemon owns from here: closed when the mount ends); then,
     * once the mount answers, says so and runs then (null: nothing).
     */
    private int serve(Store store, CatalogEntry e, Path mp, MountAccess access, OnMounted then) throws Exception {
        String slow = io.cowfs.blockstore.store.Sha256.fallbackWarning();
        if (slow != null && then != null) {
            System.err.println(slow); // to the caller, and into the mount's log once it detaches (LauncherHandshake)
        } else if (slow != null) {
            err().println(slow); // into the mount's log; cowfs mount passes "cowfs: " lines on to its caller
        }
        MountDaemon.serve(store, e, mp, ro, access, fuseApi, readOnly -> {
            String line = "mounted " + (e.isView() ? "view" : "snapshot") + " '" + name + "' at " + mp + (readOnly ? " (read-only)" : "");
            out().println(line);
            out().flush();
            if (then != null) {
                then.run();
                out().println(line); // the log says it too, as a started process's does
                out().flush();
            }
        });
        return 0;
    }

    /** How a mount process for this command is started: its log, JVM, arguments, environment and spare key. */
    private record Launch(Path storeDir, Path log, MountJvm m, List<String> args) {
    }

    private Launch launch(Path mp) throws IOException {
        Path storeDir = storeOptions.storeDir();
        Path log = io.cowfs.blockstore.store.StoreAccess.onReadOnlyFilesystem(storeDir) ? readOnlyStoreLog(storeDir)
                : storeDir.resolve("run").resolve(name + ".log");
        MountJvm m = mountJvm(fuseApi);
        List<String> args = new ArrayList<>(List.of("mount", "--foreground", "--store=" + storeDir));
        if (ro) {
            args.add("--ro");
        }
        if (rw) {
            args.add("--rw");
        }
        if (allowOther) {
            args.add("--allow-other");
        }
        if (suid) {
            args.add("--suid");
        }
        if (dev) {
            args.add("--dev");
        }
        args.add("--fuse-api=" + fuseApi);
        args.add(name);
        args.add(mp.toString());

        return new Launch(storeDir, log, m, args);
    }

    /**
     * A mount process's JVM (the command up to and including the main class), environment, and
     * spare seconds and key (0 and null: no spare) for fuseApi.
     */
    private record MountJvm(List<String> jvm, java.util.Map<String, String> env, int spareSeconds, String key) {
    }

    private static MountJvm mountJvm(String fuseApi) {
        List<String> jvm = new ArrayList<>();
        jvm.add(ProcessHandle.current().info().command().orElse("java"));
        jvm.addAll(DAEMON_JVM);
        String cds = System.getenv("COWFS_CDS_ARCHIVE"); // the launcher's class-data-sharing archive (docs/STARTUP.md)
        if (cds != null && Files.isReadable(Path.of(cds))) {
            jvm.addAll(List.of("-Xshare:auto", "-XX:SharedArchiveFile=" + cds, "-Xlog:disable", "-Xlog:all=warning:stderr"));
        }
        String extra = System.getenv("COWFS_MOUNT_JAVA_OPTS"); // e.g. -Dcowfs.fuse.workers=4 (docs/CONFIG.md)
        boolean extraOpts = extra != null && !extra.isBlank();
        if (extraOpts) {
            jvm.addAll(List.of(extra.trim().split("\\s+")));
        }
        jvm.add("-cp");
        jvm.add(System.getProperty("java.class.path"));
        jvm.add(Main.class.getName());
        java.util.Map<String, String> env = new java.util.HashMap<>(System.getenv());
        env.put("MALLOC_ARENA_MAX", "1"); // libfuse threads would each get a 64 MiB malloc arena
        env.put("LC_ALL", "C.UTF-8"); // file names are UTF-8 whatever the caller's locale
        // spare mount processes (MountSpare, docs/STARTUP.md): not with extra JVM options (tests
        // inject faults through them) nor for libfuse2 (a process that served it ends)
        int spareSeconds = extraOpts || !fuseApi.equals("kernel") ? 0 : MountSpare.seconds(env);
        String key = spareSeconds > 0 ? MountSpare.key(jvm, env) : null;
        return new MountJvm(jvm, env, spareSeconds, key);
    }

    /**
     * Whether a spare mount process listens for the mount these arguments ask for (the
     * launcher's cowfs mount, as Main starts): such a command is the spare's client, and binds
     * its libraries as any command does, not as a mount process (Main.bindsByReflection). A
     * guess: a spare may refuse, and the command then serves the mount with reflective bindings
     * (slower calls, nothing else).
     */
    static boolean spareListens(String[] args) {
        String api = System.getenv().getOrDefault("COWFS_FUSE_API", "kernel");
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--fuse-api") && i + 1 < args.length) {
                api = args[i + 1];
            } else if (args[i].startsWith("--fuse-api=")) {
                api = args[i].substring("--fuse-api=".length());
            }
        }
        try {
            String key = mountJvm(api).key;
            Path sock = MountSpare.socket(key);
            return sock != null && Files.exists(sock);
        } catch (RuntimeException e) {
            return false; // COWFS_MOUNT_SPARE unreadable: the command says so
        }
    }

    /** The log made with the store's mode before a JVM opens it (it would make it 0666 less the umask); its size. */
    private static long prepareLog(Launch l) throws IOException {
        Store.accessOf(l.storeDir).open(l.log, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND).close();
        return Files.size(l.log);
    }

    /**
     * The mount handed to the spare of l's key: its exit code once up or failed; null if no spare
     * took it. logStart: the log's size before (prepareLog), from where awaitMounted reads it.
     */
    private Integer handToSpare(Launch l, Path mp, long logStart) throws IOException, InterruptedException {
        Path sock = MountSpare.socket(l.m.key);
        if (sock == null || !Files.exists(sock)) {
            return null;
        }
        MountSpare.Handed h = MountSpare.handOver(l.m.key, l.args, l.log);
        if (h == null) {
            return null;
        }
        try (h) {
            return awaitMounted(mp, l.log, logStart, h::exited, () -> ProcessHandle.of(h.pid).ifPresent(ProcessHandle::destroy));
        }
    }

    private int spawn(Launch l, Path mp) throws IOException, InterruptedException {
        long logStart = prepareLog(l);
        Integer spare = handToSpare(l, mp, logStart);
        if (spare != null) {
            return spare;
        }
        List<String> jvm = l.m.jvm;
        String key = l.m.key;
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
            cmd.add("/usr/bin/setsid");
        }
        cmd.addAll(jvm.subList(0, jvm.size() - 3));
        if (key != null) {
            cmd.add("-D" + MountSpare.SECONDS_PROP + "=" + l.m.spareSeconds);
            cmd.add("-D" + MountSpare.KEY_PROP + "=" + key);
        }
        cmd.addAll(jvm.subList(jvm.size() - 3, jvm.size()));
        cmd.addAll(l.args);
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().clear();
        pb.environment().putAll(l.m.env);
        pb.directory(new java.io.File("/")); // a mount process keeps no directory of the caller's busy
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(l.log.toFile()));
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process p = pb.start();
        return awaitMounted(mp, l.log, logStart, () -> p.isAlive() ? null : p.exitValue(), p::destroy);
    }

    /**
     * Where the mount process of a store on a read-only filesystem logs (its run/ cannot take the
     * log): $XDG_RUNTIME_DIR/cowfs, else the user's cowfs cache directory's logs/ (the launcher's
     * rule: {@link io.cowfs.blockstore.store.LmdbLibrary#userCacheDir}), named after the store's
     * path and the mounted name. Made private to the user.
     */
    private Path readOnlyStoreLog(Path storeDir) throws IOException {
        String runtime = System.getenv("XDG_RUNTIME_DIR");
        Path cache = io.cowfs.blockstore.store.LmdbLibrary.userCacheDir();
        Path dir = runtime != null && runtime.startsWith("/") ? Path.of(runtime, "cowfs") : cache == null ? null : cache.resolve("logs");
        if (dir == null) {
            throw new IOException("no directory for the mount's log: the store is read-only, and neither $XDG_RUNTIME_DIR nor $HOME is set");
        }
        Files.createDirectories(dir, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
        String tag = Integer.toHexString(storeDir.toAbsolutePath().normalize().toString().hashCode());
        return dir.resolve("read-only-store-" + tag + "-" + name + ".log");
    }

    /**
     * Waits until the mount at mp answers and its process has said so in log (after byte
     * logStart), then passes the process's lines on. exited says the process's exit code once its
     * mount command has ended (null while it runs); giveUp runs when it does not come up in time.
     */
    private int awaitMounted(Path mp, Path log, long logStart, java.util.function.Supplier<Integer> exited, Runnable giveUp)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline) {
            Integer rc = exited.get();
            if (rc != null) {
                throw failed(rc, lastLine(log, logStart, "the mount process exited with " + rc) + containerHint(logSince(log, logStart)));
            }
            if (Fuse.isMounted(mp)) {
                // the daemon prints its line once the mount answers
                String s = logSince(log, logStart);
                if (s.contains("mounted ")) {
                    s.lines().filter(l -> l.startsWith("cowfs: ")).forEach(l -> err().println(l)); // e.g. the adapter fallback
                    out().println(s.lines().filter(l -> l.startsWith("mounted ")).findFirst().orElse("mounted"));
                    return 0;
                }
            }
            Thread.sleep(20);
        }
        giveUp.run();
        throw new StoreException("the mount did not come up within 60 s (see " + log + ")");
    }

    /**
     * The failure of a mount process that exited with rc, with the exit code the process gave:
     * a mount refused by the process itself (the view mounted meanwhile by another, exit 4) exits
     * as it would have had this process refused it.
     */
    static StoreException failed(int rc, String message) {
        return switch (rc) {
            case Main.EXIT_USAGE -> new StoreException.InvalidRequestException(message);
            case Main.EXIT_NOT_FOUND -> new StoreException.NotFoundException(message);
            case Main.EXIT_BUSY -> new StoreException.BusyException(message);
            case Main.EXIT_DAMAGED -> new StoreException.IndexDamagedException(message);
            default -> new StoreException(message);
        };
    }

    /**
     * A line of a failed mount process's output saying that FUSE itself was out of reach: no
     * /dev/fuse or not allowed to open it, mount(2) refused (EPERM, EACCES), fusermount missing or
     * refused by the kernel, libfuse's "device not found". What a container without --device
     * /dev/fuse --cap-add SYS_ADMIN gets.
     */
    static final java.util.regex.Pattern FUSE_ACCESS = java.util.regex.Pattern.compile(
            "/dev/fuse.*(missing|errno (1|13)\\b|permission denied|operation not permitted|no such file)"
            + "|mount\\(2\\).* failed: errno (1|13)\\b"
            + "|fusermount3?\\b.*(not installed|mount failed: (permission denied|operation not permitted))"
            + "|failed to exec fusermount|device not found, try 'modprobe fuse'",
            java.util.regex.Pattern.CASE_INSENSITIVE);

    /**
     * What FUSE needs in a container (docs/CONTAINERS.md), said when a mount fails in one and
     * what the mount process wrote (said) shows FUSE out of reach; "" otherwise: a missing view or a
     * busy mountpoint has nothing to do with the container.
     */
    static String containerHint(String said) {
        boolean container = Files.exists(Path.of("/run/.containerenv")) || Files.exists(Path.of("/.dockerenv"));
        return container ? containerHint(said, Files.exists(Path.of("/dev/fuse"))) : "";
    }

    /** The hint inside a container where /dev/fuse exists or not, for a mount process that said said. */
    static String containerHint(String said, boolean devFuse) {
        if (devFuse && !FUSE_ACCESS.matcher(said).find()) {
            return "";
        }
        return devFuse
                ? " (in a container FUSE needs --device /dev/fuse and --cap-add SYS_ADMIN)"
                : " (no /dev/fuse: run the container with --device /dev/fuse --cap-add SYS_ADMIN)";
    }

    /** The log's text from byte offset from on (the offset is in bytes, as Files.size gives it). */
    private static String logSince(Path log, long from) throws IOException {
        if (!Files.exists(log)) {
            return "";
        }
        byte[] all = Files.readAllBytes(log);
        int start = (int) Math.min(from, all.length);
        return new String(all, start, all.length - start, java.nio.charset.StandardCharsets.UTF_8);
    }

    private static String lastLine(Path log, long from, String fallback) throws IOException {
        if (!Files.exists(log)) {
            return fallback;
        }
        String s = logSince(log, from);
        String last = null;
        for (String l : s.lines().toList()) {
            if (!l.isBlank()) {
                last = l;
            }
        }
        return last == null ? fallback : last.replaceFirst("^cowfs: ", "");
    }
}
