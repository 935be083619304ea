package io.cowfs.fusefs.kernel;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Makes every WRITE the kernel had queued at a given moment reach the vfs before a snapshot
 * ({@link Kernel#syncMount}). With the writeback cache a write(2) that returned may still be a
 * dirty page; syncfs(2) queues its WRITE but does not wait for the answer on this kernel (a plain
 * FUSE mount has no FUSE_SYNCFS wait). What is left between "queued" and "applied":
 *
 * <ol>
 * <li><b>Still queued in the kernel.</b> WRITEs from write-back are background requests, which wait
 * in the kernel's background queue once {@code max_background} of them are out, while a foreground
 * request goes ahead of them. So the marker is a background request too: the RELEASEDIR of the
 * mount's root, opened by the syncing thread (its OPENDIR is told apart by the caller's thread id).
 * Background requests leave their queue in order, and the device hands requests out in the order
 * they were queued, so once a worker has taken the marker every earlier WRITE has been taken.</li>
 * <li><b>Taken, not yet counted.</b> A worker whose read(2) has returned a WRITE may not have run
 * since (two cores, many threads). Each thread reading the device is a {@link Reader}: its epoch is
 * odd from the start of a read until the request it got is counted, even while it serves one. A
 * reader that was reading when the marker was taken is waited for until it has counted what it
 * read, and served it if it is a WRITE; one that was serving a WRITE, until it is done. A reader
 * that is simply idle in read(2) is woken by a STATFS (a poke), which it then counts.</li>
 * </ol>
 *
 * <p>Unlike waiting for "no WRITE in flight", writers that go on while the snapshot is taken do not
 * hold it up: only the requests taken before the marker are waited for.
 *
 * <p>Thread-safety: a {@link Reader}'s fields are written only by its own thread (volatile, the
 * write flag before the epoch) and read by the draining thread; {@link #readers} is a concurrent set.
 * The marker's fields are volatile; one drain runs at a time ({@link Kernel#syncMount} holds its
 * lock), and the workers serving the marker's OPENDIR and RELEASEDIR only compare against them.
 */
final class WriteDrain {
    /**
     * Fault injection for tests only: a worker that has read a WRITE waits this long before it
     * counts it, which opens the window in 2. above wide (0: never).
     */
    static final long PAUSE_UNCOUNTED_WRITES_MS = Long.getLong("cowfs.test.pauseUncountedWritesMs", 0);

    /** How many WRITEs {@link #PAUSE_UNCOUNTED_WRITES_MS} holds, the first ones (cowfs.test.pauseUncountedWrites; default all). */
    private static final java.util.concurrent.atomic.AtomicLong PAUSES_LEFT =
            new java.util.concurrent.atomic.AtomicLong(Long.getLong("cowfs.test.pauseUncountedWrites", Long.MAX_VALUE));

    /** True if this WRITE, just read, is to be held (the fault injection above). */
    static boolean pauseThisWrite() {
        return PAUSE_UNCOUNTED_WRITES_MS > 0 && PAUSES_LEFT.getAndDecrement() > 0;
    }

    /** One thread reading the device (a worker or a stand-in). Written by that thread only. */
    static final class Reader {
        /** Odd: in read(2), or back from it with a request not yet counted; even: serving a counted request. */
        private volatile long epoch = 1;
        /** The request being served (epoch even) is a WRITE; written before the epoch. */
        private volatile boolean write;

        /**
         * The epoch, with the sign bit set if the request being served is a WRITE: one consistent
         * reading of both (write is written before the epoch, so a newer write moves the epoch).
         */
        long state() {
            long e;
            boolean w;
            do {
                e = epoch;
                w = write;
            } while (e != epoch);
            return w ? e | Long.MIN_VALUE : e;
        }

        /** About to read the device (no-op if already reading: a read that failed is read again). */
        void reading() {
            if ((epoch & 1) == 0) {
                epoch++;
            }
        }

        /** The request just read is counted: from now on a drain waits for it if it is a WRITE. */
        void serving(boolean isWrite) {
            write = isWrite;
            epoch++;
        }
    }

    /** Every thread reading the device now. */
    private final Set<Reader> readers = ConcurrentHashMap.newKeySet();

    /** Thread id of the draining thread while its marker OPENDIR is out; 0 otherwise. */
    private volatile int markerTid;
    /** The handle the marker's OPENDIR got (-1: none yet). */
    private volatile long markerFh = -1;
    /** Counted down when the marker's RELEASEDIR is taken. */
    private volatile CountDownLatch markerTaken = new CountDownLatch(0);

    /** A new reader, counted by drains until {@link #leave}. */
    Reader join() {
        Reader r = new Reader();
        readers.add(r);
        return r;
    }

    /** The reader's thread reads no more. */
    void leave(Reader r) {
        readers.remove(r);
    }

    /** OPENDIR of dir answered with handle fh, asked by thread pid: the marker's if it is the drain's. */
    void opened(int pid, long dir, long fh) {
        if (pid != 0 && pid == markerTid && dir == Proto.ROOT_ID) {
            markerFh = fh;
        }
    }

    /** RELEASEDIR of handle fh has been taken from the device. */
    void released(long fh) {
        if (fh == markerFh) {
            markerTaken.countDown();
        }
    }

    /** Before the marker's open: OPENDIRs of the root by thread tid are the marker's. */
    CountDownLatch arm(int tid) {
        CountDownLatch l = new CountDownLatch(1);
        markerFh = -1;
        markerTaken = l;
        markerTid = tid;
        return l;
    }

    /** After the marker's open returned: the handle it got, or -1 if its OPENDIR was not seen. */
    long disarm() {
        markerTid = 0;
        return markerFh;
    }

    /** The marker is over (taken, or given up): no later RELEASEDIR matches it. */
    void forget() {
        markerFh = -1;
    }

    /**
     * Waits until every reader has counted what it had taken from the device at the call, and has
     * served it if it is a WRITE (see the class comment), calling poke (a request some idle reader
     * will take) while a reader is still in its read; false if that did not happen by deadline (nanoTime).
     */
    boolean awaitTaken(long deadline, Runnable poke) throws InterruptedException {
        Map<Reader, Long> waiting = new HashMap<>();
        for (Reader r : readers) {
            long e = r.state();
            if ((e & 1) != 0 || e < 0) {
                waiting.put(r, e & Long.MAX_VALUE);
            }
        }
        while (true) {
            boolean idle = false;
            for (var it = waiting.entrySet().iterator(); it.hasNext();) {
                var en = it.next();
                Reader r = en.getKey();
                long from = en.getValue();
                long state = r.state();
                long e = state & Long.MAX_VALUE;
                boolean w = state < 0;
                boolean done = !readers.contains(r) // ended: served what it had
                        || e >= from + 2 // counted and served what it had read, or served its WRITE
                        || ((from & 1) == 0 && e != from) // was serving a WRITE, now past it
                        || ((from & 1) != 0 && e == from + 1 && !w); // counted what it read: not a WRITE
                if (done) {
                    it.remove();
                } else if (e == from && (from & 1) != 0) {
                    idle = true; // still in the same read: maybe waiting for a request
                }
            }
            if (waiting.isEmpty()) {
                return true;
            }
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            if (idle) {
                poke.run();
            }
            Thread.sleep(1);
        }
    }

    /** Waits for the marker's RELEASEDIR to be taken; false if it was not by deadline (nanoTime). */
    static boolean await(CountDownLatch marker, long deadline) throws InterruptedException {
        return marker.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    }
}
