package io.cowfs.fusefs.kernel;

import io.cowfs.fusefs.vfs.FsException;
import io.cowfs.fusefs.vfs.NodeFs;
import io.cowfs.fusefs.vfs.Stat;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Read-ahead across files of a read-only tree: when a reader reads small files one after another
 * in the order they were imported (cat, grep -r, tar, cp -r, a build reading its sources: the
 * order of a directory's listing, which is the order of their node ids), the files it has not
 * reached yet are read on a thread of their own and stored in the kernel's page cache with
 * FUSE_NOTIFY_STORE. The reader's open and read of such a file then never reach this process: no
 * round trip, no wait, the way a warm file is read. Without it a cold cat of many small files is a
 * chain of synchronous round trips, one per file, with a core idle.
 *
 * <p>Only on read-only mounts: their files never change, so what is stored is what a READ would
 * answer. On a writable view the kernel may hold dirty pages this process has not seen (writeback
 * cache, no OPEN), and a stored page would overwrite them.
 *
 * <p>The pattern: a READ at offset 0 of node n, then of a node a little after it, then again,
 * makes a stream. From then on every READ at offset 0 the stream sees is of a file that was not in
 * the page cache, and schedules a window of {@link #window} node ids after it. The push thread
 * stores every small regular file of the window that the kernel holds a reference to (it has looked
 * the name up; a node the kernel does not know cannot be stored) and that it has not stored lately,
 * except the first one past the window's middle: the reader's READ of that file tells that the
 * reader got there and schedules the next window, so that the push keeps ahead of the reader as
 * the kernel's own read-ahead marker does within a file. A reader that lists each directory only
 * when it gets there (grep -r, tar) meets files a window passed over before the kernel knew them;
 * its READ of one schedules a window from there, which stores them now. A reader that reads in
 * another order never makes a stream; what a stream stored past where its reader stopped costs
 * page cache the kernel can reclaim, at most a window.
 *
 * <p>Threads: {@link #onRead} is called by every FUSE worker and is synchronized on this object,
 * which guards the streams; the push thread takes windows from a bounded queue and alone uses its
 * buffer; the vfs does its own locking; notifications are written to the device with one write(2)
 * each, which the kernel takes alongside the workers' replies.
 */
final class PushAhead {
    /** Files larger than this are left to the kernel's read-ahead within the file. */
    static final int MAX_FILE = 128 << 10;
    /** How far past the last node read at offset 0 a READ still continues a stream. */
    private static final int GAP = 4;
    private static final int STREAMS = 4;

    private final NodeFs vfs;
    private final NodeTable nodes;
    private final FuseDevice dev;
    private final int window;
    private final Stream[] streams = new Stream[STREAMS];
    private long tick;
    private final BlockingQueue<Window> queue = new ArrayBlockingQueue<>(STREAMS * 2);
    private final Thread thread;
    private volatile boolean stopping;
    /** Files stored in the kernel's page cache, and stores the kernel refused (the node was forgotten). */
    final AtomicLong pushed = new AtomicLong();
    final AtomicLong refused = new AtomicLong();

    /**
     * Nodes this thread stored lately (the push thread's alone): a window that covers them again
     * skips them. Windows overlap because a READ inside a window schedules the next one from there
     * (see {@link #onRead}).
     */
    private final java.util.Map<Long, Boolean> stored = new java.util.LinkedHashMap<>(1024, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(java.util.Map.Entry<Long, Boolean> eldest) {
            return size() > 16 * 1024;
        }
    };

    /** One reader's run through consecutive node ids. Guarded by the PushAhead's monitor. */
    private static final class Stream {
        /** The last node its reader was seen to READ at offset 0; written under the lock, read by the push thread without it (a window skips what the reader passed). */
        volatile long last = -1;
        int hits;           // READs in a row that each followed the one before
        long end;           // nodes up to here are scheduled; 0: no window yet
        long used;          // for replacing the least recently used stream
    }

    private record Window(Stream stream, long from, long to, long trigger) {
    }

    /** Put in the queue by {@link #close}: the push thread ends when it takes it. */
    private static final Window STOP = new Window(null, 0, -1, 0);

    PushAhead(NodeFs vfs, NodeTable nodes, FuseDevice dev, int window) {
        this.vfs = vfs;
        this.nodes = nodes;
        this.dev = dev;
        this.window = window;
        for (int i = 0; i < STREAMS; i++) {
            streams[i] = new Stream();
        }
        thread = new Thread(this::run, "cowfs-push");
        thread.setDaemon(true);
        thread.start();
    }

    /** A READ at offset 0 of node was answered: continue or start a stream, schedule a window when due. */
    synchronized void onRead(long node) {
        if (stopping) {
            return;
        }
        Stream s = null;
        for (Stream c : streams) {
            if (node == c.last) {
                return; // the same file again (a reader that reads a header first, then the whole)
            }
            if (c.last >= 0 && node > c.last && node <= Math.max(c.last, c.end) + GAP) {
                s = c;
                break;
            }
        }
        if (s == null) {
            s = streams[0];
            for (Stream c : streams) {
                if (c.used < s.used) {
                    s = c;
                }
            }
            s.hits = 0;
            s.end = 0;
            s.last = node;
            s.used = ++tick;
            return;
        }
        s.last = node;
        s.used = ++tick;
        if (s.end == 0 && ++s.hits < 2) {
            return;
        }
        // A READ on a running stream is a file that was not in the page cache: the window's marker,
        // a file too large, one the push had not reached, or one the kernel had not looked up when
        // its window went by (a reader that lists each directory only when it gets there: grep -r,
        // tar). Each schedules a window from there; what an earlier window stored is skipped.
        Window w = new Window(s, node + 1, node + window, node + 1 + window / 2);
        if (queue.offer(w)) {
            s.end = Math.max(s.end, w.to());
        }
    }

    private void run() {
        Reply buf = new Reply(MAX_FILE + 4096);
        try {
            while (true) {
                Window w = queue.take();
                if (w == STOP) {
                    break;
                }
                try {
                    push(w, buf);
                } catch (RuntimeException e) {
                    // the store failing under it (closed, unreadable index): this window is dropped
                    System.err.println(java.time.Instant.now() + " cowfs: read-ahead across files stopped a window: " + e);
                }
            }
        } catch (InterruptedException e) {
            // nothing interrupts this thread (see close); ends it all the same
        } finally {
            buf.free();
        }
    }

    private void push(Window w, Reply buf) {
        boolean markerLeft = false;
        for (long node = w.from(); node <= w.to() && !stopping; node++) {
            if (node <= w.stream().last || stored.containsKey(node) || nodes.count(node) == 0) {
                continue; // the reader is past it, it is stored already, or the kernel does not hold it
            }
            Stat st;
            try {
                st = vfs.getattr(node);
            } catch (FsException e) {
                continue; // no such node
            }
            if ((st.mode() & 0170000) != 0100000 || st.size() == 0 || st.size() > MAX_FILE) {
                continue;
            }
            if (!markerLeft && node >= w.trigger()) {
                markerLeft = true; // the reader's READ of this one schedules the next window
                continue;
            }
            store(node, (int) st.size(), buf);
        }
    }

    /** Reads node's bytes (a read-only tree's: they cannot change) and hands them to the kernel's page cache. */
    private void store(long node, int size, Reply buf) {
        buf.begin().u64(node).u64(0).u32(0).u32(0); // fuse_notify_store_out: nodeid, offset, size, padding
        int n;
        try {
            n = vfs.read(node, 0, buf.framed, Reply.ROOM + buf.end, size);
        } catch (RuntimeException e) {
            return; // a damaged block: the reader's own READ meets it and gets EIO
        }
        if (n <= 0) {
            return;
        }
        buf.end += n;
        buf.buf.putInt(Proto.OUT_HEADER + 16, n);
        int len = buf.sealNotification(Proto.NOTIFY_STORE);
        if (stopping) {
            return; // the mount is ending: its device goes next
        }
        if (dev.write(buf.address, len) == 0) {
            stored.put(node, Boolean.TRUE);
            pushed.incrementAndGet();
        } else {
            refused.incrementAndGet(); // ENOENT: the kernel forgot the node meanwhile; ENODEV: unmounted
        }
    }

    /**
     * Stops the push thread (at unmount) and waits for it; its buffer is freed by the thread. Not
     * by interrupting it: an interrupt during a pack read would close the store's shared FileChannel.
     */
    void close() {
        stopping = true;
        synchronized (this) {
            queue.clear();
            queue.offer(STOP); // room: just cleared, and onRead offers only under this monitor
        }
        // until it has ended, however long its last read takes (at most one file of MAX_FILE):
        // the caller closes the device and the vfs next
        io.cowfs.fusefs.vfs.Threads.joinUninterruptibly(thread);
    }
}
