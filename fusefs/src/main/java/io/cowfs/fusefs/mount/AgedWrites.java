package io.cowfs.fusefs.mount;

import io.cowfs.fusefs.vfs.ViewFs;

/**
 * Persists a writable view's waiting writes once they have waited a period ({@link
 * ViewFs#persistAged}, called every {@link #PERIOD_MS}). Without it, data written to a file that is
 * never closed or fsynced (nor closed by an exec of its writer: close-on-exec descriptors are
 * closed, and a close sends FLUSH) stayed in the mount's memory, and a kill of the mount lost it
 * however old it was. The kernel's writeback cache itself holds written pages for up to 30 s
 * (vm.dirty_expire_centisecs) before it sends them, so such data survives a kill of the mount about
 * a minute after its write at most (docs/DURABILITY.md).
 *
 * <p>Threads: its own; the vfs takes its write lock to persist, as a close does.
 */
public final class AgedWrites {
    /** {@code cowfs.persistAgedMillis}: the period, 15 s by default; 0 turns it off. */
    static final long PERIOD_MS = Long.getLong("cowfs.persistAgedMillis", 15_000L);

    private AgedWrites() {
    }

    /** Starts persisting vfs's aged writes; closing the result stops it (before the vfs closes). */
    public static AutoCloseable start(ViewFs vfs) {
        if (PERIOD_MS <= 0) {
            return () -> { };
        }
        Thread t = new Thread(() -> loop(vfs), "cowfs-aged-writes");
        t.setDaemon(true);
        t.start();
        return () -> {
            t.interrupt();
            t.join(60_000); // a persist under way ends first: the vfs closes next
        };
    }

    private static void loop(ViewFs vfs) {
        String failed = null;
        while (true) {
            try {
                Thread.sleep(PERIOD_MS);
            } catch (InterruptedException e) {
                return;
            }
            try {
                vfs.persistAged();
                failed = null;
            } catch (RuntimeException e) {
                // ENOSPC and the like: the data stays in memory, and the file's close or fsync
                // reports the error to its writer; said once in the mount's log
                String why = String.valueOf(e.getMessage());
                if (!why.equals(failed)) {
                    failed = why;
                    System.err.println(java.time.Instant.now() + " cowfs: persisting waiting writes failed: " + why);
                }
            }
        }
    }
}
