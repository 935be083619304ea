package io.cowfs.fusefs.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The kernel's node references, against a plain map doing the same, and from several threads at once. */
class NodeTableTest {
    @Test
    void runsOfConsecutiveIdsAndStridedIdsShareStripesCorrectly() {
        // ids in runs (kept together by the hash), ids a run or a large power of two apart (the
        // hash's worst cases for crowding), and partial runs; then half of them removed from the middle
        NodeTable t = new NodeTable();
        Map<Long, Long> want = new HashMap<>();
        for (long stride : new long[] {1, NodeTable.RUN, NodeTable.RUN + 1, 1L << 20, 1L << 40, 3}) {
            for (long k = 1; k <= 20_000; k++) {
                long id = (1L << 51) + 1_000_003L * stride + k * stride; // never 0 or the root
                t.ref(id);
                want.merge(id, 1L, Long::sum);
            }
        }
        int n = 0;
        for (Map.Entry<Long, Long> e : Map.copyOf(want).entrySet()) {
            if (n++ % 2 == 0) {
                assertTrue(t.forget(e.getKey(), e.getValue()));
                want.remove(e.getKey());
            }
        }
        assertEquals(want.size(), t.size());
        for (Map.Entry<Long, Long> e : want.entrySet()) {
            assertEquals(e.getValue(), t.count(e.getKey()), "count " + e.getKey());
        }
    }

    @Test
    void countsAsAMapWouldThroughGrowthRemovalAndShrinking() {
        NodeTable t = new NodeTable();
        Map<Long, Long> want = new HashMap<>();
        Random r = new Random(7);
        // sequential ids, as a walk hands them out, then random ones: both crowd some slots
        for (long id = 2; id < 200_000; id++) {
            t.ref(id);
            want.merge(id, 1L, Long::sum);
        }
        for (int k = 0; k < 400_000; k++) {
            long id = 2 + r.nextInt(300_000);
            if (r.nextInt(3) == 0) {
                long n = 1 + r.nextInt(3);
                long held = want.getOrDefault(id, 0L);
                boolean none = t.forget(id, n);
                assertEquals(held - n <= 0, none, "forget " + id);
                if (held - n <= 0) {
                    want.remove(id);
                } else {
                    want.put(id, held - n);
                }
            } else {
                t.ref(id);
                want.merge(id, 1L, Long::sum);
            }
        }
        assertEquals(want.size(), t.size());
        for (long id = 0; id < 300_010; id++) {
            assertEquals(want.getOrDefault(id, 0L), t.count(id), "count " + id);
        }
        // the kernel drops its caches: everything is forgotten, and the table is empty again
        for (Map.Entry<Long, Long> e : want.entrySet()) {
            assertTrue(t.forget(e.getKey(), e.getValue()));
        }
        assertEquals(0, t.size());
        assertEquals(0, t.count(5));
        assertTrue(t.forget(5, 1), "a node not held is held by none");
        t.ref(Proto.ROOT_ID);
        assertEquals(0, t.size(), "the root is never counted");
        t.ref(5);
        assertFalse(t.forget(5, 0));
        assertEquals(1, t.count(5));
    }

    @Test
    void threadsReferringAndForgettingDisjointAndSharedNodesKeepExactCounts() throws Exception {
        NodeTable t = new NodeTable();
        int threads = 4;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int w = 0; w < threads; w++) {
                int me = w;
                fs.add(pool.submit(() -> {
                    for (int round = 0; round < 20; round++) {
                        for (long id = 2; id < 20_000; id++) {
                            t.ref(id); // shared by every thread
                            t.ref(1_000_000L * (me + 1) + id); // this thread's own
                        }
                        for (long id = 2; id < 20_000; id++) {
                            t.forget(1_000_000L * (me + 1) + id, 1);
                        }
                    }
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(20_000 - 2, t.size());
        for (long id = 2; id < 20_000; id++) {
            assertEquals(threads * 20L, t.count(id));
        }
    }
}
