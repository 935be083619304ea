package io.cowfs.fusefs.kernel;

import io.cowfs.blockstore.tree.Inode;
import io.cowfs.fusefs.vfs.Errno;
import io.cowfs.fusefs.vfs.FsException;
import io.cowfs.fusefs.vfs.Stat;
import io.cowfs.fusefs.vfs.NodeFs;
import io.cowfs.fusefs.vfs.Privileges;
import io.cowfs.fusefs.vfs.ViewFs;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Op dispatch of the kernel-protocol adapter: each request becomes one {@link ViewFs} call
 * (node id = vfs inode number), its result one reply. {@link #handle} is the single place that
 * turns an {@link FsException} into {@code -errno} and anything else into {@code -EIO} with one
 * log line naming the opcode and node.
 *
 * <p>Called by every worker thread at once. Shared state: {@link #nodes}, {@link #pinned},
 * {@link #createHandles} and {@link Listings} keep concurrent maps and sets (each use one atomic operation;
 * forget and RELEASE take a handle out of two maps in turn, each exactly once, and the vfs
 * releases that follow commute); the vfs does its own locking. Per-worker scratch ({@code Worker}) is never shared.
 */
final class KernelFs {
    /** Every thread reading the device, and the snapshot's marker: see {@link WriteDrain}. */
    final WriteDrain drain = new WriteDrain();

    /** What {@link #handle} returns for requests that get no reply (FORGET, BATCH_FORGET, INTERRUPT). */
    static final int NO_REPLY = Integer.MIN_VALUE;
    /** COWFS_FUSE_DEBUG=1 in the mount's environment logs every request that fails (to STORE/run/NAME.log). */
    private static final boolean DEBUG = "1".equals(System.getenv("COWFS_FUSE_DEBUG"));

    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;

    final NodeFs vfs;
    final boolean readOnly;
    /** The kernel caches writes (writeback cache, agreed at INIT): data written may not have reached the vfs yet. */
    volatile boolean keepsDirtyPages;
    /** Workers standing in while one waits for the kernel's write-back before an lseek (Kernel.writeBackBeforeSeek). */
    final java.util.Set<Thread> standIns = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /**
     * Workers (not stand-ins, which may end after their next request) waiting in the device's read
     * for a request: one that is there serves the kernel's WRITEs while another waits for them, so
     * no stand-in is needed then. Every worker that relied on another has it: a chain of such
     * waits ends at a worker that found none waiting and started a stand-in, which serves every
     * queued request until that worker is free again.
     */
    final java.util.concurrent.atomic.AtomicInteger waitingForRequests = new java.util.concurrent.atomic.AtomicInteger();
    final NodeTable nodes = new NodeTable();
    /** Timeouts in seconds the kernel may cache entries, attributes and negative lookups. */
    final long entryValid;
    final long attrValid;
    final long negativeValid;
    /** Nodes kept open in the vfs while the kernel holds them: a name of theirs went (see pin), or they never had one (TMPFILE). */
    private final java.util.Set<Long> pinned = ConcurrentHashMap.newKeySet();
    /** Small files stored in the kernel's page cache ahead of a reader (read-only mounts; null: none). Set once, by Kernel.serve. */
    volatile PushAhead push;
    /** Directory listings: open directories of a view, and a cache of a read-only tree's. */
    private final Listings listings;

    KernelFs(NodeFs vfs, long entryValid, long attrValid, long negativeValid) {
        this.vfs = vfs;
        this.readOnly = vfs.readOnly();
        this.entryValid = entryValid;
        this.attrValid = attrValid;
        this.negativeValid = negativeValid;
        this.listings = new Listings(vfs);
    }

    /** Starts read-ahead across directories (Kernel.serve, once; it closes what this returns). */
    DirAhead startDirAhead() {
        DirAhead a = new DirAhead(listings, readOnly);
        listings.ahead = a;
        return a;
    }

    /**
     * Files whose data the kernel wrote back past the largest file size the view takes (which a
     * write(2) cannot be refused for: with the writeback cache the kernel takes it into its page
     * cache and sends it long after, and Linux lets a FUSE server set no maximum file size), by
     * node: TRUE until the next FLUSH (close) or FSYNC of the node has reported EFBIG, then FALSE
     * until the kernel forgets the node. See {@link #refusedWriteBack} and {@link #atFlush}.
     */
    private final ConcurrentHashMap<Long, Boolean> oversized = new ConcurrentHashMap<>();
    /** The protocol minor version agreed at INIT. */
    volatile int minor;

    /** Per-worker state that outlives one request's handling until its reply is sent. */
    static final class Worker {
        /**
         * The kernel must revalidate the dentries it caches before the reply is sent
         * (FUSE_NOTIFY_INC_EPOCH; set only by a FLUSH or a RELEASE, whose replies have no payload): see {@link #atFlush}.
         */
        boolean incEpoch;

        /**
         * A node whose attributes the kernel must drop once the reply is sent (0: none): a WRITE
         * that killed setuid/setgid changed the mode, and the kernel refreshes only times, size
         * and blocks after a write (see {@link Kernel#loop}).
         */
        long invalAfterReply;

        /**
         * A node whose cached pages over [invalPagesOff, invalPagesOff + invalPagesLen) the
         * kernel must drop before the reply is sent (0: none): an O_DIRECT WRITE, see
         * {@link KernelFs#bufferedReadAt}.
         */
        long invalPagesNode;
        long invalPagesOff;
        long invalPagesLen;
    }

    /**
     * When a READ through the kernel's page cache (not O_DIRECT) of a node last started, by a
     * hash of the node id into 1,024 slots (System.nanoTime; a shared slot only costs a needless
     * invalidation).
     *
     * <p>Why: the kernel drops a file's cached pages before an O_DIRECT write (waiting for reads
     * under way), but not after it when the write is asynchronous (io_submit: fs/fuse/file.c
     * completes such a write from its request, which invalidates nothing). A buffered READ that
     * the kernel sent after that drop and this process served before the write was applied left
     * the old bytes cached, and every later buffered read saw them until the pages were evicted
     * (xfstests generic/451: "get stale data from buffer read"). So an O_DIRECT WRITE of a node
     * whose buffered READ started within {@link #READ_WINDOW_NS} before the write was taken
     * up, or since, has this process drop the written range's pages itself, before its reply
     * completes the write. The READ's time is taken before it reads the vfs and the WRITE's
     * check after it wrote: a READ that read the old bytes started before the write took the
     * vfs's write lock, so its time is seen. Direct writes with no buffered reader near them
     * pay nothing (one notification costs an O_DIRECT 4 KiB random write 2-3x its time).
     */
    private final java.util.concurrent.atomic.AtomicLongArray bufferedReadAt = new java.util.concurrent.atomic.AtomicLongArray(1024);

    /** How long before a WRITE was taken up the kernel's drop of pages may have happened: its time in the device's queue, bounded generously. */
    static final long READ_WINDOW_NS = 10_000_000_000L;

    private static int slot(long node) {
        return (int) (node * 0x9E3779B97F4A7C15L >>> 54); // 10 bits
    }

    /** A buffered READ of node starts now. */
    void bufferedRead(long node) {
        bufferedReadAt.set(slot(node), System.nanoTime() | 1); // | 1: never 0, "never read"
    }

    /** Whether a buffered READ of node started at or after since (a System.nanoTime). */
    boolean bufferedReadSince(long node, long since) {
        long t = bufferedReadAt.get(slot(node));
        return t != 0 && t - since >= 0;
    }

    /** With COWFS_FUSE_DEBUG=1: requests per opcode, logged on DESTROY/unmount (Kernel). */
    final java.util.concurrent.atomic.AtomicLongArray counts = DEBUG ? new java.util.concurrent.atomic.AtomicLongArray(64) : null;

    /** Handles one request; returns 0 (reply encoded in out), -errno, or {@link #NO_REPLY}. */
    int handle(Request rq, Reply out, Worker w) {
        if (counts != null && rq.opcode >= 0 && rq.opcode < 64) {
            counts.incrementAndGet(rq.opcode);
        }
        try {
            out.begin();
            return dispatch(rq, out, w);
        } catch (FsException e) {
            if (DEBUG) {
                log(e.errno() + " " + e.getMessage(), rq);
            }
            return -e.errno().code;
        } catch (Request.BadRequest e) {
            log("bad request (" + e.getMessage() + ")", rq);
            return -Errno.EIO.code;
        } catch (Throwable t) {
            try {
                log("failed: " + t, rq);
            } catch (OutOfMemoryError again) {
                // the line itself needs heap: the answer matters more
            }
            return -Errno.of(t).code;
        }
    }

    @FunctionalInterface
    private interface NameOp {
        void apply(long dir, String name);
    }

    /** UNLINK / RMDIR: removes name from dir, keeping its node alive while the kernel still holds it. */
    private int removing(long dir, String name, NameOp remove) {
        pin(dir, name);
        remove.apply(dir, name);
        return 0;
    }

    /**
     * Before a name of a node the kernel holds goes away: keep the node in the vfs (an open handle
     * there) until the kernel forgets it, so that a file unlinked while a process has it open stays
     * readable and writable through that descriptor, with nlink 0, as on a local filesystem. (No
     * OPEN is asked for, so the vfs does not see open descriptors; the kernel holds a reference
     * to the node for as long as any is open.)
     */
    private void pin(long dir, String name) {
        long ino;
        try {
            ino = vfs.lookup(dir, name);
        } catch (FsException e) {
            return; // no such name: the removal itself says so
        }
        if (nodes.count(ino) > 0 && pinned.add(ino)) {
            vfs.open(ino, false);
        }
    }

    /**
     * Takes back n kernel references; returns how many vfs handles to release now that the kernel
     * holds the node no more: its pin, and the handle CREATE or TMPFILE opened if no RELEASE took
     * it back (0, 1 or 2; 0 while the kernel still holds it). Once the kernel has forgotten a node no
     * descriptor can be open on it, so a RELEASE for them will never come.
     */
    private int forget(long nodeid, long n) {
        if (!nodes.forget(nodeid, n)) {
            return 0;
        }
        if (!oversized.isEmpty()) {
            oversized.remove(nodeid); // the kernel's inode, and the size it kept, are gone
        }
        boolean made = !createHandles.isEmpty() && createHandles.remove(nodeid);
        return (pinned.remove(nodeid) ? 1 : 0) + (made ? 1 : 0);
    }

    /**
     * The nodes whose vfs handle, opened by CREATE or TMPFILE, no RELEASE has taken back yet (one
     * per node: each makes a new inode, whose number is never reused). The kernel sends no
     * RELEASE at all once an OPEN was answered ENOSYS (its no_open, set at the first OPEN of a
     * mount; seen on Linux 6.18): the handle was then never released, and a file created and
     * later deleted stayed an orphan until the next mount. Those left are released at the node's
     * FORGET ({@link #forget}). Concurrent set: every worker updates it, each use one atomic operation.
     */
    private final java.util.Set<Long> createHandles = ConcurrentHashMap.newKeySet();

    /**
     * A WRITE of the kernel's write-back (FUSE_WRITE_CACHE) went past the largest file size: the
     * part past it was not written. Its writer's write(2) returned long ago, and an error answer
     * would not reach it either: the kernel would record it for the file's pages, and close(2)
     * would then fail with EIO before the kernel sends FLUSH (fuse_flush checks the pages' errors
     * first), fsync(2) alone reporting EFBIG. So the WRITE is answered as done and the refusal kept
     * for the node: the next FLUSH (every close(2) of the file) or FSYNC fails with EFBIG.
     */
    private void refusedWriteBack(long ino, long off, int size, int written) {
        if (oversized.put(ino, Boolean.TRUE) != Boolean.TRUE) {
            System.err.println(java.time.Instant.now() + " cowfs: node " + ino + ": " + (size - written) + " bytes written back at offset "
                    + (off + written) + " refused: past the largest file size (EFBIG); the next close or fsync of the file reports it");
        }
    }

    /**
     * FLUSH (a close(2)) of a file the kernel wrote back past the largest file size: EFBIG, once
     * per refusal. With the writeback cache the kernel keeps its own size of a regular file and
     * never takes ours (fuse_get_cache_mask: STATX_SIZE), so stat would show the refused size
     * until the kernel drops its inode: FUSE_NOTIFY_INC_EPOCH makes the kernel revalidate every
     * dentry it cached before, so that the next lookup of the file after its last close drops the
     * inode and looks it up again with the size the view holds (a file still open elsewhere keeps
     * the kernel's inode, and so the size, until it is closed: each close of it sends this again).
     * Kernels before protocol 7.44 (Linux 6.16) have no such notification.
     */
    private int atFlush(long ino, Worker w) {
        if (oversized.isEmpty()) {
            return 0;
        }
        Boolean pending = oversized.get(ino);
        if (pending == null) {
            return 0;
        }
        if (minor >= Proto.INC_EPOCH_MINOR) {
            w.incEpoch = true;
        }
        return oversized.replace(ino, Boolean.TRUE, Boolean.FALSE) ? -Errno.EFBIG.code : 0;
    }

    /** The kernel forgot these pinned nodes: the vfs lets them go (one commit for the batch). */
    private void unpin(long[] forgotten) {
        if (forgotten.length == 0) {
            return;
        }
        try {
            vfs.releaseAll(forgotten);
        } catch (RuntimeException e) {
            System.err.println(java.time.Instant.now() + " cowfs: releasing " + forgotten.length + " forgotten nodes failed: " + e);
        }
    }

    private static void log(String what, Request rq) {
        System.err.println(java.time.Instant.now() + " cowfs: opcode " + rq.opcode + " node " + rq.nodeid + " " + what);
    }

    private int dispatch(Request rq, Reply out, Worker w) {
        long ino = rq.nodeid;
        switch (rq.opcode) {
            case Proto.LOOKUP -> {
                return lookup(ino, rq.name(0), out);
            }
            case Proto.FORGET -> {
                int k = forget(ino, rq.i64(0));
                if (k > 0) {
                    long[] gone = new long[k];
                    java.util.Arrays.fill(gone, ino);
                    unpin(gone);
                }
                return NO_REPLY;
            }
            case Proto.BATCH_FORGET -> {
                int count = (int) Math.min(rq.u32(0), (rq.argLen() - 8) / 16);
                long[] gone = new long[2 * count]; // forget releases at most two handles per node
                int n = 0;
                for (int i = 0; i < count; i++) {
                    long node = rq.i64(8 + 16 * i);
                    for (int k = forget(node, rq.i64(16 + 16 * i)); k > 0; k--) {
                        gone[n++] = node;
                    }
                }
                unpin(java.util.Arrays.copyOf(gone, n));
                return NO_REPLY;
            }
            case Proto.INTERRUPT -> {
                return NO_REPLY; // requests are short; the reply to the original one follows
            }
            case Proto.GETATTR -> {
                out.attrOut(vfs.getattr(ino), attrValid);
                return 0;
            }
            case Proto.SETATTR -> {
                return setattr(rq, ino, out);
            }
            case Proto.READLINK -> {
                byte[] t = vfs.readlink(ino);
                out.bytes(t, 0, t.length);
                return 0;
            }
            case Proto.SYMLINK -> {
                String name = rq.newName(0);
                byte[] target = rq.cstring(rq.after(0));
                return entry(vfs.symlink(target, ino, name, rq.uid, rq.gid), out);
            }
            case Proto.MKNOD -> {
                int mode = rq.i32(0);
                long rdev = rq.u32(4);
                return entry(vfs.mknod(ino, rq.newName(16), mode, rdev, rq.uid, rq.gid), out);
            }
            case Proto.MKDIR -> {
                int mode = rq.i32(0);
                return entry(vfs.mkdir(ino, rq.newName(8), mode & 07777, rq.uid, rq.gid), out);
            }
            case Proto.UNLINK -> {
                return removing(ino, rq.name(0), vfs::unlink);
            }
            case Proto.RMDIR -> {
                return removing(ino, rq.name(0), vfs::rmdir);
            }
            case Proto.RENAME -> {
                String from = rq.name(8);
                String to = rq.newName(rq.after(8));
                pin(rq.i64(0), to); // the name renamed over
                vfs.rename(ino, from, rq.i64(0), to);
                return 0;
            }
            case Proto.RENAME2 -> {
                return rename2(rq, ino);
            }
            case Proto.LINK -> {
                long target = rq.i64(0);
                vfs.link(target, ino, rq.newName(8));
                return entry(target, out);
            }
            case Proto.OPEN -> {
                // no OPEN/RELEASE at all (the kernel keeps its page cache): a file's life does not hang on
                // open handles but on the kernel's references to its node (see pin); CREATE and TMPFILE still open
                return -Errno.ENOSYS.code;
            }
            case Proto.CREATE -> {
                int mode = rq.i32(4);
                long created = vfs.create(ino, rq.newName(16), mode & ~S_IFMT, rq.uid, rq.gid);
                int r = entry(created, out);
                createHandles.add(created); // after entry: a node the kernel never got is never forgotten
                out.open(created, Proto.FOPEN_KEEP_CACHE);
                return r;
            }
            case Proto.TMPFILE -> {
                // CREATE's arguments; the name is the kernel's placeholder ("/"), not used
                long made = vfs.tmpfile(ino, rq.i32(4) & ~S_IFMT, rq.uid, rq.gid);
                int r = entry(made, out);
                createHandles.add(made);
                if (pinned.add(made)) {
                    vfs.open(made, false); // nameless: it lives while the kernel holds its node (see pin)
                }
                out.open(made, Proto.FOPEN_KEEP_CACHE);
                return r;
            }
            case Proto.READ -> {
                long off = rq.i64(8);
                int size = (int) Math.min(rq.u32(16), Math.min(Kernel.MAX_WRITE, out.room()));
                if (keepsDirtyPages && (rq.u32(32) & Proto.O_DIRECT) == 0) { // fuse_read_in.flags: the file's open flags
                    bufferedRead(ino); // before the read: see bufferedReadAt
                }
                out.end += vfs.read(ino, off, out.framed, Reply.ROOM + out.end, size); // straight into the reply
                PushAhead p = push;
                if (p != null && off == 0) {
                    p.onRead(ino);
                }
                return 0;
            }
            case Proto.WRITE -> {
                long off = rq.i64(8);
                int size = (int) rq.u32(16);
                if (size < 0 || size > Kernel.MAX_WRITE || 40 + size > rq.argLen()) {
                    throw new Request.BadRequest("write of " + size + " bytes in a request of " + rq.len);
                }
                if ((rq.u32(20) & Proto.WRITE_KILL_SUIDGID) != 0 && Privileges.kill(vfs, ino, rq.pid, rq.uid, rq.gid)) {
                    w.invalAfterReply = ino;
                }
                int fits = size;
                if ((rq.u32(20) & Proto.WRITE_CACHE) != 0 && off >= 0 && size > vfs.maxFileSize() - off) {
                    // the kernel's write-back: the part below the limit is written, the rest refused
                    // (a write(2) waiting for this answer, O_DIRECT, gets EFBIG for all of it from the
                    // vfs: a short count would make the kernel's async direct I/O answer EIO)
                    fits = (int) Math.max(0, vfs.maxFileSize() - off);
                    refusedWriteBack(ino, off, size, fits);
                }
                boolean direct = (rq.u32(20) & Proto.WRITE_CACHE) == 0;
                long takenUp = direct ? System.nanoTime() : 0; // the clock only for O_DIRECT writes
                int n = fits > 0 || size == 0 ? vfs.write(ino, off, rq.buf, Proto.IN_HEADER + 40, fits) : 0; // straight from the request
                if (direct && n > 0 && keepsDirtyPages && bufferedReadSince(ino, takenUp - READ_WINDOW_NS)) {
                    w.invalPagesNode = ino; // an O_DIRECT write: see bufferedReadAt
                    w.invalPagesOff = off;
                    w.invalPagesLen = n;
                }
                out.u32(fits < size ? size : n).u32(0); // the refused part is answered as written: see refusedWriteBack
                return 0;
            }
            case Proto.STATFS -> {
                ViewFs.FsStat s = vfs.statfs();
                out.u64(s.blocks()).u64(s.blocksFree()).u64(s.blocksAvail()).u64(s.files()).u64(s.filesFree());
                out.u32(s.blockSize()).u32(s.nameMax()).u32(s.blockSize()).u32(0).zeros(24);
                return 0;
            }
            case Proto.RELEASE -> {
                if (!readOnly && createHandles.remove(ino)) {
                    vfs.release(ino); // only files CREATE or TMPFILE opened: no OPEN is asked for
                }
                if (!oversized.isEmpty() && oversized.containsKey(ino) && minor >= Proto.INC_EPOCH_MINOR) {
                    // the kernel holds the inode until this reply (fuse_release_end): a stat between
                    // the close and here found it again, with the refused size; see atFlush
                    w.incEpoch = true;
                }
                return 0;
            }
            case Proto.FLUSH -> {
                if (readOnly) {
                    return -Errno.ENOSYS.code; // the kernel stops sending FLUSH
                }
                if (OpenWriters.isFlusher(rq.pid)) {
                    return 0; // a snapshot's flush: the kernel has sent the file's pages; the persist after it stores them
                }
                vfs.flush(ino);
                return atFlush(ino, w);
            }
            case Proto.FSYNC, Proto.FSYNCDIR -> {
                vfs.fsync(ino);
                return !oversized.isEmpty() && oversized.replace(ino, Boolean.TRUE, Boolean.FALSE) ? -Errno.EFBIG.code : 0;
            }
            case Proto.SETXATTR -> {
                int size = rq.i32(0);
                int flags = rq.i32(4);
                String name = rq.newName(8);
                vfs.setxattr(ino, name, rq.bytes(rq.after(8), size), flags);
                return 0;
            }
            case Proto.GETXATTR -> {
                return sized(vfs.getxattr(ino, rq.xattrName(8)), rq.u32(0), out);
            }
            case Proto.LISTXATTR -> {
                java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
                for (String n : vfs.listxattr(ino)) {
                    byte[] b = n.getBytes(StandardCharsets.UTF_8);
                    all.write(b, 0, b.length);
                    all.write(0);
                }
                return sized(all.toByteArray(), rq.u32(0), out);
            }
            case Proto.REMOVEXATTR -> {
                vfs.removexattr(ino, rq.xattrName(0));
                return 0;
            }
            case Proto.OPENDIR -> {
                if (readOnly) {
                    return -Errno.ENOSYS.code; // no OPENDIR: the kernel caches listings (FOPEN_CACHE_DIR)
                }
                vfs.getattr(ino); // ENOENT for a node that is gone
                long fh = listings.open(ino);
                drain.opened(rq.pid, ino, fh); // a snapshot's marker (Kernel.syncMount)?
                out.open(fh, Proto.FOPEN_KEEP_CACHE | Proto.FOPEN_CACHE_DIR);
                return 0;
            }
            case Proto.READDIR, Proto.READDIRPLUS -> {
                return listings.readdir(rq, ino, out, rq.opcode == Proto.READDIRPLUS, this);
            }
            case Proto.RELEASEDIR -> {
                listings.release(rq.i64(0));
                drain.released(rq.i64(0));
                return 0;
            }
            case Proto.FALLOCATE -> {
                vfs.fallocate(ino, rq.i32(24), rq.i64(8), rq.i64(16));
                if (Privileges.killUnlessFsetid(vfs, ino, rq.pid, rq.uid, rq.gid)) {
                    w.invalAfterReply = ino;
                }
                return 0;
            }
            case Proto.LSEEK -> {
                long off = rq.i64(8);
                int whence = rq.i32(16);
                if (whence != Proto.SEEK_DATA && whence != Proto.SEEK_HOLE) {
                    return -Errno.EINVAL.code; // the kernel serves SEEK_SET/CUR/END itself
                }
                out.u64(whence == Proto.SEEK_DATA ? vfs.seekData(ino, off) : vfs.seekHole(ino, off));
                return 0;
            }
            case Proto.COPY_FILE_RANGE -> {
                long dst = rq.i64(16);
                long n = vfs.copyFileRange(ino, rq.i64(8), dst, rq.i64(32), Math.min(rq.i64(40), 0xFFFFF000L));
                if (Privileges.killUnlessFsetid(vfs, dst, rq.pid, rq.uid, rq.gid)) {
                    w.invalAfterReply = dst;
                }
                out.u32(n).u32(0); // fuse_write_out: at most 4 GiB - 1 per request, the kernel loops
                return 0;
            }
            case Proto.INIT -> {
                return Kernel.init(this, rq, out);
            }
            case Proto.DESTROY -> {
                return 0;
            }
            default -> {
                return -Errno.ENOSYS.code; // includes ACCESS (default_permissions), locks, ioctl, poll, statx
            }
        }
    }

    private int lookup(long dir, String name, Reply out) {
        if (name.equals(".") || name.equals("..")) {
            // only for file handles (EXPORT_SUPPORT): the kernel lost the node a handle names
            // (after drop_caches or a remount) and asks for it again ("."), or reconnects a
            // directory to its parent (".."); the VFS resolves these names itself otherwise
            Stat st = vfs.getattr(dir); // ENOENT for a node that is gone: the kernel answers ESTALE
            if (name.equals("..") && (st.mode() & S_IFMT) != S_IFDIR) {
                throw new FsException(Errno.ENOTDIR, "'..' of a non-directory"); // no walk of the tree for it
            }
            return entry(name.equals(".") ? dir : parentOf(dir), out);
        }
        long ino;
        try {
            ino = vfs.lookup(dir, name);
        } catch (FsException e) {
            if (e.errno() == Errno.ENOENT && negativeValid > 0) {
                vfs.getattr(dir); // the directory itself must exist
                out.entry(0, null, negativeValid, 0); // a cached negative entry
                return 0;
            }
            throw e;
        }
        return entry(ino, out);
    }

    /**
     * The directory that holds directory dir (the root for the root). Inodes do not record their
     * parent, so the tree is walked from the root, directories only, breadth first: this is asked
     * only when the kernel decodes a file handle of a directory it no longer caches (an NFS
     * export of the mount, open_by_handle_at after drop_caches), which is rare.
     *
     * @throws FsException ENOENT if dir is not a directory reachable from the root (the kernel
     *         answers ESTALE)
     */
    private long parentOf(long dir) {
        if (dir == io.cowfs.blockstore.tree.SnapshotRoot.ROOT_INO) {
            return dir;
        }
        java.util.ArrayDeque<Long> queue = new java.util.ArrayDeque<>();
        queue.add(io.cowfs.blockstore.tree.SnapshotRoot.ROOT_INO);
        while (!queue.isEmpty()) {
            long d = queue.poll();
            io.cowfs.fusefs.vfs.Dirents es = vfs.readdir(d);
            for (int i = 0; i < es.size(); i++) {
                if (es.isDirectory(i)) {
                    if (es.node(i) == dir) {
                        return d;
                    }
                    queue.add(es.node(i));
                }
            }
        }
        throw new FsException(Errno.ENOENT, "no directory holds directory " + dir);
    }

    /** Replies fuse_entry_out for ino and counts the kernel's new reference. */
    int entry(long ino, Reply out) {
        Stat s = vfs.getattr(ino);
        out.entry(ino, s, entryValid, attrValid);
        nodes.ref(ino);
        return 0;
    }

    private int setattr(Request rq, long ino, Reply out) {
        int valid = rq.i32(0);
        // A SETATTR that changes nothing is a chown(-1, -1) (or the VFS's file_remove_privs before
        // a write by a caller without CAP_FSETID): the kernel dropped its ATTR_KILL_SUID/SGID and
        // sends FATTR_KILL_SUIDGID only with a new uid or gid, so nothing else says the bits must
        // go, as they do on ext4 even for root (chown(f, -1, -1) left a 6755 file 6755).
        boolean nothing = (valid & ~(Proto.FATTR_FH | Proto.FATTR_LOCKOWNER | Proto.FATTR_CTIME)) == 0;
        boolean killed = ((valid & Proto.FATTR_KILL_SUIDGID) != 0 || nothing)
                && Privileges.kill(vfs, ino, rq.pid, rq.uid, rq.gid); // before FATTR_MODE: an explicit mode in the same request wins
        // with the writeback cache the kernel keeps the times and sends its ctime (FATTR_CTIME)
        long c = (valid & Proto.FATTR_CTIME) == 0 ? ViewFs.OMIT : Inode.timeNs(rq.i64(48), rq.u32(64));
        if (nothing) {
            // and its ctime changes, as ext4's does (POSIX lets it stay; pjdfstest's chown/00.t,
            // docs/EXTERNAL-SUITES.md): the kernel's ctime for a regular file, now for the rest.
            // A kill above committed a change that stamped it already: one commit, not two.
            if (!killed) {
                vfs.utimens(ino, ViewFs.OMIT, ViewFs.OMIT, c);
            } else if (c != ViewFs.OMIT) {
                vfs.ctime(ino, c); // committed with the next commit, as below
            }
            out.attrOut(vfs.getattr(ino), attrValid);
            return 0;
        }
        if ((valid & Proto.FATTR_MODE) != 0) {
            vfs.chmod(ino, rq.i32(68) & 07777);
        }
        if ((valid & (Proto.FATTR_UID | Proto.FATTR_GID)) != 0) {
            vfs.chown(ino, (valid & Proto.FATTR_UID) != 0 ? rq.i32(76) : -1, (valid & Proto.FATTR_GID) != 0 ? rq.i32(80) : -1);
        }
        if ((valid & Proto.FATTR_SIZE) != 0) {
            vfs.truncate(ino, rq.i64(16));
        }
        if ((valid & (Proto.FATTR_ATIME | Proto.FATTR_MTIME)) != 0) {
            long a = (valid & Proto.FATTR_ATIME) == 0 ? ViewFs.OMIT
                    : (valid & Proto.FATTR_ATIME_NOW) != 0 ? ViewFs.NOW : Inode.timeNs(rq.i64(32), rq.u32(56));
            long m = (valid & Proto.FATTR_MTIME) == 0 ? ViewFs.OMIT
                    : (valid & Proto.FATTR_MTIME_NOW) != 0 ? ViewFs.NOW : Inode.timeNs(rq.i64(40), rq.u32(60));
            vfs.utimens(ino, a, m, c);
        } else if (c != ViewFs.OMIT && (valid & (Proto.FATTR_MODE | Proto.FATTR_UID | Proto.FATTR_GID | Proto.FATTR_SIZE)) != 0) {
            vfs.ctime(ino, c); // after the change above stamped its own: the kernel's, committed with the next commit
        }
        Stat counted = vfs.getattrIfCounted(ino);
        if (counted != null) {
            out.attrOut(counted, attrValid);
        } else {
            // With the writeback cache the kernel sends a SETATTR of the times after every
            // FALLOCATE and COPY_FILE_RANGE (and at write-back), and counting st_blocks of a large
            // file whose map has just changed is a pass over that map: a loop of punches was
            // quadratic (a few hundred a second into a 16 GiB file). The answer carries st_blocks
            // from the size instead, with attributes that expire at once: where the kernel applies
            // them (chmod, utimes, truncate) the next stat, or the next buffered write's check of
            // size and mode, asks GETATTR, which counts.
            out.attrOut(vfs.attributes(ino), 0);
        }
        return 0;
    }

    private int rename2(Request rq, long dir) {
        long newDir = rq.i64(0);
        int flags = rq.i32(8);
        String from = rq.name(16);
        String to = rq.newName(rq.after(16));
        if (flags == Proto.RENAME_EXCHANGE) {
            vfs.exchange(dir, from, newDir, to); // no name goes away: nothing to pin
            return 0;
        }
        if ((flags & ~Proto.RENAME_NOREPLACE) != 0) {
            return -Errno.EINVAL.code; // RENAME_WHITEOUT (overlayfs's) is not supported; the VFS refuses EXCHANGE|NOREPLACE
        }
        boolean exists;
        try {
            vfs.lookup(newDir, to);
            exists = true;
        } catch (FsException e) {
            if (e.errno() != Errno.ENOENT) {
                throw e;
            }
            exists = false;
        }
        if (exists) {
            return -Errno.EEXIST.code;
        }
        vfs.rename(dir, from, newDir, to);
        return 0;
    }

    private static int sized(byte[] v, long size, Reply out) {
        if (size == 0) {
            out.u32(v.length).u32(0); // fuse_getxattr_out
            return 0;
        }
        if (v.length > size) {
            return -Errno.ERANGE.code;
        }
        out.bytes(v, 0, v.length);
        return 0;
    }

}
