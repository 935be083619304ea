package io.cowfs.fusefs.kernel;

import io.cowfs.fusefs.vfs.Errno;
import io.cowfs.fusefs.vfs.NodeFs;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Serves one {@link NodeFs} (a cowfs view or snapshot, or the benchmarks' in-memory floor) by speaking the kernel's FUSE protocol on {@code /dev/fuse}
 * (no libfuse): mounts with mount(2) as root or through {@code fusermount3} otherwise
 * ({@link FuseDevice}), negotiates INIT, runs the worker threads that read requests into reused
 * direct buffers and hand them to {@link KernelFs}, and unmounts.
 *
 * <p>Choices (docs/DESIGN-DECISIONS.md, section 10, has the measurements): one kernel inode per
 * vfs inode; READDIRPLUS always (never the kernel's adaptive mode); entries, attributes and
 * negative lookups cached for {@link #TIMEOUT} seconds on snapshots and views alike (only this
 * mount changes a view, and the kernel updates its caches for every change made through it);
 * writeback cache on views; 1 MiB requests; no OPEN/OPENDIR messages on read-only mounts.
 */
public final class Kernel {
    /** Inode numbers are never reused within a view (its next number is persisted), so one generation serves. */
    static final long GENERATION = 1;
    static final int MAX_WRITE = 1 << 20;
    static final int MAX_PAGES = MAX_WRITE / 4096;
    /** How long the kernel may cache entries and attributes, in seconds. */
    static final long TIMEOUT = io.cowfs.blockstore.Config.fromSystemProperties().fuseTimeoutSeconds();
    static final int WORKERS = io.cowfs.blockstore.Config.fromSystemProperties().fuseWorkers();
    static final boolean WRITEBACK = io.cowfs.blockstore.Config.fromSystemProperties().fuseWriteback();
    static final int READ_AHEAD_KB = io.cowfs.blockstore.Config.fromSystemProperties().readAheadKb();
    /** Node ids past a reader of small files that read-only mounts store ahead (kernel.PushAhead), at most 1024. */
    static final int PUSH_AHEAD = Math.min(1024, io.cowfs.blockstore.Config.fromSystemProperties().pushAheadNodes());
    /** Read-ahead across directories (kernel.DirAhead). */
    static final boolean DIR_AHEAD = io.cowfs.blockstore.Config.fromSystemProperties().fuseDirAhead();

    private Kernel() {
    }

    /** Why the kernel adapter cannot run here, or null if it can (checked before mounting). */
    public static String unavailableReason() {
        if (!java.nio.file.Files.exists(Path.of("/dev/fuse"))) {
            return "/dev/fuse is missing";
        }
        try {
            LibC.get();
        } catch (Throwable t) {
            return "libc cannot be bound: " + t.getMessage();
        }
        return FuseDevice.mountMethodProblem();
    }

    /**
     * Why --allow-other cannot work for this user, or null: an ordinary user's fusermount3 refuses
     * it unless root has put {@code user_allow_other} in /etc/fuse.conf (both adapters need it).
     */
    private static String allowOtherProblem() {
        if (FuseDevice.isRoot()) {
            return null;
        }
        try {
            for (String line : java.nio.file.Files.readAllLines(Path.of("/etc/fuse.conf"))) {
                if (line.strip().equals("user_allow_other")) {
                    return null;
                }
            }
        } catch (java.io.IOException e) {
            // no fuse.conf: not set
        }
        return "--allow-other needs 'user_allow_other' in /etc/fuse.conf for non-root users"
                + " (as root: echo user_allow_other >> /etc/fuse.conf)";
    }

    /**
     * Why a mount with access cannot be made by this user, or null: set-ID programs and device
     * nodes work only in FUSE mounts root makes (fusermount3 refuses {@code suid} and {@code dev}
     * to an ordinary user, and the kernel gives FUSE mounts made in a user namespace {@code nodev}).
     */
    public static String accessProblem(io.cowfs.fusefs.fuse.MountAccess access) {
        if (access.allowOther()) {
            String p = allowOtherProblem();
            if (p != null) {
                return p;
            }
        }
        if ((access.suid() || access.dev()) && !FuseDevice.isRoot()) {
            String what = access.suid() && access.dev() ? "--suid and --dev need" : access.suid() ? "--suid needs" : "--dev needs";
            return what + " root: only mounts root makes may honour "
                    + (access.suid() ? "set-user-ID programs" : "device nodes") + " (an ordinary user's FUSE mounts are nosuid,nodev)";
        }
        return null;
    }

    /**
     * Mounts vfs at mp and serves it until it is unmounted (umount, fusermount3 -u, or SIGTERM:
     * the shutdown hook unmounts). onReady runs once the mountpoint answers. True if every worker
     * ended at the unmount, false if one stopped on an error (the log says which).
     */
    public static boolean serve(NodeFs vfs, Path mp, io.cowfs.fusefs.fuse.MountAccess access, String fsName, Runnable onReady) {
        KernelFs fs = new KernelFs(vfs, TIMEOUT, TIMEOUT, TIMEOUT);
        FuseDevice dev;
        try {
            dev = FuseDevice.mount(mp, fsName, vfs.readOnly(), access);
        } catch (RuntimeException | LinkageError e) {
            throw new MountFailed(e.getMessage());
        }
        List<Thread> workers = new ArrayList<>();
        Throwable[] failure = new Throwable[1];
        for (int i = 0; i < Math.max(1, WORKERS); i++) {
            FuseDevice ch = i == 0 ? dev : dev.cloneOrSelf();
            Thread t = new Thread(() -> {
                try {
                    loop(fs, ch);
                } catch (Throwable e) {
                    failure[0] = e;
                    System.err.println(java.time.Instant.now() + " cowfs: worker stopped: " + e);
                }
            }, "cowfs-fuse-" + i);
            t.setDaemon(false);
            workers.add(t);
            t.start();
        }
        long dev0 = MountPoints.device(mp.getParent());
        long deadline = System.nanoTime() + 30_000_000_000L;
        boolean up = false;
        while (workers.get(0).isAlive() && System.nanoTime() < deadline) {
            long d = MountPoints.device(mp);
            if (d != -1 && d != dev0 && MountPoints.isMounted(mp)) {
                up = true;
                break;
            }
            MountPoints.sleep(5);
        }
        if (!up) {
            dev.unmount(mp);
            // the workers end at the unmount (ENODEV); the device is closed only once they all have,
            // else left open: a worker still reading must not meet a number reused since (a spare
            // mount process opens more files)
            if (ended(workers, 5_000) && fs.standIns.isEmpty()) { // a stand-in reads the device too
                dev.closeAll();
            }
            throw new MountFailed("the mount did not answer: " + (failure[0] == null ? "the kernel did not answer" : failure[0].getMessage()));
        }
        MountPoints.setReadAhead(mp, READ_AHEAD_KB);
        Serving mine = new Serving(fs, mp.toAbsolutePath().normalize());
        serving = mine; // only once it is up: a mount that failed (and another adapter's after it) is not drained here
        onReady.run();
        // SIGTERM: unmount, so that the workers see ENODEV and serve() returns to the mount's owner,
        // which closes the vfs (fusefs.mount.MountDaemon)
        Thread hook = new Thread(() -> dev.unmount(mp), "cowfs-umount");
        Runtime.getRuntime().addShutdownHook(hook);
        PushAhead push = fs.readOnly && PUSH_AHEAD > 0 ? new PushAhead(vfs, fs.nodes, dev, PUSH_AHEAD) : null;
        fs.push = push;
        DirAhead dirAhead = DIR_AHEAD ? fs.startDirAhead() : null;
        boolean interrupted = false;
        try {
            for (Thread t : workers) {
                t.join();
            }
            // stand-ins read the device too: each ends at the unmount (ENODEV), and all must have
            // ended before the device closes, or one would read or write a descriptor number that
            // may belong to another file by then. A stand-in can start another (an LSEEK it serves),
            // and one may be in the set but not yet started: looked at again until the set is empty.
            while (!fs.standIns.isEmpty()) {
                for (Thread t : List.copyOf(fs.standIns)) {
                    t.join();
                }
                if (!fs.standIns.isEmpty()) {
                    Thread.sleep(1);
                }
            }
        } catch (InterruptedException e) {
            interrupted = true;
        } finally {
            if (dirAhead != null) {
                dirAhead.close(); // as push: before the vfs closes
                System.err.println(java.time.Instant.now() + " cowfs: " + dirAhead.prepared.get() + " directories read ahead of a walk");
            }
            if (push != null) {
                // ended before the device is closed and the vfs with it: its thread must not write to
                // a descriptor number a later mount of this process (a spare) may get, nor read a closed store
                push.close();
                System.err.println(java.time.Instant.now() + " cowfs: " + push.pushed.get() + " files stored in the page cache ahead of readers ("
                        + push.refused.get() + " refused)");
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
            if (serving == mine) {
                serving = null;
            }
            return false;
        }
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // shutting down already
        }
        dev.closeAll();
        if (serving == mine) {
            serving = null; // the vfs is closed next; a spare mount process must not keep it reachable
        }
        if (fs.counts != null) {
            StringBuilder b = new StringBuilder("cowfs: requests by opcode:");
            for (int i = 0; i < fs.counts.length(); i++) {
                if (fs.counts.get(i) > 0) {
                    b.append(' ').append(i).append('=').append(fs.counts.get(i));
                }
            }
            System.err.println(b);
        }
        return failure[0] == null;
    }

    /**
     * Makes every write(2) to the filesystem mounted at mp that returned before the call reach the
     * vfs: with the writeback cache such a write may still be a dirty page in the kernel, or a
     * WRITE queued in it or just taken from the device. syncfs(2) starts writing the dirty pages
     * back but on this kernel neither waits nor always sends them all; every file a process holds
     * open for writing is flushed by a close of a descriptor of this process's own ({@link
     * OpenWriters}), which waits for its WRITEs; {@link WriteDrain} then waits until every WRITE
     * queued by then has been applied (a marker queued behind them, and every reader of the device
     * accounted for). Called from the control thread, never
     * from a worker (the writes it causes are served by the workers); one call at a time. For a
     * mount of the libfuse 2 adapter, only syncfs and the flush of open files.
     *
     * @throws WritesStillArriving if the writes did not all arrive within {@link #DRAIN_SECONDS}
     *                              (the caller takes no snapshot then)
     */
    public static void syncMount(Path mp) {
        synchronized (SYNC_LOCK) {
            if (!MountPoints.isMounted(mp)) {
                return;
            }
            LibC c = LibC.get();
            long start = System.nanoTime(); // syncfs included: it waits for pages already being written back
            int fd = c.open(mp.toString(), LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC);
            if (fd < 0) {
                // the flush and the drain below go on without it (the drain then logs its own fallback)
                System.err.println(java.time.Instant.now() + " cowfs: cannot open " + mp + " for syncfs: errno " + LibC.errno());
            } else {
                try {
                    if (c.syncfs(fd) != 0) {
                        System.err.println(java.time.Instant.now() + " cowfs: syncfs of " + mp + " failed: errno " + LibC.errno());
                    }
                } finally {
                    c.close(fd);
                }
            }
            try {
                long deadline = start + DRAIN_SECONDS * 1_000_000_000L;
                // any adapter: the libfuse 2 one has no writeback cache, but pages stored through
                // shared mappings wait in the kernel all the same
                long dev = MountPoints.device(mp);
                if (dev == -1) {
                    throw new WritesStillArriving("cannot stat " + mp);
                }
                int files = flushOpenWriters(dev, c, deadline);
                Serving s = serving;
                if (s == null || !s.mp().equals(mp.toAbsolutePath().normalize())) {
                    return; // not this adapter's mount: no WRITEs of write-back queued to drain
                }
                KernelFs fs = s.fs();
                drain(fs, c, mp, deadline);
                long ms = (System.nanoTime() - start) / 1_000_000;
                if (ms >= 1000) {
                    System.err.println(java.time.Instant.now() + " cowfs: a snapshot waited " + ms + " ms for the writes the kernel held ("
                            + files + " files open for writing flushed)");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new WritesStillArriving("interrupted while the view's writes were arriving");
            }
        }
    }

    /** {@link #syncMount} could not make every returned write reach the vfs in time; nothing is lost. */
    public static final class WritesStillArriving extends IllegalStateException {
        WritesStillArriving(String message) {
            super(message);
        }
    }

    /** How long {@link #syncMount} waits for the writes it drains ({@code cowfs.drainSeconds}). */
    static final long DRAIN_SECONDS = Long.getLong("cowfs.drainSeconds", 30);

    private static final Object SYNC_LOCK = new Object();

    /**
     * {@link OpenWriters#flush}, on a thread of its own so that a WRITE the mount does not answer
     * cannot hold the snapshot past deadline (the thread ends when the close it is in returns).
     */
    private static int flushOpenWriters(long dev, LibC c, long deadline) throws InterruptedException {
        java.util.concurrent.FutureTask<Integer> task = new java.util.concurrent.FutureTask<>(() -> OpenWriters.flush(dev, c));
        Thread t = new Thread(task, "cowfs-snapshot-flush");
        t.setDaemon(true);
        t.start();
        try {
            return task.get(Math.max(0, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new WritesStillArriving("files open for writing were still being written back after " + DRAIN_SECONDS + " s");
        } catch (java.util.concurrent.ExecutionException e) {
            // the snapshot must not go on as if the files had been flushed
            Throwable cause = e.getCause();
            throw new IllegalStateException(cause instanceof OpenWriters.Failed ? cause.getMessage()
                    : "flushing the files open for writing failed: " + cause);
        }
    }

    /** The marker and the readers' wait of {@link #syncMount} (see {@link WriteDrain}). */
    private static void drain(KernelFs fs, LibC c, Path mp, long deadline) throws InterruptedException {
        java.util.concurrent.CountDownLatch marker = fs.drain.arm(OpenWriters.threadId());
        int dir = c.open(mp.toString(), LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC);
        long fh = fs.drain.disarm();
        try {
            if (dir >= 0) {
                c.close(dir); // its RELEASEDIR: a background request, queued behind every WRITE queued so far
            }
            if (dir < 0 || fh < 0) {
                // no marker (the root cannot be opened by this process): the STATFS below goes after every
                // request in the device's queue, but not after WRITEs still held in the kernel's background queue
                System.err.println(java.time.Instant.now() + " cowfs: no marker for the snapshot's drain at " + mp
                        + (dir < 0 ? ": opening the root failed: errno " + LibC.errno() : ": its OPENDIR was not seen"));
                statfs(c, mp);
            } else if (!WriteDrain.await(marker, deadline)) {
                throw new WritesStillArriving("writes the kernel had queued did not all arrive within " + DRAIN_SECONDS + " s");
            }
        } finally {
            fs.drain.forget();
        }
        if (!fs.drain.awaitTaken(deadline, () -> statfs(c, mp))) {
            throw new WritesStillArriving("writes the kernel had sent were still being applied after " + DRAIN_SECONDS + " s");
        }
    }

    /** statfs(2) of mp: a FUSE_STATFS, which the kernel never answers from a cache (a request an idle worker takes). */
    private static void statfs(LibC c, Path mp) {
        c.statfs(mp.toString(), new byte[256]);
    }

    /** The adapter serving this process's mount (one per process) and where, for {@link #syncMount}. */
    private static volatile Serving serving;

    private record Serving(KernelFs fs, Path mp) {
    }

    /** The mount could not be made (nothing is mounted, nothing was served): another adapter may try. */
    public static final class MountFailed extends IllegalStateException {
        MountFailed(String message) {
            super(message);
        }
    }

    /** One worker: read a request, handle it, reply; until the device says the mount is gone. */
    static void loop(KernelFs fs, FuseDevice ch) {
        loop(fs, ch, null);
    }

    /** {@link #loop(KernelFs, FuseDevice)} that also ends after a request once done (a stand-in's; null: a worker's) says so. */
    private static void loop(KernelFs fs, FuseDevice ch, java.util.function.BooleanSupplier done) {
        Request rq = new Request(MAX_WRITE + 4096);
        Reply out = new Reply(MAX_WRITE + 4096);
        try {
            loop(fs, ch, rq, out, done);
        } finally {
            rq.free(); // a spare mount process serves more mounts (cli MountSpare): nothing may outlive its own
            out.free();
        }
    }

    /**
     * Makes the kernel write back and drop the pages it caches of node from offset on, before an
     * answer that must count them: with the writeback cache a write() that returned may be only
     * in the kernel, and lseek(SEEK_DATA/SEEK_HOLE) reaches this process without the kernel
     * writing it back first (it does for copy_file_range, fsync and close). Without this, SEEK_DATA
     * of a file still being written said ENXIO and cp copied zeros. FUSE_NOTIFY_INVAL_INODE with a
     * page range writes dirty pages back (the kernel's launder) and waits for their WRITEs; those
     * need a free worker while this one waits: another worker waiting for requests serves them (it
     * comes back to the device after each request, and no request waits for this one), and if
     * none is waiting a stand-in serves requests until the notification returns (and ends after the
     * next request it takes). Costs the file's cached pages after offset, which the next reads fetch
     * again.
     */
    private static void writeBackBeforeSeek(KernelFs fs, FuseDevice ch, Reply out, long node, long offset) {
        invalidateWithStandIn(fs, ch, out, node, offset, 0);
    }

    /**
     * FUSE_NOTIFY_INVAL_INODE of node's pages over [offset, offset + len) (len 0: to the end),
     * served as {@link #writeBackBeforeSeek} says: the kernel may need a free worker meanwhile
     * (WRITEs of dirty pages in the range, a READ whose page the invalidation waits for).
     */
    private static void invalidateWithStandIn(KernelFs fs, FuseDevice ch, Reply out, long node, long offset, long len) {
        if (fs.waitingForRequests.get() > 0) {
            invalidatePages(ch, out, node, offset, len);
            return;
        }
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        Thread standIn = new Thread(() -> {
            try {
                loop(fs, ch, done::get);
            } finally {
                fs.standIns.remove(Thread.currentThread());
            }
        }, "cowfs-fuse-standin");
        standIn.setDaemon(true);
        fs.standIns.add(standIn);
        try {
            standIn.start();
        } catch (RuntimeException | Error e) {
            fs.standIns.remove(standIn); // never started: serve() must not wait for it
            throw e;
        }
        try {
            invalidatePages(ch, out, node, offset, len);
        } finally {
            done.set(true);
        }
    }

    /** FUSE_NOTIFY_INVAL_INODE of node's pages over [offset, offset + len) (0: to the end); returns once the kernel has written them back. */
    private static void invalidatePages(FuseDevice ch, Reply out, long node, long offset, long len) {
        long from = offset & ~4095L;
        int n = out.notifyInvalPages(node, from, len == 0 ? 0 : offset + len - from);
        int sent = ch.write(out.address, n);
        if (sent < 0 && sent != -FuseDevice.ENOENT) { // ENOENT: the kernel has no such node cached
            System.err.println(java.time.Instant.now() + " cowfs: page invalidation refused: errno " + -sent);
        }
    }

    private static void loop(KernelFs fs, FuseDevice ch, Request rq, Reply out, java.util.function.BooleanSupplier done) {
        KernelFs.Worker w = new KernelFs.Worker();
        // only workers count as waiting: a stand-in may end after its next request
        java.util.concurrent.atomic.AtomicInteger waiting = done == null ? fs.waitingForRequests : new java.util.concurrent.atomic.AtomicInteger();
        WriteDrain.Reader me = fs.drain.join();
        try {
            while (done == null || !done.getAsBoolean()) {
                me.reading();
                waiting.incrementAndGet();
                long n;
                try {
                    n = ch.read(rq.address, rq.buf.capacity());
                } finally {
                    waiting.decrementAndGet();
                }
                if (n < 0) {
                    int errno = (int) -n;
                    if (errno == FuseDevice.EINTR || errno == FuseDevice.ENOENT || errno == FuseDevice.EAGAIN) {
                        continue; // interrupted, or the request was aborted before we read it
                    }
                    if (errno == FuseDevice.ENODEV) {
                        return; // unmounted
                    }
                    throw new IllegalStateException("reading /dev/fuse failed: errno " + errno);
                }
                if (!rq.decode((int) n)) {
                    me.serving(false);
                    System.err.println(java.time.Instant.now() + " cowfs: short or inconsistent request of " + n + " bytes ignored");
                    continue;
                }
                if (rq.opcode == Proto.WRITE && WriteDrain.pauseThisWrite()) {
                    pause(WriteDrain.PAUSE_UNCOUNTED_WRITES_MS);
                }
                me.serving(rq.opcode == Proto.WRITE); // from here a snapshot's drain waits for it (WriteDrain)
                try {
                    serveOne(fs, ch, rq, out, w);
                } catch (OutOfMemoryError e) {
                    // out of heap outside handle's own catch: answered ENOMEM from this worker's own
                    // buffers, and the worker serves on. A worker that ended here left every later
                    // request of the mount waiting (a find over 1M files, 2026-12-06)
                    ch.write(out.address, out.seal(rq.unique, -Errno.ENOMEM.code));
                }
            }
        } finally {
            fs.drain.leave(me);
        }
    }

    /** Sleeps ms (WriteDrain's fault injection for tests). */
    private static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Serves one decoded request: the handler, its reply and what must go with the reply. */
    private static void serveOne(KernelFs fs, FuseDevice ch, Request rq, Reply out, KernelFs.Worker w) {
        if (rq.opcode == Proto.LSEEK && fs.keepsDirtyPages) {
            writeBackBeforeSeek(fs, ch, out, rq.nodeid, rq.i64(8));
        }
        int r = fs.handle(rq, out, w);
        if (r == KernelFs.NO_REPLY) {
            return;
        }
        if (w.invalPagesNode != 0) {
            // an O_DIRECT WRITE (KernelFs.bufferedReadAt): the pages go before the reply completes the
            // write; the notification takes the reply's buffer, so the reply (fuse_write_out: the
            // count, padding) is encoded again after it
            long node = w.invalPagesNode;
            w.invalPagesNode = 0;
            if (r == 0) {
                int count = out.buf.getInt(Proto.OUT_HEADER);
                invalidateWithStandIn(fs, ch, out, node, w.invalPagesOff, w.invalPagesLen);
                out.begin().u32(count).u32(0);
            }
        }
        if (w.incEpoch) {
            // before the reply (a FLUSH's or RELEASE's, without payload: the notification may use its buffer),
            // so that the close it answers returns after it (KernelFs.atFlush)
            w.incEpoch = false;
            int ne = ch.write(out.address, out.notifyIncEpoch());
            if (ne < 0) {
                System.err.println(java.time.Instant.now() + " cowfs: dentry revalidation (FUSE_NOTIFY_INC_EPOCH) refused: errno " + -ne);
            }
        }
        int len = out.seal(rq.unique, r);
        int sent = ch.write(out.address, len);
        if (sent < 0 && sent != -FuseDevice.ENOENT) { // ENOENT: the request was interrupted meanwhile; nothing to do
            System.err.println(java.time.Instant.now() + " cowfs: reply to opcode " + rq.opcode + " refused: errno " + -sent);
        }
        if (w.invalAfterReply != 0) {
            // after the reply, so that the write's own attribute update cannot undo it
            int nl = out.notifyInvalAttrs(w.invalAfterReply);
            w.invalAfterReply = 0;
            int ns = ch.write(out.address, nl);
            if (ns < 0 && ns != -FuseDevice.ENOENT) { // ENOENT: the kernel has forgotten the node
                System.err.println(java.time.Instant.now() + " cowfs: attribute invalidation refused: errno " + -ns);
            }
        }
    }

    /** True once every thread has ended, waiting at most millis in all. */
    private static boolean ended(List<Thread> threads, long millis) {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        try {
            for (Thread t : threads) {
                long left = (deadline - System.nanoTime()) / 1_000_000L;
                if (left > 0) {
                    t.join(left);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        return threads.stream().noneMatch(Thread::isAlive);
    }

    /** INIT: agree on version, capabilities and sizes (fuse_init_in -> fuse_init_out). */
    static int init(KernelFs fs, Request rq, Reply out) {
        int major = rq.i32(0);
        int minor = rq.i32(4);
        long maxReadahead = rq.u32(8);
        long flags = rq.u32(12);
        if (major > Proto.KERNEL_MAJOR) {
            out.u32(Proto.KERNEL_MAJOR).u32(Proto.KERNEL_MINOR).zeros(Proto.INIT_OUT - 8);
            return 0; // the kernel sends INIT again with our major
        }
        if (major < Proto.KERNEL_MAJOR || minor < 23) {
            return -io.cowfs.fusefs.vfs.Errno.EIO.code;
        }
        if ((flags & Proto.INIT_EXT) != 0 && rq.argLen() >= 20) {
            flags |= rq.u32(16) << 32;
        }
        long want = Proto.ASYNC_READ | Proto.BIG_WRITES | Proto.DO_READDIRPLUS | Proto.ASYNC_DIO
                | Proto.PARALLEL_DIROPS | Proto.MAX_PAGES | Proto.CACHE_SYMLINKS | Proto.INIT_EXT
                | Proto.EXPORT_SUPPORT; // file handles (open_by_handle_at, NFS): LOOKUP of "." and "..", KernelFs.lookup
        if (!fs.readOnly && WRITEBACK) {
            want |= Proto.WRITEBACK_CACHE;
        }
        if (!fs.readOnly) {
            // without it the kernel asks GETXATTR security.capability before every write(2) to
            // find out whether it must kill privileges: one synchronous round trip per write,
            // 16,384 of them in 64 MiB of 4 KiB writes (docs/DESIGN-DECISIONS.md, 10)
            want |= Proto.HANDLE_KILLPRIV_V2;
        }
        long agreed = flags & want;
        fs.minor = Math.min(minor, Proto.KERNEL_MINOR);
        if ((agreed & Proto.WRITEBACK_CACHE) != 0) {
            fs.vfs.kernelKeepsTimes(); // before any WRITE: the kernel sends the times it keeps
            fs.keepsDirtyPages = true;
        }
        out.u32(Proto.KERNEL_MAJOR).u32(Math.min(minor, Proto.KERNEL_MINOR)).u32(maxReadahead);
        out.u32(agreed & 0xFFFFFFFFL);
        out.u16(64).u16(48); // max_background, congestion_threshold: room for parallel read-ahead
        out.u32(MAX_WRITE).u32(1); // max_write, time_gran (ns)
        out.u16(MAX_PAGES).u16(0); // max_pages, map_alignment
        out.u32(agreed >>> 32); // flags2
        out.zeros(Proto.INIT_OUT - 36);
        return 0;
    }
}
