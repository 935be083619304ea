package io.cowfs.fusefs.mount;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;

/**
 * The mount process's Java heap: grown generously while it works, shrunk to its live data when
 * it idles. A mount runs with {@code MinHeapFreeRatio=40} and {@code MaxHeapFreeRatio=70}
 * (cli MountCommand.DAEMON_JVM): SerialGC grows the heap only at a full collection, by what keeps
 * the minimum free, so with 20 a first walk of a million files (live heap 4 -> 330 MB) took ~25
 * full collections to grow it and with 40 ~13 (2026-12-06, docs/PERFORMANCE.md). {@link #shrink}
 * runs one full collection with both ratios at 20, as mounts ran before, and puts them back: an
 * idle mount (or a spare process about to wait) keeps a fifth of its live data free, no more.
 * Both ratios are manageable flags of HotSpot (set at run time through its diagnostic bean);
 * where they cannot be set (another JVM), {@link #shrink} is a plain {@code System.gc()}.
 *
 * <p>Thread-safety: the flags are process-wide; {@link #shrink} is synchronized on this class, so
 * two callers never restore each other's values.
 */
public final class JavaHeap {
    /** The free share of the heap a shrink leaves, in percent. */
    static final int SHRUNK_FREE_RATIO = 20;

    private JavaHeap() {
    }

    /** One full GC that leaves at most {@link #SHRUNK_FREE_RATIO} % of the heap free. */
    public static synchronized void shrink() {
        HotSpotDiagnosticMXBean vm;
        String min;
        String max;
        try {
            vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
            min = vm.getVMOption("MinHeapFreeRatio").getValue();
            max = vm.getVMOption("MaxHeapFreeRatio").getValue();
        } catch (RuntimeException | LinkageError noBean) {
            System.gc();
            return;
        }
        // the minimum may never exceed the maximum: lower the minimum first, put it back last;
        // each setting put back on its own, so a failure (none is known: both are manageable
        // flags of every HotSpot collector) leaves neither lowered nor the caller's thread dead
        boolean minSet = set(vm, "MinHeapFreeRatio", Integer.toString(Math.min(SHRUNK_FREE_RATIO, Integer.parseInt(min))));
        boolean maxSet = minSet && set(vm, "MaxHeapFreeRatio", Integer.toString(SHRUNK_FREE_RATIO));
        try {
            System.gc();
        } finally {
            if (maxSet) {
                set(vm, "MaxHeapFreeRatio", max);
            }
            if (minSet) {
                set(vm, "MinHeapFreeRatio", min);
            }
        }
    }

    private static boolean set(HotSpotDiagnosticMXBean vm, String flag, String value) {
        try {
            vm.setVMOption(flag, value);
            return true;
        } catch (RuntimeException e) {
            System.err.println("cowfs: cannot set " + flag + "=" + value + ": " + e.getMessage());
            return false;
        }
    }
}
