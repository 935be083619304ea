package io.cowfs.fusefs.kernel;

import io.cowfs.blockstore.store.Lru;
import io.cowfs.fusefs.vfs.Dirents;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Read-ahead across directories: while the kernel takes in one directory's listing, the directory
 * a walk lists next is read on a thread of its own. A walk (find, du, git status, ls -R, tar, cp
 * -r) lists a directory, then waits in the kernel while it makes an inode of each entry; without
 * this the mount's share (the directory object, each entry's inode page and attributes) came after
 * the kernel's, one directory at a time, with a core idle (a cold find over a million files:
 * ~3.5 s of the mount's CPU and ~3 s of the kernel's, one after the other, 2026-12-06).
 *
 * <p>The guess is a depth-first walk in listing order, which is what those tools do: after
 * directory d comes its first subdirectory, or if it has none, the next directory after d in its
 * parent's listing, or after its parent in the grandparent's, and so on up. What the guess needs
 * is learnt from the listings themselves ({@link #listed}): each subdirectory's parent and next
 * sibling directory. A wrong guess costs one directory's reading, which the caches keep for a
 * while.
 *
 * <p>What "read" means is {@link Listings#prepare}'s: the listing is made with every entry's
 * attributes and kept for the stream that will ask for it (a view's only while nothing in the
 * view changes meanwhile).
 *
 * <p>Threads: {@link #listed} and {@link #started} are called by every FUSE worker; the two maps
 * are {@link Lru}s, each guarded by its own monitor; the queue is a concurrent bounded queue (a
 * guess that finds it full is dropped); the ahead thread alone takes from it.
 */
final class DirAhead {
    /** Directories whose parent and next sibling are remembered, each map (~100 B an entry). */
    static final int REMEMBERED = 1 << 15;
    /**
     * A directory to read from, asked for when {@code since} streams had reached their end: a
     * directory whose stream ended after that is behind the walk.
     */
    private record From(long dir, long since) {
    }

    private static final From STOP = new From(0, 0);

    /** How far ahead of a walk: entries read, directories looked at. */
    static final int AHEAD_ENTRIES = 2048;
    static final int AHEAD_DIRS = 16;

    private final Listings listings;
    private final boolean readOnly;
    /**
     * A view's directories read ahead lately, each with its first subdirectory then (0: none), to
     * guess from: a walk's next guess passes over them instead of reading them again (a view's
     * listing read ahead is taken by its stream, so it is not there to look at).
     */
    private final Lru<Long, Long> warmed = Lru.ofSize(1024);
    private final Lru<Long, Long> parent = Lru.ofSize(REMEMBERED);
    private final Lru<Long, Long> nextSibling = Lru.ofSize(REMEMBERED);
    private final BlockingQueue<From> queue = new ArrayBlockingQueue<>(4);
    private final Thread thread;
    private volatile boolean stopping;
    private boolean failed; // the ahead thread's alone: an Error logged once
    /** Directories read ahead, and how many of them a stream then found ready (read-only trees). */
    final AtomicLong prepared = new AtomicLong();

    DirAhead(Listings listings, boolean readOnly) {
        this.listings = listings;
        this.readOnly = readOnly;
        thread = new Thread(this::run, "cowfs-dir-ahead");
        thread.setDaemon(true);
        thread.start();
    }

    /** dir's listing was made: remember its subdirectories' parent and order. */
    void listed(long dir, Dirents es) {
        long before = 0;
        for (int i = 0; i < es.size(); i++) {
            if (!es.isDirectory(i)) {
                continue;
            }
            long c = es.node(i);
            parent.put(c, dir);
            if (before != 0) {
                nextSibling.put(before, c);
            }
            before = c;
        }
    }

    /** A stream of dir began (its listing es): read the directory a walk lists next. */
    void started(long dir, Dirents es) {
        if (stopping) {
            return;
        }
        long next = guess(dir, es);
        if (next != 0) {
            queue.offer(new From(next, listings.streamsEnded()));
        }
    }

    /** The directory a depth-first walk in listing order lists after dir, or 0 if none is known. */
    long guess(long dir, Dirents es) {
        long first = firstSubdirectory(es);
        return first != 0 ? first : after(dir);
    }

    private static long firstSubdirectory(Dirents es) {
        for (int i = 0; i < es.size(); i++) {
            if (es.isDirectory(i)) {
                return es.node(i);
            }
        }
        return 0;
    }

    /** The directory a depth-first walk lists after dir's subtree, or 0 if none is known. */
    private long after(long dir) {
        long d = dir;
        for (int depth = 0; depth < 256; depth++) {
            Long n = nextSibling.getIfPresent(d);
            if (n != null) {
                return n;
            }
            Long p = parent.getIfPresent(d);
            if (p == null || p == d) {
                return 0;
            }
            d = p;
        }
        return 0;
    }

    private void run() {
        try {
            while (true) {
                From f = queue.take();
                if (f == STOP) {
                    break;
                }
                try {
                    readFrom(f.dir(), f.since());
                } catch (RuntimeException e) {
                    // gone meanwhile, or the store failing under it: the stream that asks will say so
                } catch (Error e) { // out of memory on a huge directory: the mount goes on without this one
                    if (!failed) {
                        failed = true;
                        System.err.println(java.time.Instant.now() + " cowfs: read-ahead across directories: " + e);
                    }
                }
            }
        } catch (InterruptedException e) {
            // nothing interrupts this thread (see close); ends it all the same
        }
    }

    /**
     * Reads dir and the directories a walk lists after it, until {@link #AHEAD_ENTRIES} entries
     * were read here (passing over what is read already) or {@link #AHEAD_DIRS} directories were
     * looked at. A walk that lists a small directory (one subdirectory) and then a large one needs
     * the large one read while the kernel takes in the one before the small one.
     */
    private void readFrom(long dir, long since) {
        long d = dir;
        int read = 0;
        for (int step = 0; step < AHEAD_DIRS && d != 0 && !stopping; step++) {
            Long first = readOnly ? null : warmed.getIfPresent(d);
            if (first == null) {
                Listings.Prepared p = listings.prepare(d, since);
                if (p == null) {
                    return; // a stream is making it now, or has read it: the walk is here or past it
                }
                first = firstSubdirectory(p.entries());
                if (p.read() > 0) {
                    prepared.incrementAndGet();
                    read += p.read();
                }
                if (!readOnly) {
                    warmed.put(d, first);
                }
            }
            if (read >= AHEAD_ENTRIES) {
                return;
            }
            d = first != 0 ? first : after(d);
        }
    }

    /** Ends the thread, after the directory it reads now (the caller closes the vfs next). */
    void close() {
        stopping = true;
        queue.clear();
        while (!queue.offer(STOP)) {
            queue.clear(); // a worker's guess may have come in between
        }
        io.cowfs.fusefs.vfs.Threads.joinUninterruptibly(thread);
    }
}
