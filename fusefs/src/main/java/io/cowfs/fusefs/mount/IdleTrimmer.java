package io.cowfs.fusefs.mount;

import io.cowfs.fusefs.vfs.ViewFs;
import io.cowfs.blockstore.store.Store;
import java.time.Duration;

/**
 * Gives memory back when a mount has been idle. After {@link #QUIET} without CPU use following any
 * activity, the mount's start included, it trims the C heap ({@link NativeHeap}: the free pages the
 * JVM's compilers and class loading leave in it; HotSpot frees its compilers' pooled arena chunks
 * every 5 s, so a trim sooner than that after the last compilation finds little). After
 * {@link #IDLE} without CPU use, it drops the decompressed-block cache (the kernel's page cache
 * still holds what was read), frees the native memory kept for dirty pages ({@link
 * ViewFs#trimMemory}), runs one full GC that shrinks the heap to its live data and a fifth
 * ({@link JavaHeap#shrink}) and trims the C heap again. Twenty idle mounts then cost what twenty freshly
 * started ones do (docs/DESIGN-DECISIONS.md, 3). Each trim that gave back 1 MiB or more says so in
 * the mount's log.
 *
 * <p>Every period, busy or idle, it also lets go of the packs that gc (another process) deleted
 * since this mount read them (Packs#dropDeleted): their space comes back while the mount lives.
 *
 * <p>Threads: its own, which reads only this process's CPU time; the cache, the dirty-page memory,
 * the pack table and the heap guard themselves.
 */
public final class IdleTrimmer {
    static final Duration IDLE = io.cowfs.blockstore.Config.fromSystemProperties().idleTrim();
    static final long BUSY_NANOS = 50_000_000L; // CPU use above this in a period counts as activity
    /** How often the CPU time is looked at: a third of {@link #IDLE}, between 1 and 2 s. */
    static final long PERIOD = Math.min(2000, Math.max(1000, IDLE.toMillis() / 3));
    /** Quiet time after which the C heap is trimmed (the full trim at {@link #IDLE} trims it too). */
    static final Duration QUIET = Duration.ofSeconds(6);

    private IdleTrimmer() {
    }

    /** Starts the trimmer of one mount; closing the result stops it (before its vfs and store close). */
    public static AutoCloseable start(Store store, ViewFs vfs) {
        Thread t = new Thread(() -> loop(store, vfs), "cowfs-idle-trim");
        t.setDaemon(true);
        t.setPriority(Thread.MIN_PRIORITY);
        t.start();
        return () -> {
            t.interrupt();
            t.join(10_000);
        };
    }

    private static void loop(Store store, ViewFs vfs) {
        long lastCpu = cpu();
        long idleSince = System.nanoTime();
        boolean trimmed = false; // the full trim done since the last activity
        boolean settled = false; // the C heap trimmed since the last activity
        while (true) {
            try {
                Thread.sleep(PERIOD);
            } catch (InterruptedException e) {
                return;
            }
            // busy or idle: packs gc deleted in its own process are let go of (one stat of the
            // packs directory when nothing changed there), or their space stays taken until unmount
            try {
                int dropped = store.packs().dropDeleted();
                if (dropped > 0) {
                    System.err.println("cowfs: let go of " + dropped + " pack" + (dropped == 1 ? "" : "s") + " gc deleted");
                }
            } catch (RuntimeException e) { // the store closing under it: the mount is ending
                System.err.println("cowfs: looking for deleted packs: " + e);
            }
            long now = cpu();
            if (now - lastCpu > BUSY_NANOS) {
                idleSince = System.nanoTime();
                trimmed = false;
                settled = false;
            } else if (!trimmed && System.nanoTime() - idleSince >= IDLE.toNanos()) {
                long before = NativeHeap.resident();
                store.dropCache();
                vfs.trimMemory();
                JavaHeap.shrink();
                log("idle " + IDLE.toSeconds() + " s: block cache dropped, heap collected", before, NativeHeap.trim());
                trimmed = true;
                settled = true;
                now = cpu(); // the trim's own CPU use is not activity
            } else if (!settled && System.nanoTime() - idleSince >= QUIET.toNanos()) {
                long before = NativeHeap.resident();
                log("quiet", before, NativeHeap.trim());
                settled = true;
                now = cpu();
            }
            lastCpu = now;
        }
    }

    /** One line in the mount's log for a trim that left this process 1 MiB or more below before. */
    private static void log(String what, long before, boolean trimmed) {
        long after = trimmed ? NativeHeap.resident() : -1;
        if (after >= 0 && before - after >= 1 << 20) {
            System.err.println("cowfs: " + what + ": memory given back, " + NativeHeap.describe(before, after));
        }
    }

    private static long cpu() {
        return ProcessHandle.current().info().totalCpuDuration().map(Duration::toNanos).orElse(0L);
    }
}
