package io.cowfs.fusefs.mount;

import io.cowfs.fusefs.vfs.ViewFs;
import io.cowfs.blockstore.store.Store;
import java.time.Duration;

/**
 * Gives memory back when a mount has been idle: after {@link #IDLE} without CPU use, it drops
 * the decompressed-block cache (the kernel's page cache still holds what was read), frees the
 * native memory kept for dirty pages ({@link ViewFs#trimMemory}) and runs one
 * full GC so that the heap shrinks (mount processes run with MaxHeapFreeRatio=20). Twenty idle
 * mounts then cost what twenty freshly started ones do (docs/DESIGN-DECISIONS.md, 3).
 */
public final class IdleTrimmer {
    static final Duration IDLE = io.cowfs.blockstore.Config.fromSystemProperties().idleTrim();
    static final long BUSY_NANOS = 50_000_000L; // CPU use above this in a period counts as activity

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
        boolean trimmed = false;
        while (true) {
            try {
                Thread.sleep(Math.max(1000, IDLE.toMillis() / 3));
            } catch (InterruptedException e) {
                return;
            }
            long now = cpu();
            if (now - lastCpu > BUSY_NANOS) {
                idleSince = System.nanoTime();
                trimmed = false;
            } else if (!trimmed && System.nanoTime() - idleSince >= IDLE.toNanos()) {
                store.dropCache();
                vfs.trimMemory();
                System.gc();
                trimmed = true;
                now = cpu(); // the GC's own CPU use is not activity
            }
            lastCpu = now;
        }
    }

    private static long cpu() {
        return ProcessHandle.current().info().totalCpuDuration().map(Duration::toNanos).orElse(0L);
    }
}
