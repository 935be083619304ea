package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pack writer whose append or fsync failed takes no more calls (as restic's packer), and
 * Packs starts a new pack instead of appending to it. Failures are real: the writer's channel
 * is closed underneath it, so the next write or force fails in the JDK as an I/O error would.
 */
class PackWriterTest {
    @TempDir
    Path tmp;

    static byte[] block(int seed) {
        byte[] b = new byte[10_000];
        new java.util.Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void aFailedForceBreaksTheWriter() throws Exception {
        PackWriter w = new PackWriter(1, tmp.resolve(Packs.fileName(1)));
        byte[] raw = block(1);
        long at = w.append(ChunkId.hash(raw), raw, raw.length, PackRecord.CODEC_RAW);
        assertEquals(PackRecord.FILE_MAGIC.length, at);
        w.channel().close(); // the fsync below fails as a failing disk's would
        StoreException e = assertThrows(StoreException.class, w::force);
        assertTrue(e.getMessage().contains("cannot fsync pack"), e.getMessage());
        assertTrue(w.broken());
        // broken and says so, even for a call that would otherwise work
        StoreException again = assertThrows(StoreException.class, () -> w.append(ChunkId.hash(raw), raw, raw.length, PackRecord.CODEC_RAW));
        assertTrue(again.getMessage().contains("takes no more writes") && again.getMessage().contains("fsync failed"), again.getMessage());
        assertThrows(StoreException.class, w::force);
        w.close();
    }

    @Test
    void aFailedAppendBreaksTheWriter() throws Exception {
        PackWriter w = new PackWriter(2, tmp.resolve(Packs.fileName(2)));
        byte[] raw = block(2);
        w.channel().close();
        StoreException e = assertThrows(StoreException.class, () -> w.append(ChunkId.hash(raw), raw, raw.length, PackRecord.CODEC_RAW));
        assertTrue(e.getMessage().contains("cannot append"), e.getMessage());
        assertTrue(w.broken());
        StoreException again = assertThrows(StoreException.class, () -> w.append(ChunkId.hash(raw), raw, raw.length, PackRecord.CODEC_RAW));
        assertTrue(again.getMessage().contains("takes no more writes") && again.getMessage().contains("append failed"), again.getMessage());
        // a force is still tried (the records before the failed one may be named by the index): here the channel is gone
        StoreException force = assertThrows(StoreException.class, w::force);
        assertTrue(force.getMessage().contains("cannot fsync pack"), force.getMessage());
        w.close();
    }

    /**
     * A finished pack whose records are committed is closed (and unlocked) by the background
     * thread, after the fsync of it queued or running there, not by the committing thread:
     * FileChannel.close waits for I/O in flight on the channel, and the commit holds Packs' lock,
     * so every append waited with it. Packs.close still leaves no pack locked.
     */
    @Test
    void aPackBeingForcedIsUnlockedAfterItsForceNotByTheCommit() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("forcing"));
        java.util.concurrent.CountDownLatch hold = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch hold2 = new java.util.concurrent.CountDownLatch(1);
        Packs packs = new Packs(dir, 1); // every append starts a new pack
        boolean closed = false;
        try {
            byte[] first = block(5);
            ChunkLocation a = packs.append(ChunkId.hash(first), first, 0, first.length);
            occupyFlusher(hold); // the background thread is busy, as in an fsync of this pack
            byte[] second = block(6);
            ChunkLocation b = packs.append(ChunkId.hash(second), second, 0, second.length); // retires w
            assertNotEquals(a.pack(), b.pack());
            packs.releaseRetired(); // what a commit does; returns at once
            assertTrue(packs.isLive(a.pack()), "closed after its force, not by the commit");
            hold.countDown();
            packs.awaitClosed(10_000); // what a mount that gc asked to finish its pack does
            assertTrue(!packs.isLive(a.pack()), "unlocked once the force is over");
            assertEquals(0, packs.finishedUnforced(), "the force before the close counted");
            assertArrayEquals(first, packs.read(ChunkId.hash(first), a));

            // a close while such a close waits: Packs.close unlocks it itself
            occupyFlusher(hold2);
            byte[] third = block(7);
            packs.append(ChunkId.hash(third), third, 0, third.length);
            packs.releaseRetired();
            assertTrue(packs.isLive(b.pack()));
            closed = true;
            packs.close();
            try (Packs other = new Packs(dir, 64L << 20)) {
                assertTrue(!other.isLive(b.pack()), "Packs.close left no pack locked");
            }
        } finally {
            hold.countDown();
            hold2.countDown();
            if (!closed) {
                packs.close();
            }
        }
    }

    /** Keeps Packs' background thread busy until hold is counted down; returns once it is. */
    private static void occupyFlusher(java.util.concurrent.CountDownLatch hold) throws InterruptedException {
        java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
        Packs.FLUSHER.execute(() -> {
            held.countDown();
            try {
                hold.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertTrue(held.await(10, java.util.concurrent.TimeUnit.SECONDS));
    }

    /** After a failed sync, Packs appends to a new pack; what the old one holds still reads. */
    @Test
    void packsStartANewPackAfterAFailedSync() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("packs"));
        try (Packs packs = new Packs(dir, 64L << 20)) {
            byte[] first = block(3);
            ChunkLocation a = packs.append(ChunkId.hash(first), first, 0, first.length);
            PackWriter broken = packs.writer();
            broken.channel().close();
            assertThrows(StoreException.class, packs::sync);
            byte[] second = block(4);
            ChunkLocation b = packs.append(ChunkId.hash(second), second, 0, second.length);
            assertNotEquals(a.pack(), b.pack(), "a writer whose fsync failed is not appended to again");
            assertTrue(packs.isLive(a.pack()), "still locked as retired: its records may not be committed yet");
            packs.sync();
            assertArrayEquals(first, packs.read(ChunkId.hash(first), a));
            assertArrayEquals(second, packs.read(ChunkId.hash(second), b));
            List<Long> found = new ArrayList<>();
            Packs.scan(packs.path(a.pack()), r -> found.add(r.offset()));
            assertEquals(List.of(a.offset()), found, "the old pack holds its one record");
        }
    }

    /**
     * Records of every size and codec appended one after another from one thread (which reuses
     * one pooled direct record buffer) and from several at once read back exactly: a compressed
     * record after a shorter one once failed, the buffer still limited to the shorter record.
     */
    @Test
    void recordsOfMixedSizesAndCodecsReadBackExactly() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("mixed"));
        List<byte[]> chunks = new ArrayList<>();
        java.util.Random r = new java.util.Random(7);
        for (int i = 0; i < 60; i++) {
            int len = switch (i % 4) {
                case 0 -> 100 + r.nextInt(4000); // small and random: raw
                case 1 -> 65536; // whole and random: raw
                case 2 -> 20000 + r.nextInt(45000); // text-like: compressed
                default -> 1 + r.nextInt(30);
            };
            byte[] b = new byte[len];
            if (i % 4 == 2) {
                byte[] line = ("line " + i + " of a compressible chunk\n").getBytes();
                for (int k = 0; k < len; k++) {
                    b[k] = line[k % line.length];
                }
            } else {
                r.nextBytes(b);
            }
            chunks.add(b);
        }
        try (Packs packs = new Packs(dir, 64L << 20)) {
            List<ChunkLocation> locs = new ArrayList<>();
            for (byte[] b : chunks) {
                locs.add(packs.append(ChunkId.hash(b), b, 0, b.length));
            }
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
            List<java.util.concurrent.Future<ChunkLocation>> more = new ArrayList<>();
            try {
                for (byte[] b : chunks) {
                    byte[] copy = b.clone();
                    copy[0] ^= 1; // a different chunk of the same size and kind
                    more.add(pool.submit(() -> packs.append(ChunkId.hash(copy), copy, 0, copy.length)));
                }
                for (int i = 0; i < chunks.size(); i++) {
                    byte[] copy = chunks.get(i).clone();
                    copy[0] ^= 1;
                    assertArrayEquals(copy, packs.read(ChunkId.hash(copy), more.get(i).get()));
                }
            } finally {
                pool.shutdownNow();
            }
            int compressed = 0;
            for (int i = 0; i < chunks.size(); i++) {
                byte[] b = chunks.get(i);
                assertArrayEquals(b, packs.read(ChunkId.hash(b), locs.get(i)), "chunk " + i);
                compressed += locs.get(i).storedLen() < b.length ? 1 : 0;
            }
            assertEquals(15, compressed, "the text-like chunks, and only they, are compressed");
        }
    }
}
