package io.cowfs.fusefs.mount;

import io.cowfs.fusefs.vfs.ViewFs;

/**
 * Reads the first part of a mount's snapshot metadata (inode pages and directories, in inode
 * order) into the mount's caches once the mount is up, on a thread of its own, so that the first
 * walk or `git status` after a mount finds it decoded instead of going to the index and packs for
 * each directory and inode page (docs/DESIGN-DECISIONS.md, 10). Bounded by
 * {@code cowfs.warmInodes} and by half of the snapshot caches; it stops when the mount ends.
 *
 * <p>Threads: its own; the caches it fills guard themselves (SnapshotReader), and {@link #close}
 * joins it before the vfs and store close.
 */
final class MetadataWarmer implements AutoCloseable {
    private final ViewFs vfs;
    private final long maxInodes;
    private volatile boolean stopping;
    private volatile Thread thread; // set by start (the mount's ready callback), read by close
    private volatile String report; // what it did, for the log: set by its thread before it ends

    MetadataWarmer(ViewFs vfs, long maxInodes) {
        this.vfs = vfs;
        this.maxInodes = maxInodes;
    }

    /** Starts the warm-up (once; nothing if the bound is 0). */
    void start() {
        if (maxInodes <= 0 || thread != null) {
            return;
        }
        thread = new Thread(this::run, "cowfs-warm");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        long t0 = System.nanoTime();
        try {
            long[] got = vfs.warmMetadata(maxInodes, () -> stopping);
            report = String.format(java.util.Locale.ROOT, "cowfs: %d inodes and %d directory entries read at mount in %d ms",
                    got[0], got[1], (System.nanoTime() - t0) / 1_000_000);
        } catch (RuntimeException | Error e) {
            // a damaged page or directory (the request that meets it answers EIO), or out of heap:
            // the warm-up is an optimisation, so it ends here and the mount goes on
            report = "cowfs: warm-up stopped: " + e;
        }
    }

    /**
     * Waits up to {@link #FINISH_MILLIS} for the warm-up to end by itself (a mount unmounted as soon
     * as it is up still says what it read), then stops it and waits for it: the caller closes the
     * vfs and the store next. Says in the mount's log what it read (at the end, as the mount's
     * other counts).
     */
    @Override
    public void close() throws InterruptedException {
        Thread t = thread;
        if (t == null) {
            return;
        }
        try {
            t.join(FINISH_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // kept for the caller; the join below still waits
        }
        stopping = true;
        io.cowfs.fusefs.vfs.Threads.joinUninterruptibly(t);
        System.err.println(java.time.Instant.now() + " " + report);
    }

    /** How long an unmount waits for a warm-up still going before it stops it. */
    static final long FINISH_MILLIS = 250;
}
