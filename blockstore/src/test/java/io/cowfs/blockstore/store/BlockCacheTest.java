package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The direct-memory block cache on its own: one load per chunk, pins, eviction, failures. */
class BlockCacheTest {
    private static final int BS = 4096;

    /** Chunk i's bytes: BS - i bytes of a pattern seeded by i (chunks shorter than a slot too). */
    private static byte[] content(int i) {
        byte[] b = new byte[BS - i];
        new Random(i).nextBytes(b);
        return b;
    }

    private static ChunkId id(int i) {
        return ChunkId.hash(content(i));
    }

    /** Loads chunk i from its id's position in ids, counting loads. */
    private static final class Loader implements BlockCache.Loader {
        final List<ChunkId> ids = new ArrayList<>();
        final AtomicInteger loads = new AtomicInteger();

        Loader(int n) {
            for (int i = 0; i < n; i++) {
                ids.add(id(i));
            }
        }

        @Override
        public int load(ChunkId id, ByteBuffer slot, ByteBuffer frame) {
            loads.incrementAndGet();
            byte[] b = content(ids.indexOf(id));
            slot.put(0, b);
            return b.length;
        }
    }

    private static byte[] read(BlockCache c, BlockCache.Loader l, ChunkId id, int from, int len) {
        ByteBuffer dst = ByteBuffer.allocate(len + 10);
        int n = c.copy(id, l, from, dst, 10, len);
        if (n < 0) {
            return new byte[0];
        }
        byte[] out = new byte[n];
        dst.get(10, out);
        return out;
    }

    @Test
    void copiesTheRangeAskedForAndStopsAtTheChunksEnd() {
        BlockCache c = new BlockCache(BS, 8 * BS);
        Loader l = new Loader(4);
        byte[] three = content(3);
        assertArrayEquals(java.util.Arrays.copyOfRange(three, 100, 300), read(c, l, id(3), 100, 200));
        assertArrayEquals(java.util.Arrays.copyOfRange(three, BS - 3 - 10, BS - 3), read(c, l, id(3), BS - 3 - 10, 500));
        assertEquals(0, read(c, l, id(3), BS, 10).length);
        assertEquals(1, l.loads.get(), "loaded once, then copied from the slot");
        assertArrayEquals(three, c.bytes(id(3)));
        assertNull(c.bytes(id(2)), "bytes() never loads");
    }

    /** With headroom, a loader gets the slot inside a frame: bytes written at headroom + i of the frame are byte i of the slot. */
    @Test
    void theFrameHoldsTheSlotAfterItsHeadroom() {
        int room = PackRecord.HEADER;
        BlockCache c = new BlockCache(BS, 8 * BS, room);
        byte[] two = content(2);
        BlockCache.Loader viaFrame = (id, slot, frame) -> {
            assertEquals(room + BS, frame.capacity());
            assertEquals(BS, slot.capacity());
            frame.put(0, new byte[room]); // the headroom is the loader's to use
            frame.put(room, two);
            return two.length;
        };
        assertArrayEquals(two, read(c, viaFrame, id(2), 0, BS));
    }

