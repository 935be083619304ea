package io.cowfs.fusefs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A mount grows its heap generously (free ratios 40/70) and shrinks it when idle: in a JVM run
 * as a mount is (SerialGC, those ratios, no shrinking in steps), with 20 MB live after 300 MB
 * were, a plain full GC leaves up to 70 % of the heap free and {@link JavaHeap#shrink} at most
 * ~20 %; the ratios are put back after it.
 */
class JavaHeapTest {
    /** Run in a child JVM: prints the committed heap after System.gc() and after shrink(), in MiB. */
    public static void main(String[] args) {
        byte[][] big = new byte[300][];
        for (int i = 0; i < big.length; i++) {
            big[i] = new byte[1 << 20];
        }
        byte[][] keep = java.util.Arrays.copyOf(big, 20);
        big = null;
        System.gc();
        long plain = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
        JavaHeap.shrink();
        long shrunk = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
        String min = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class)
                .getVMOption("MinHeapFreeRatio").getValue();
        String max = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class)
                .getVMOption("MaxHeapFreeRatio").getValue();
        System.out.println((plain >> 20) + " " + (shrunk >> 20) + " " + min + " " + max + " " + keep.length);
    }

    @Test
    void anIdleShrinkLeavesAFifthFreeAndPutsTheRatiosBack() throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(List.of(java.toString(), "-XX:+UseSerialGC", "-Xms4m", "-Xmx1g",
                "-XX:MinHeapFreeRatio=40", "-XX:MaxHeapFreeRatio=70", "-XX:-ShrinkHeapInSteps",
                "-cp", System.getProperty("java.class.path"), JavaHeapTest.class.getName()))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).strip();
        assertEquals(0, p.waitFor(), out);
        String[] f = out.split(" ");
        long plain = Long.parseLong(f[0]);
        long shrunk = Long.parseLong(f[1]);
        // the old generation at most live / 0.8, the young one half of that (NewRatio=2), a few MiB of the JVM's own
        assertTrue(shrunk <= 20 / 0.8 * 1.5 + 5, "shrunk heap " + shrunk + " MiB for 20 MiB live (plain gc: " + plain + ")");
        assertTrue(plain > 2 * shrunk, "a plain gc left " + plain + " MiB, the shrink " + shrunk);
        assertEquals("40", f[2], "MinHeapFreeRatio put back");
        assertEquals("70", f[3], "MaxHeapFreeRatio put back");
    }
}
