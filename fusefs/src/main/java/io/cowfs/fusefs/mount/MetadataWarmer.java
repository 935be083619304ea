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
        } catch (RuntimeException e) {
            // a damaged page or directory: the request that meets it reports it (EIO); nothing to do here
            report = "cowfs: warm-up stopped: " + e.getMessage();
        }
    }

    /** Stops the warm-up and waits for it; says in the mount's log what it read (at the end, as the mount's other counts). */
    @Override
    public void close() throws InterruptedException {
        stopping = true;
        Thread t = thread;
        if (t != null) {
            t.join();
            System.err.println(java.time.Instant.now() + " " + report);
        }
    }
}