    @Test
    void concurrentReadersOfOneChunkWaitForOneLoad() throws Exception {
        BlockCache c = new BlockCache(BS, 8 * BS);
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch go = new CountDownLatch(1);
        Loader inner = new Loader(1);
        BlockCache.Loader slow = (id, slot, frame) -> {
            started.countDown();
            await(go);
            return inner.load(id, slot, frame);
        };
        ExecutorService pool = Executors.newFixedThreadPool(6);
        try {
            List<Future<byte[]>> rs = new ArrayList<>();
            for (int t = 0; t < 6; t++) {
                rs.add(pool.submit(() -> read(c, slow, id(0), 0, BS)));
            }
            assertTrue(started.await(10, TimeUnit.SECONDS));
            Thread.sleep(50); // the others queue up behind the load
            go.countDown();
            for (Future<byte[]> r : rs) {
                assertArrayEquals(content(0), r.get(10, TimeUnit.SECONDS));
            }
            assertEquals(1, inner.loads.get());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aFailedLoadFailsItsWaitersAndIsTriedAgainLater() {
        BlockCache c = new BlockCache(BS, 8 * BS);
        Loader good = new Loader(1);
        BlockCache.Loader bad = (id, slot, frame) -> {
            throw new StoreException.ChunkCorruptException(id, "test damage");
        };
        assertThrows(StoreException.ChunkCorruptException.class, () -> read(c, bad, id(0), 0, 10));
        assertFalse(c.contains(id(0)), "nothing is cached for a failed load");
        c.load(id(0), bad); // read-ahead swallows the error: the reader meets it
        assertArrayEquals(java.util.Arrays.copyOf(content(0), 10), read(c, good, id(0), 0, 10));
    }

    @Test
    void evictsUnpinnedSlotsAndStaysWithinItsSize() throws Exception {
        BlockCache c = new BlockCache(BS, 8 * BS);
        Loader l = new Loader(64);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> rs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int seed = t;
                rs.add(pool.submit(() -> {
                    Random r = new Random(seed);
                    for (int k = 0; k < 500; k++) {
                        int i = r.nextInt(64);
                        byte[] got = read(c, l, id(i), 0, BS);
                        if (got.length == 0) {
                            continue; // -1: every slot pinned at that instant (the caller reads another way)
                        }
                        assertArrayEquals(content(i), got, "chunk " + i);
                    }
                    return null;
                }));
            }
            for (Future<?> r : rs) {
                r.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(c.slots() <= 8, c.slots() + " slots");
        c.clear();
        assertEquals(0, c.slots());
    }

    @Test
    void startsSmallAndGrowsOnlyWhenWhatWasReadAheadWouldBeEvictedUnread() {
        BlockCache c = new BlockCache(BS, 256 * BS, 0, 16 * BS);
        Loader l = new Loader(1200);
        // a sequential reader without read-ahead: each chunk loaded, read once, its slot reused
        for (int i = 0; i < 600; i++) {
            assertArrayEquals(content(i), read(c, l, id(i), 0, BS));
        }
        assertEquals(16, c.slots(), "a reader that uses each chunk once needs no more than the start");
        assertEquals(600, l.loads.get());
        // read-ahead 40 chunks ahead of the reader, more than 16 slots hold: the cache grows rather
        // than evict a chunk loaded ahead and not read yet, so every chunk is loaded once
        for (int i = 600; i < 1200; i++) {
            if (i + 40 < 1200) {
                c.load(id(i + 40), l);
            }
            assertArrayEquals(content(i), read(c, l, id(i), 0, BS));
        }
        assertEquals(1200, l.loads.get(), "nothing read ahead was evicted before it was read");
        assertTrue(c.slots() > 40 && c.slots() <= 128, c.slots() + " slots: what the window needs (CLOCK gives a read chunk a second pass), not the 256 allowed");
        c.clear();
        assertEquals(0, c.slots());
        assertEquals(16, c.targetSlots(), "an idle mount's trim starts it small again");
    }

    @Test
    void withEverySlotPinnedByALoadTheCallerIsToldToReadAnotherWay() throws Exception {
        BlockCache c = new BlockCache(BS, 8 * BS);
        Loader inner = new Loader(9);
        CountDownLatch loading = new CountDownLatch(8);
        CountDownLatch go = new CountDownLatch(1);
        BlockCache.Loader slow = (id, slot, frame) -> {
            loading.countDown();
            await(go);
            return inner.load(id, slot, frame);
        };
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<byte[]>> rs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int i = t;
                rs.add(pool.submit(() -> read(c, slow, id(i), 0, BS)));
            }
            assertTrue(loading.await(10, TimeUnit.SECONDS));
            assertEquals(-1, c.copy(id(8), inner, 0, ByteBuffer.allocate(BS), 0, BS));
            go.countDown();
            for (int t = 0; t < 8; t++) {
                assertArrayEquals(content(t), rs.get(t).get(10, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static void await(CountDownLatch l) {
        try {
            l.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
