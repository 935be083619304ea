package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The chunk store on real LMDB, zstd and pack files. */
class StoreTest {
    @TempDir
    Path tmp;

    static byte[] random(long seed, int n) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    Path dir() {
        return tmp.resolve("store");
    }

    static void commit(Store s) {
        s.commit(txn -> null);
    }

    /**
     * A commit advances the store's generation only if it stamps a chunk: one of names and
     * attributes alone leaves the meta database alone (one page fewer per chmod in a view), and
     * a chunk committed after a lease was taken is still newer than the lease, so gc keeps it.
     */
    @Test
    void aCommitWithNoChunksLeavesTheGenerationAndALaterChunkIsNewerThanALease() {
        try (Store s = Store.init(dir(), 64 * 1024)) {
            ChunkId first = s.put(random(1, 5000), 0, 5000, true, false);
            commit(s);
            long g0 = s.index().read(s::currentGen);
            assertTrue(g0 > 0, "a commit that indexed a chunk advanced the generation");
            for (int i = 0; i < 3; i++) {
                commit(s);
            }
            assertEquals(g0, s.index().read(s::currentGen), "commits without chunks left it");
            try (Store.Lease lease = s.lease()) {
                ChunkId second = s.put(random(2, 5000), 0, 5000, true, false);
                commit(s);
                long g1 = s.index().read(s::currentGen);
                assertTrue(g1 > g0, "the next chunk's commit advanced it");
                long floor = s.index().write(s::leaseFloor);
                assertEquals(g0, floor, "the lease holds the generation it saw");
                assertTrue(s.index().read(txn -> s.index().chunks.location(txn, second)).gen() >= floor,
                        "a chunk committed under the lease is at or past its floor: gc keeps it");
                assertEquals(g0, s.index().read(txn -> s.index().chunks.location(txn, first)).gen());
            }
        }
    }

    @Test
    void wholeBlocksAreReadStraightIntoTheCallersBufferWithTheBytesBeforeThemKept() {
        int bs = 64 * 1024;
        byte[][] blocks = {random(1, bs), ("compressible text ".repeat(4000)).substring(0, bs).getBytes(StandardCharsets.US_ASCII),
            random(2, bs), random(3, bs), random(4, 1000)};
        List<ChunkId> ids = new ArrayList<>();
        try (Store s = Store.init(dir(), bs)) {
            for (byte[] b : blocks) {
                ids.add(s.put(b, 0, b.length, true, false));
            }
            commit(s);
        }
        try (Store s = Store.open(dir())) {
            int base = 100; // bytes before the first block: a raw record's header lands there, then they are put back
            java.nio.ByteBuffer out = java.nio.ByteBuffer.allocateDirect(base + 4 * bs + 1000);
            byte[] guard = random(9, base);
            out.put(0, guard);
            int n = ids.size();
            int[] pos = new int[n];
            int[] max = new int[n];
            int[] lens = new int[n];
            for (int i = 0; i < n; i++) {
                pos[i] = base + i * bs;
                max[i] = blocks[i].length;
            }
            s.readAllInto(ids, out, pos, max, lens);
            for (int i = 0; i < n; i++) {
                assertEquals(blocks[i].length, lens[i], "block " + i + " placed");
                byte[] got = new byte[blocks[i].length];
                out.get(pos[i], got);
                assertArrayEquals(blocks[i], got, "block " + i);
            }
            byte[] before = new byte[base];
            out.get(0, before);
            assertArrayEquals(guard, before, "the bytes before the first block are as they were");

            // not placed: a raw block with no room before it for its header, one longer than allowed,
            // and one the block cache holds (read through it); the compressible one needs no room
            s.read(ids.get(3), 0, java.nio.ByteBuffer.allocateDirect(bs), 0, bs);
            int[] pos2 = {0, 10, 2 * bs, 3 * bs};
            int[] max2 = {bs, bs, bs - 1, bs};
            int[] lens2 = new int[4];
            s.readAllInto(ids.subList(0, 4), out, pos2, max2, lens2);
            assertArrayEquals(new int[] {-1, bs, -1, -1}, lens2);
        }
    }

    /**
     * readAll reads chunks into one pooled scratch buffer, raw and compressed alike, each slice
     * exactly its chunk; it reads nothing for a chunk a cache holds, one longer than asked, one
     * the index does not know, or one damaged on disk (the usual read says what is wrong). A
     * buffer given back is used again by the next read.
     */
    @Test
    void chunksAreReadTogetherIntoAScratchBufferAndChecked() throws Exception {
        int bs = 64 * 1024;
        byte[][] blocks = {random(11, 3000), ("delta text ".repeat(3000)).substring(0, 20000).getBytes(StandardCharsets.US_ASCII),
            random(12, bs), random(13, 17), random(14, 5000), random(15, 4000)};
        List<ChunkId> ids = new ArrayList<>();
        try (Store s = Store.init(dir(), bs)) {
            for (byte[] b : blocks) {
                ids.add(s.put(b, 0, b.length, true, false));
            }
            commit(s);
        }
        ChunkLocation damaged;
        Path pack;
        try (Store s = Store.open(dir())) {
            try (Store.Reads r = s.readAll(ids, bs)) {
                for (int i = 0; i < blocks.length; i++) {
                    assertEquals(blocks[i].length, r.got[i].limit(), "chunk " + i);
                    byte[] b = new byte[r.got[i].limit()];
                    r.got[i].get(0, b);
                    assertArrayEquals(blocks[i], b, "chunk " + i);
                }
            }
            s.read(ids.get(0), 0, java.nio.ByteBuffer.allocateDirect(bs), 0, bs); // now in the block cache
            List<ChunkId> asked = new ArrayList<>(ids);
            asked.add(ChunkId.hash(random(16, 100))); // not in the index
            try (Store.Reads r = s.readAll(asked, 30000)) {
                assertNull(r.got[0], "cached");
                assertNotNull(r.got[1], "compressed, 20000 raw bytes");
                assertNull(r.got[2], "longer than asked");
                assertNotNull(r.got[3]);
                assertNull(r.got[6], "unknown");
            }
            damaged = s.locate(ids.get(4));
            pack = s.packs().path(damaged.pack());
        }
        flip(pack, damaged.offset() + PackRecord.HEADER + 100);
        try (Store s = Store.open(dir()); Store.Reads r = s.readAll(ids.subList(3, 6), bs)) {
            assertNotNull(r.got[0]);
            assertNull(r.got[1], "damaged");
            byte[] b = new byte[r.got[2].limit()];
            r.got[2].get(0, b);
            assertArrayEquals(blocks[5], b, "the chunk after the damaged one");
            assertThrows(StoreException.ChunkCorruptException.class, () -> s.get(ids.get(4)), "the usual read reports it");
        }
    }

    @Test
    void initWritesAFormatRecordAndReopens() throws Exception {
        try (Store s = Store.init(dir(), 16 * 1024)) {
            assertEquals(16 * 1024, s.blockSize());
        }
        String props = Files.readString(dir().resolve(Store.FORMAT_FILE));
        assertTrue(props.contains("format=" + Store.FORMAT), props);
        assertTrue(props.contains("blockSize=16384"), props);
        try (Store s = Store.open(dir())) {
            assertEquals(16 * 1024, s.blockSize());
        }
    }

    @Test
    void dropCacheClosesThePooledCodecsAndNewOnesAreMadeAsNeeded() {
        byte[] a = new byte[50_000]; // compressible: goes through zstd both ways
        byte[] b = new byte[50_000];
        java.util.Arrays.fill(a, (byte) 'a');
        java.util.Arrays.fill(b, (byte) 'b');
        ChunkId ia;
        ChunkId ib;
        try (Store s = Store.init(dir(), 64 * 1024)) {
            ia = s.put(a);
            commit(s);
            s.dropCache();
            ib = s.put(b);
            commit(s);
            s.dropCache();
            assertArrayEquals(a, s.readVerified(ia));
            s.dropCache();
            assertArrayEquals(b, s.readVerified(ib));
        }
        try (Store s = Store.open(dir())) {
            assertArrayEquals(a, s.get(ia));
            assertArrayEquals(b, s.get(ib));
        }
    }

    @Test
    void aRetainedHitThatGcRemovedBeforeTheCommitIsStoredAgainFromItsCopy() {
        byte[] data = random(41, 40_000);
        ChunkId id;
        try (Store s = Store.init(dir(), 64 * 1024)) {
            id = s.put(data, 0, data.length, true, false);
            commit(s);
            byte[] again = data.clone();
            assertEquals(id, s.put(again, 0, again.length, true, false)); // a dedup hit that keeps a copy
            java.util.Arrays.fill(again, (byte) 0); // the caller reuses its buffer at once
            s.index().write(txn -> s.index().chunks.delete(txn, id.bytes())); // as a concurrent gc would
            assertArrayEquals(data, s.readVerified(id), "read from the retained copy before the commit");
            commit(s);
            assertNotNull(s.index().read(txn -> s.index().chunks.location(txn, id)), "stored again by the commit");
            assertArrayEquals(data, s.readVerified(id));
            // a hit that kept no copy (an import's, under a lease) cannot be stored again: the commit says so
            byte[] other = random(42, 30_000);
            ChunkId o = s.put(other, 0, other.length, true, false);
            commit(s);
            assertEquals(o, s.put(other, 0, other.length, false, false));
            s.index().write(txn -> s.index().chunks.delete(txn, o.bytes()));
            StoreException e = assertThrows(StoreException.class, () -> commit(s));
            assertTrue(e.getMessage().contains("collected by a concurrent gc"), e.getMessage());
        }
        try (Store s = Store.open(dir())) {
            assertArrayEquals(data, s.get(id));
        }
    }

    /**
     * A hit of Store.Appends keeps no copy: a commit that finds it collected drops it instead of
     * failing, missing() names it to its owner, and putting it again appends it.
     */
    @Test
    void anAppendsHitThatGcRemovedIsNamedByMissingAndStoredAgain() {
        byte[] data = random(45, 40_000);
        try (Store s = Store.init(dir(), 64 * 1024)) {
            ChunkId id = s.put(data, 0, data.length, true, false);
            commit(s);
            try (Store.Appends a = s.appends()) {
                assertEquals(id, a.put(data, 0, data.length));
            }
            assertEquals(1, s.appendedChunks.get(), "a hit is not appended");
            s.index().write(txn -> s.index().chunks.delete(txn, id.bytes())); // as a concurrent gc would
            List<ChunkId> missing = s.commit(txn -> s.missing(txn, List.of(id))); // another commit: not failed by the hit
            assertEquals(List.of(id), missing, "the owner's check names the collected hit");
            try (Store.Appends a = s.appends()) {
                assertEquals(id, a.put(data, 0, data.length));
            }
            assertEquals(2, s.appendedChunks.get(), "put again: appended, not a hit of the dropped entry");
            assertEquals(List.of(), s.commit(txn -> s.missing(txn, List.of(id))));
            assertArrayEquals(data, s.readVerified(id));
        }
    }

    /**
     * A dedup hit of Store.Appends (a view's block the store holds already) is not re-stamped by
     * the commit that takes it: its owner names it in the transaction that checks it is indexed,
     * and gc keeps what a view names. A hit of a plain put (an import's, kept for a lease) is.
     */
    @Test
    void anAppendsHitIsNotRestampedAPlainPutHitIs() {
        byte[] a = random(47, 30_000);
        byte[] b = random(48, 30_000);
        try (Store s = Store.init(dir(), 64 * 1024)) {
            ChunkId ia = s.put(a, 0, a.length, true, false);
            ChunkId ib = s.put(b, 0, b.length, true, false);
            commit(s);
            long ga = s.locate(ia).gen();
            long gb = s.locate(ib).gen();
            try (Store.Appends run = s.appends()) {
                assertEquals(ia, run.put(a, 0, a.length));
            }
            assertEquals(ib, s.put(b, 0, b.length, false, false));
            assertEquals(List.of(), s.commit(txn -> s.missing(txn, List.of(ia, ib))), "both indexed");
            assertEquals(ga, s.locate(ia).gen(), "the view's hit keeps its stamp");
            assertTrue(s.locate(ib).gen() > gb, "the import's hit is stamped again");
            assertArrayEquals(a, s.readVerified(ia));
        }
    }

    /**
     * Appends.putUnindexed skips the index lookup (a view's sub-block deltas): a chunk the index
     * holds already is appended again, and its commit keeps the indexed copy, stamped with the
     * commit's generation as a dedup hit's is (so a gc that marked before that commit keeps it);
     * the second record is left for gc (unindexed records are leftovers it reclaims), and the
     * chunk reads back throughout.
     */
    @Test
    void anUnindexedPutOfAnIndexedChunkKeepsTheIndexedCopyRestamped() throws Exception {
        byte[] data = random(46, 5_000);
        Store.init(dir(), 64 * 1024).close();
        Path props = dir().resolve(Store.FORMAT_FILE); // format 6: deltas named by their hash
        Files.writeString(props, Files.readString(props).replace("format=" + Store.FORMAT, "format=6"));
        try (Store s = Store.open(dir())) {
            assertFalse(s.sequencedDeltas());
            ChunkId id;
            try (Store.Appends a = s.appends()) {
                id = a.putUnindexed(data, 0, data.length);
                assertEquals(id, a.putUnindexed(data, 0, data.length), "this process's pending chunk dedups it");
            }
            assertEquals(1, s.appendedChunks.get());
            commit(s);
            ChunkLocation first = s.locate(id);
            assertNotNull(first);
            try (Store.Appends a = s.appends()) {
                assertEquals(id, a.putUnindexed(data, 0, data.length));
            }
            assertEquals(2, s.appendedChunks.get(), "no lookup: appended again");
            commit(s);
            ChunkLocation now = s.locate(id);
            assertEquals(first.pack(), now.pack());
            assertEquals(first.offset(), now.offset(), "the indexed copy stays");
            assertTrue(now.gen() > first.gen(), "and is stamped by the commit that named it again: " + first + " -> " + now);
            assertArrayEquals(data, s.readVerified(id));
        }
        try (Store s = Store.open(dir())) {
            assertArrayEquals(data, s.readVerified(ChunkId.hash(data)), "after a reopen");
        }
    }

    /**
     * Format 7: putUnindexed (a view's sub-block deltas) gives sequenced ids, which grow with each
     * put and carry the first 24 bytes of the SHA-256; the same bytes twice in one Appends are
     * stored once, in a later one again under a new id. Every id reads back verified, after a
     * reopen too, and a record whose payload is damaged fails its check as a hash-named one does.
     */
    @Test
    void unindexedPutsGetSequencedIdsThatNameTheirContent() throws Exception {
        byte[] data = random(47, 5_000);
        byte[] other = random(48, 3_000);
        ChunkId a1;
        ChunkId a2;
        ChunkId b1;
        try (Store s = Store.init(dir(), 64 * 1024)) {
            assertTrue(s.sequencedDeltas(), "a new store is of format " + Store.FORMAT);
            try (Store.Appends a = s.appends()) {
                a1 = a.putUnindexed(data, 0, data.length);
                assertEquals(a1, a.putUnindexed(data, 0, data.length), "the same bytes in one persist: one chunk");
                b1 = a.putUnindexed(other, 0, other.length);
            }
            try (Store.Appends a = s.appends()) {
                a2 = a.putUnindexed(data, 0, data.length);
            }
            commit(s);
            ChunkId hash = ChunkId.hash(data);
            for (ChunkId id : List.of(a1, a2, b1)) {
                assertEquals(ChunkId.SEQUENCED, id.bytes()[0], id.hex());
            }
            assertTrue(a1.names(hash) && a2.names(hash) && b1.names(ChunkId.hash(other)), a1 + " " + a2 + " " + b1);
            assertFalse(a1.names(ChunkId.hash(other)), "an id names its own content only");
            assertNotEquals(a1, a2, "a later persist: a new id");
            assertTrue(a1.compareTo(b1) < 0 && b1.compareTo(a2) < 0, "ids grow in the order they were given: " + a1 + " " + b1 + " " + a2);
            assertEquals(3, s.appendedChunks.get());
            assertNull(s.locate(hash), "nothing is indexed under the hash");
            assertArrayEquals(data, s.readVerified(a1));
            assertArrayEquals(data, s.readVerified(a2));
            assertArrayEquals(other, s.readVerified(b1));
        }
        ChunkLocation loc;
        Path pack;
        try (Store s = Store.open(dir())) {
            assertArrayEquals(data, s.readVerified(a1), "after a reopen");
            assertTrue(s.sequencedId(ChunkId.hash(other)).compareTo(a2) > 0, "a later process's ids sort after");
            loc = s.locate(b1);
            pack = s.packs().path(loc.pack());
        }
        flip(pack, loc.offset() + PackRecord.HEADER + loc.storedLen() / 2); // in the payload (random bytes: stored raw)
        try (Store s = Store.open(dir())) {
            StoreException e = assertThrows(StoreException.ChunkCorruptException.class, () -> s.readVerified(b1));
            assertTrue(e.getMessage().contains("does not match its hash"), e.getMessage());
            assertArrayEquals(data, s.readVerified(a1), "the others still read");
        }
    }

    @Test
    void putCommitGetSurvivesReopen() {
        byte[] random = random(1, 65536);
        byte[] text = "the same line of text\n".repeat(3000).getBytes(StandardCharsets.UTF_8);
        ChunkId r;
        ChunkId t;
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            r = s.put(random);
            t = s.put(text, 0, 65536);
            assertEquals(ChunkId.hash(random), r, "a chunk's id is the SHA-256 of its raw bytes");
            assertNull(s.locate(r), "not in the index before commit");
            commit(s);
            assertNotNull(s.locate(r));
        }
        try (Store s = Store.open(dir())) {
            assertArrayEquals(random, s.get(r));
            assertArrayEquals(java.util.Arrays.copyOf(text, 65536), s.readVerified(t));
            ChunkLocation lr = s.locate(r);
            ChunkLocation lt = s.locate(t);
            assertEquals(65536, lr.rawLen());
            assertEquals(65536, lr.storedLen(), "incompressible data is stored raw");
            assertTrue(lt.storedLen() < 2000, "text is compressed: " + lt);
            assertTrue(lt.gen() > 0, "commit stamps a generation");
        }
    }

    @Test
    void identicalBytesAreStoredOnce() {
        byte[] a = random(2, 40000);
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            ChunkId x = s.put(a);
            ChunkId y = s.put(a.clone());
            assertEquals(x, y);
            assertEquals(1, s.appendedChunks.get(), "a pending chunk is not appended again");
            commit(s);
            assertEquals(x, s.put(a.clone()));
            assertEquals(1, s.appendedChunks.get(), "an indexed chunk is not appended again");
            commit(s);
            assertEquals(1, StoreStats.of(s).chunks());
        }
        try (Store s = Store.open(dir())) {
            s.put(a);
            assertEquals(0, s.appendedChunks.get(), "another process finds it in the index");
        }
    }

    /**
     * Bug (Store.put): two threads that put the same new block at the same moment both pass the
     * pending/index check before either records it, so both append it; the index keeps one entry
     * and the pack keeps a dead copy. Import hits this whenever both workers read identical files.
     */
    @Test
    void concurrentPutsOfOneBlockAppendItOnce() throws Exception {
        int rounds = 200; // each round races with a good chance; one lost race shows the bug
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            CyclicBarrier barrier = new CyclicBarrier(2);
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                List<Future<?>> fs = new ArrayList<>();
                for (int t = 0; t < 2; t++) {
                    fs.add(pool.submit(() -> {
                        for (int i = 0; i < rounds; i++) {
                            byte[] b = random(1000 + i, 65536);
                            barrier.await();
                            s.put(b);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : fs) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
            commit(s);
            StoreStats st = StoreStats.of(s);
            assertEquals(rounds, st.chunks());
            assertEquals(rounds, s.appendedChunks.get(), "blocks appended for " + rounds + " distinct blocks");
            assertEquals(st.storedBytes() + PackRecord.FILE_MAGIC.length * st.packFiles(), st.packBytes(), "dead records in the packs");
        }
    }

    /**
     * Store.Appends (a view's persist): the new chunks of a run reach the pack with one write at
     * close, back to back in put order, and read back once committed; a repeat is stored once.
     */
    @Test
    void appendsWriteTheirChunksToThePackInOneRunAtClose() throws Exception {
        PackRecord.forgetSmallRun(); // the first text record is tried (PackRecordTest: runs of raw ones)
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            s.put(random(40, 1000)); // opens this process's pack
            Path pack = s.packs().path(s.packs().writer().packId);
            long before = Files.size(pack);
            List<byte[]> blocks = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                blocks.add(i % 4 == 0 ? ("text " + i + "\n").repeat(600).getBytes(StandardCharsets.UTF_8) : random(50 + i, 4096 * (1 + i % 3)));
            }
            List<ChunkId> ids = new ArrayList<>();
            try (Store.Appends a = s.appends()) {
                for (byte[] b : blocks) {
                    ids.add(a.put(b, 0, b.length));
                }
                assertEquals(ids.get(2), a.put(blocks.get(2).clone(), 0, blocks.get(2).length), "a repeat is the same chunk");
                assertEquals(before, Files.size(pack), "nothing is written before the run is");
            }
            assertEquals(1 + blocks.size(), s.appendedChunks.get(), "each chunk appended once");
            commit(s);
            List<Long> offsets = new ArrayList<>();
            long end = Packs.scan(pack, r -> offsets.add(r.offset()));
            assertEquals(Files.size(pack), end, "the pack is whole");
            assertEquals(1 + blocks.size(), offsets.size());
            for (int i = 0; i < blocks.size(); i++) {
                ChunkLocation loc = s.locate(ids.get(i));
                assertEquals(offsets.get(1 + i), loc.offset(), "record " + i + " in put order");
                assertArrayEquals(blocks.get(i), s.readVerified(ids.get(i)));
            }
            assertTrue(s.locate(ids.get(0)).storedLen() < 1000, "text is compressed in a run too");
        }
    }

    /**
     * Bug (PendingChunks.commit): a commit took the pending chunks out of the set before its
     * transaction committed, so a transaction that failed after that (its work threw, the map grew
     * under it, or the disk was full when LMDB wrote its pages) lost them: the chunk stayed out of
     * the index, and a retried commit could name it in a view's block list (a missing chunk).
     */
    @Test
    void aCommitThatFailsKeepsItsChunksPendingForTheNext() {
        byte[] a = random(43, 4096);
        byte[] b = random(44, 4096);
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            ChunkId x = s.put(a);
            ChunkId y;
            try (Store.Appends run = s.appends()) {
                y = run.put(b, 0, b.length);
            }
            RuntimeException boom = assertThrows(RuntimeException.class, () -> s.commit(txn -> {
                throw new IllegalStateException("the work failed");
            }));
            assertEquals("the work failed", boom.getMessage());
            assertNull(s.locate(x), "the failed transaction committed nothing");
            commit(s);
            assertNotNull(s.locate(x), "the next commit indexes what the failed one did not");
            assertNotNull(s.locate(y));
            assertArrayEquals(a, s.readVerified(x));
            assertArrayEquals(b, s.readVerified(y));
        }
    }

    /** A run whose write fails drops its claims: the same bytes put again are appended and read back. */
    @Test
    void aRunThatCannotBeWrittenDropsItsClaims() throws Exception {
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            s.put(random(41, 1000)); // opens this process's pack
            byte[] b = random(42, 4096);
            Store.Appends a = s.appends();
            ChunkId id = a.put(b, 0, b.length);
            s.packs().writer().channel().close(); // the run's write fails, as on a failing disk
            assertThrows(StoreException.class, a::close);
            commit(s);
            assertNull(s.locate(id), "nothing of the failed run is indexed");
            assertEquals(id, s.put(b));
            commit(s);
            assertArrayEquals(b, s.readVerified(id), "stored again, in a new pack");
        }
    }

    /** A store whose packs roll over every 64 KiB. */
    private Store smallPacks() {
        return Store.init(dir(), Store.DEFAULT_BLOCK_SIZE,
                io.cowfs.blockstore.Config.of(java.util.Map.of("cowfs.pack.rollover", Long.toString(64 << 10))));
    }

    @Test
    void syncForcesEveryPackWrittenSinceTheLastSyncNotOnlyTheCurrentOne() throws Exception {
        try (Store s = smallPacks()) {
            for (int i = 0; i < 12; i++) {
                s.put(random(100 + i, 16 << 10)); // incompressible: 3 packs
            }
            commit(s); // the full packs are closed with it (nothing of them uncommitted)
            for (int i = 0; i < 8; i++) {
                s.put(random(200 + i, 16 << 10)); // and two more packs, one retired (not committed)
            }
            try (var packs = java.nio.file.Files.list(dir().resolve("packs"))) {
                assertTrue(packs.count() >= 5, "the puts rolled over");
            }
            assertTrue(s.packs().anyUnforced());
            s.sync();
            assertFalse(s.packs().anyUnforced(), "every pack written since the last sync was forced by it");
            s.put(random(300, 16 << 10));
            assertTrue(s.packs().anyUnforced(), "and the next record is not");
        }
    }

    /**
     * A sync with nothing appended since the last forces no pack (an fsync would cost the disk
     * a cache flush all the same: an fsync of a directory or after a rename in a view). The
     * pack's descriptor is closed underneath after the first sync, so any fsync through it
     * fails: the second sync passing shows it tried none (before 2026-12-05 it failed here).
     */
    @Test
    void aSyncWithNothingAppendedSinceTheLastForcesNoPack() throws Exception {
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            s.put(random(600, 5000));
            commit(s);
            s.sync();
            assertFalse(s.packs().anyUnforced());
            s.packs().writer().channel().close();
            commit(s); // names and attributes only: nothing appended
            s.sync();
            assertFalse(s.packs().anyUnforced());
        }
    }

    /**
     * Fsyncs of a few KiB each (a database's commits) append over zeros the pack writer wrote and
     * forced ahead, from the second such fsync on, so ext4 has no new size or blocks to commit
     * for them: the file keeps its length while the records fill the zeros, and grows by the
     * next 1 MiB of zeros only when fewer than 64 KiB are left. A bulk write's fsync, and the
     * syncs of commands (Store.sync), prepare nothing. A crash leaves the zeros as the pack's
     * tail: the scan stops at them with every record found, and the store opened from a copy
     * taken then is clean, reads every chunk and takes appends; a pack finished normally ends at
     * its last record.
     */
    @Test
    void smallFsyncsAppendOverZerosForcedAheadAndACrashLeavesThemAsATornTail() throws Exception {
        List<ChunkId> ids = new ArrayList<>();
        List<byte[]> datas = new ArrayList<>();
        Path crashed = tmp.resolve("crashed");
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            java.util.function.IntConsumer fsyncOne = i -> {
                byte[] d = random(800 + i, 5000);
                ids.add(s.put(d));
                datas.add(d);
                commit(s);
                s.fsync();
            };
            fsyncOne.accept(0);
            PackWriter w = s.packs().writer();
            Path pack = w.path();
            assertEquals(w.size(), w.fileEnd(), "one small fsync prepares nothing");
            fsyncOne.accept(1);
            assertEquals(w.size() + PackWriter.PREPARE_AHEAD, w.fileEnd(), "the second: zeros prepared past the records");
            long length = Files.size(pack);
            assertEquals(w.fileEnd(), length);
            int grown = 0;
            for (int i = 2; i < 260; i++) { // 1.3 MB of records: past the first 1 MiB of zeros
                long before = Files.size(pack);
                fsyncOne.accept(i);
                long after = Files.size(pack);
                assertEquals(w.fileEnd(), after);
                if (after != before) {
                    assertTrue(before - w.size() < PackWriter.PREPARE_LOW, "grown only when under 64 KiB were left");
                    assertEquals(w.size() + PackWriter.PREPARE_AHEAD, after, "by the next 1 MiB of zeros");
                    grown++;
                }
            }
            assertEquals(1, grown, "the file grew once in 1.3 MB of records");
            assertTrue(w.size() < Files.size(pack));
            length = Files.size(pack);
            byte[] tail = new byte[(int) (length - w.size())];
            try (RandomAccessFile f = new RandomAccessFile(pack.toFile(), "r")) {
                f.seek(w.size());
                f.readFully(tail);
            }
            assertArrayEquals(new byte[tail.length], tail, "past the last record: zeros");
            List<ChunkId> scanned = new ArrayList<>();
            long end = Packs.scan(pack, r -> scanned.add(r.id()));
            assertEquals(w.size(), end, "the scan stops at the zeros");
            assertTrue(Packs.zerosFrom(pack, end));
            assertEquals(ids, scanned);
            copyTree(dir(), crashed); // the store as a kill -9 leaves it
        }
        try (Store s = Store.open(dir())) {
            for (long p : s.packs().list()) {
                Path f = s.packs().path(p);
                assertEquals(Files.size(f), Packs.scan(f, r -> { }), "a finished pack ends at its last record: " + f);
            }
        }
        try (Store s = Store.open(crashed)) {
            var report = new io.cowfs.blockstore.gc.Fsck(s, false).run(n -> { });
            assertTrue(report.problems().isEmpty(), "fsck of the crashed copy: " + report.problems());
            for (int i = 0; i < ids.size(); i++) {
                assertArrayEquals(datas.get(i), s.get(ids.get(i)));
            }
            byte[] d = random(900, 5000); // the crashed pack is another process's: a new one takes appends
            ChunkId id = s.put(d);
            commit(s);
            s.fsync();
            assertArrayEquals(d, s.get(id));
        }
        Path bulk = tmp.resolve("bulk");
        try (Store s = Store.init(bulk, Store.DEFAULT_BLOCK_SIZE)) {
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 16; i++) {
                    s.put(random(1000 + 16 * round + i, 64 << 10)); // 1 MiB incompressible per fsync
                }
                commit(s);
                s.fsync();
            }
            for (int i = 0; i < 5; i++) {
                s.put(random(2000 + i, 5000));
                commit(s);
                s.sync(); // a command's sync, small as it may be
            }
            PackWriter w = s.packs().writer();
            assertEquals(w.size(), w.fileEnd(), "bulk fsyncs and commands' syncs prepare no zeros");
            assertEquals(w.size(), Files.size(w.path()));
        }
    }

    /**
     * fsck --repair re-points a damaged index entry at a copy of the chunk that reads back intact,
     * not merely at the first copy its scan found: a record torn by a crash can have a whole
     * header (one appended over zeros prepared for fsyncs), and rot can hit any copy. Here the
     * first pack's copy has a damaged payload and a second pack holds an intact one.
     */
    @Test
    void fsckRepairsADamagedEntryFromACopyThatReadsIntactNotTheFirstFound() throws Exception {
        byte[] data = random(950, 5000);
        ChunkId id;
        ChunkLocation a;
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            id = s.put(data);
            commit(s);
            a = s.locate(id);
        }
        try (Store s = Store.open(dir())) {
            ChunkLocation b = s.packs().copyRecord(id, a); // another process's pack: a second copy, unreferenced
            assertNotEquals(a.pack(), b.pack());
            s.sync();
        }
        try (RandomAccessFile f = new RandomAccessFile(dir().resolve("packs").resolve(Packs.fileName(a.pack())).toFile(), "rw")) {
            long at = a.offset() + PackRecord.HEADER + 100;
            f.seek(at);
            int x = f.read();
            f.seek(at);
            f.write(x ^ 0xff); // the first copy's payload: a whole header over damaged bytes
        }
        try (Store s = Store.open(dir())) {
            ChunkLocation wrong = new ChunkLocation(a.pack(), a.offset() + 1, a.storedLen(), a.rawLen(), a.gen());
            s.index().write(txn -> {
                s.index().chunks.put(txn, id.bytes(), wrong.encode());
                return null;
            });
            var report = new io.cowfs.blockstore.gc.Fsck(s, true).run(n -> { });
            assertEquals(1, report.problems().size(), report.problems().toString());
            assertTrue(report.problems().get(0).repaired(), report.problems().toString());
            assertArrayEquals(data, s.get(id));
            assertNotEquals(a.pack(), s.locate(id).pack(), "the intact copy's pack");
        }
    }

    /**
     * gc takes a pack that a crash left ending in prepared zeros for one no writer is filling:
     * before, its tail past the last record made gc keep it as a pack a running writer might
     * still append to, for as long as any lease holder that started before it lived.
     */
    @Test
    void gcRewritesAPackEndingInPreparedZerosWhileAnOlderLeaseHolderLives() throws Exception {
        Process holder = new ProcessBuilder("sleep", "120").start(); // started before the pack
        try {
            Path crashed = tmp.resolve("crashed");
            List<ChunkId> ids = new ArrayList<>();
            List<byte[]> datas = new ArrayList<>();
            try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
                for (int i = 0; i < 3; i++) {
                    byte[] d = random(960 + i, 5000);
                    ids.add(s.put(d));
                    datas.add(d);
                    commit(s);
                    s.fsync();
                }
                assertTrue(s.packs().writer().fileEnd() > s.packs().writer().size(), "zeros prepared");
                copyTree(dir(), crashed); // as a crash leaves it
            }
            try (Store s = Store.open(crashed)) {
                s.index().write(txn -> {
                    s.index().leases.put(txn, 1L << 40, new LeasesTable.Holder(holder.pid(), 0)); // keeps every chunk
                    return null;
                });
                var r = new io.cowfs.blockstore.gc.GarbageCollector(s).run(n -> { });
                assertEquals(0, r.packsLeftPending(), r.toString());
                assertEquals(1, r.packsRewritten(), r.toString());
                for (int i = 0; i < ids.size(); i++) {
                    assertArrayEquals(datas.get(i), s.get(ids.get(i)));
                }
            }
        } finally {
            holder.destroy();
        }
    }

    private static void copyTree(Path from, Path to) throws Exception {
        Process p = new ProcessBuilder("cp", "-a", from.toString(), to.toString()).inheritIO().start();
        assertEquals(0, p.waitFor(), "cp -a");
    }

    /**
     * A read of the index after its store closed (a mount's read-ahead finishing as the mount
     * ends) fails with a StoreException, which read-ahead's tasks catch, and never reaches liblmdb:
     * a read-ahead thread once began a transaction on the freed environment (SIGSEGV, the test
     * JVM gone). Reads running on other threads while it closes finish first.
     */
    @Test
    void theIndexRefusesReadsOnceClosedAndCloseWaitsForThoseRunning() throws Exception {
        Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE);
        ChunkId id = s.put(random(700, 5000));
        commit(s);
        java.util.concurrent.CountDownLatch inRead = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicReference<Object> got = new java.util.concurrent.atomic.AtomicReference<>();
        Thread reader = new Thread(() -> got.set(s.index().read(txn -> {
            inRead.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return s.index().chunks.location(txn, id);
        })));
        reader.start();
        assertTrue(inRead.await(10, java.util.concurrent.TimeUnit.SECONDS));
        Thread closer = new Thread(s::close);
        closer.start();
        closer.join(300);
        assertTrue(closer.isAlive(), "close waits for the read in flight");
        release.countDown();
        reader.join(10_000);
        closer.join(10_000);
        assertFalse(closer.isAlive());
        assertNotNull(got.get(), "the read in flight finished with its answer");
        StoreException e = assertThrows(StoreException.class, () -> s.index().read(txn -> s.index().chunks.location(txn, id)));
        assertTrue(e.getMessage().contains("is closed"), e.getMessage());
    }

    @Test
    void finishedPacksAreForcedInTheBackgroundWithoutASync() throws Exception {
        try (Store s = smallPacks()) {
            for (int i = 0; i < 12; i++) {
                s.put(random(400 + i, 16 << 10)); // three rollovers
            }
            commit(s);
            long until = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
            while (s.packs().finishedUnforced() > 0 && System.nanoTime() < until) {
                Thread.sleep(10);
            }
            assertEquals(0, s.packs().finishedUnforced(), "the finished packs were forced by the flusher");
        }
    }

    @Test
    void theCurrentPackIsForcedEverySecondsWithoutASync() throws Exception {
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            s.sync();
            s.put(random(500, 1000));
            commit(s);
            assertTrue(s.packs().anyUnforced());
            long until = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(6 * Packs.FORCE_EVERY_MS);
            while (s.packs().anyUnforced() && System.nanoTime() < until) {
                Thread.sleep(50);
            }
            assertFalse(s.packs().anyUnforced(), "a closed file's chunks reach the disk without an fsync, within seconds");
        }
    }

    /**
     * The background force of the current pack must not drop this process's lock on it. It opened
     * the pack by name and closed that descriptor, and the kernel drops a process's POSIX record
     * locks on a file at the close of any descriptor of it: 5 s after a write the pack a mount
     * appended to was unlocked, gc in another process took it for an abandoned one and rewrote
     * it, and what the mount appended and committed next named a deleted pack (a file written in
     * a view after a gc read as EIO after a remount; fsck: "its pack ... is missing").
     */
    @Test
    void thePackBeingAppendedToStaysLockedAfterItsBackgroundForce() throws Exception {
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            s.sync();
            s.put(random(501, 1000));
            commit(s);
            Path pack = s.packs().writer().path();
            assertTrue(heldByThisProcess(pack), "locked from its creation");
            long until = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(6 * Packs.FORCE_EVERY_MS);
            while (s.packs().anyUnforced() && System.nanoTime() < until) {
                Thread.sleep(50);
            }
            assertFalse(s.packs().anyUnforced(), "the periodic force ran");
            assertTrue(heldByThisProcess(pack), "still locked after the background force: gc in another process must not take it");
            ChunkId id = s.put(random(502, 1000)); // read back through the shared read channel: no lock lost either
            commit(s);
            s.readVerified(id);
            assertTrue(heldByThisProcess(pack), "still locked after a read of it");
        }
    }

    /**
     * The lock of the pack being appended to is an open file description lock: any other
     * descriptor of the pack this process opens and closes (a read channel, a scan, a force by
     * name, gc's own probe) leaves it, and another process's POSIX probe (gc's) sees it until the
     * store closes. With a POSIX lock every such close dropped it, and each place that closed one
     * had to be found (the background force did: StoreTest above, GcIT).
     */
    @Test
    void thePackBeingAppendedToStaysLockedWhateverElseOfItIsClosed() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(new ProcessBuilder("python3", "-c", "0").start().waitFor() == 0, "needs python3");
        Path pack;
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            s.put(random(503, 1000));
            commit(s);
            pack = s.packs().writer().path();
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(pack, java.nio.file.StandardOpenOption.READ)) {
                ch.force(false);
            }
            Packs.scan(pack, r -> { });
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(pack, java.nio.file.StandardOpenOption.WRITE)) {
                assertNull(ch.tryLock(), "this process's own probe sees the pack locked");
            } catch (java.nio.channels.OverlappingFileLockException e) {
                // a POSIX lock of this JVM's: the JVM says so, and the probe's close drops it
            }
            assertTrue(heldByThisProcess(pack));
            assertEquals(io.cowfs.blockstore.OtherProcess.REFUSED, io.cowfs.blockstore.OtherProcess.lockf(pack), "another process's probe sees the pack locked");
        }
        assertEquals(0, io.cowfs.blockstore.OtherProcess.lockf(pack), "unlocked once the store is closed");
    }

    /**
     * Each Store holds its own shared lock on run/store.lock: closing a second Store of the same
     * directory in this process leaves the first's, so another process's exclusive lock (fsck
     * --repair replacing the index) is refused until the first closes too. With one POSIX lock
     * for the process, the second Store's close dropped it, and a repair could move the index
     * aside under the first.
     */
    @Test
    void closingASecondStoreOfTheSameDirectoryLeavesTheFirstsUseLock() throws Exception {
        io.cowfs.blockstore.OtherProcess.assumePython();
        Path lock = dir().resolve("run").resolve("store.lock");
        try (Store first = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            try (Store second = Store.open(dir())) {
                assertEquals(io.cowfs.blockstore.OtherProcess.REFUSED, io.cowfs.blockstore.OtherProcess.lockf(lock), "refused while both are open");
            }
            assertEquals(io.cowfs.blockstore.OtherProcess.REFUSED, io.cowfs.blockstore.OtherProcess.lockf(lock),
                    "refused while the first Store is open, after the second closed");
        }
        assertEquals(0, io.cowfs.blockstore.OtherProcess.lockf(lock), "granted once both are closed");
    }

    /** The repair's exclusive use lock tells a second open in this process from another process's. */
    @Test
    void theExclusiveUseLockIsRefusedToAStoreOpenTwiceInThisProcessAndKeptFromOthers() throws Exception {
        io.cowfs.blockstore.OtherProcess.assumePython();
        Files.createDirectories(dir().resolve("run"));
        Path lock = dir().resolve("run").resolve("store.lock");
        try (UseLock a = UseLock.acquire(dir(), StoreAccess.PRIVATE)) {
            try (UseLock b = UseLock.acquire(dir(), StoreAccess.PRIVATE)) {
                StoreException.BusyException e = assertThrows(StoreException.BusyException.class, () -> b.exclusive(dir()));
                assertTrue(e.getMessage().contains("open twice in this process"), e.getMessage());
            }
            a.exclusive(dir());
            StoreException.BusyException e = assertThrows(StoreException.BusyException.class,
                    () -> UseLock.acquire(dir(), StoreAccess.PRIVATE));
            assertTrue(e.getMessage().contains("being repaired by this process"), e.getMessage());
            assertEquals(io.cowfs.blockstore.OtherProcess.REFUSED, io.cowfs.blockstore.OtherProcess.lockf(lock), "held exclusively");
        }
        assertEquals(0, io.cowfs.blockstore.OtherProcess.lockf(lock));
    }

    /**
     * A read-only user's lock (docs/READ-ONLY-STORES.md): refused while any other user has the store
     * open (a read-only reader must not read beside a writer), granted beside other read-only users,
     * and it keeps a repair's exclusive lock out as every user's lock does.
     */
    @Test
    void aReadOnlyUseLockIsBusyBesideAnyOtherUserAndKeepsARepairOut() throws Exception {
        Files.createDirectories(dir().resolve("run"));
        try (UseLock writer = UseLock.acquire(dir(), StoreAccess.PRIVATE)) {
            StoreException.BusyException e = assertThrows(StoreException.BusyException.class, () -> UseLock.acquireReadOnly(dir()));
            assertTrue(e.getMessage().contains("open where it is writable"), e.getMessage());
        }
        Path lock = dir().resolve("run").resolve("store.lock");
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(lock, java.nio.file.StandardOpenOption.READ,
                java.nio.file.StandardOpenOption.WRITE)) {
            try (UseLock r1 = UseLock.acquireReadOnly(dir()); UseLock r2 = UseLock.acquireReadOnly(dir())) {
                assertNull(OfdLock.tryLock(lock, ch, false), "a repair's exclusive lock waits for the read-only users");
            }
            OfdLock repair = OfdLock.tryLock(lock, ch, false);
            assertNotNull(repair, "granted once they are gone");
            repair.release();
        }
        try (UseLock r = UseLock.acquireReadOnly(dir())) {
            // the lock file's only lock is the read-only one, one byte far from 0
            assertTrue(OfdLock.heldByOthers(lock, UseLock.READ_ONLY_BYTE));
            assertFalse(OfdLock.heldByOthers(lock, 0));
        }
        try (UseLock alone = UseLock.acquire(dir(), StoreAccess.PRIVATE)) {
            alone.exclusive(dir()); // nothing else holds the store now
        }
        Files.delete(lock);
        StoreException missing = assertThrows(StoreException.class, () -> UseLock.acquireReadOnly(dir()));
        assertTrue(missing.getMessage().contains("has no"), missing.getMessage());
    }

    /**
     * True if /proc/locks lists a write lock on file that this process holds: a POSIX lock with its
     * pid, or an open file description lock (pid -1; OfdLock's), whose owner the test knows.
     */
    static boolean heldByThisProcess(Path file) throws Exception {
        long ino = (Long) Files.getAttribute(file, "unix:ino");
        String pid = Long.toString(ProcessHandle.current().pid());
        for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
            String[] f = line.trim().split("\\s+");
            // "1: POSIX  ADVISORY  WRITE 20996 fe:00:2924674 0 EOF", "2: OFDLCK ADVISORY  WRITE -1 fe:00:2924675 0 EOF"
            if (f.length >= 6 && (f[1].equals("POSIX") && f[4].equals(pid) || f[1].equals("OFDLCK")) && f[3].equals("WRITE")
                    && f[5].endsWith(":" + ino)) {
                return true;
            }
        }
        return false;
    }

    @Test
    void aPackWhoseAppendFailedStaysLockedUntilItsRecordsAreCommittedAndIsForcedBySync() throws Exception {
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            byte[] first = random(51, 1000);
            ChunkId firstId = s.put(first); // appended, not committed
            long pack = s.packs().writer().packId;
            s.packs().writer().channel().close(); // the next append fails, as on a full or failing disk
            assertThrows(StoreException.class, () -> s.put(random(52, 1000)));
            assertTrue(s.packs().isLive(pack), "gc must not take a pack with uncommitted records");
            commit(s);
            assertArrayEquals(first, s.readVerified(firstId), "the record before the failed one is whole and committed");
            assertTrue(s.packs().anyUnforced(), "the closed pack waits for the next sync");
            s.sync();
            assertFalse(s.packs().anyUnforced());
        }
    }

    @Test
    void uncommittedChunksAreNotInTheIndex() {
        byte[] a = random(3, 1000);
        ChunkId id;
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            id = s.put(a);
        }
        try (Store s = Store.open(dir())) {
            assertNull(s.locate(id));
            assertThrows(StoreException.ChunkMissingException.class, () -> s.get(id));
        }
    }

    @Test
    void aFlippedPayloadByteIsAChunkCorruptException() throws Exception {
        byte[] a = random(4, 65536);
        byte[] b = random(5, 65536);
        ChunkId ida;
        ChunkId idb;
        ChunkLocation loc;
        Path pack;
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            ida = s.put(a);
            idb = s.put(b);
            commit(s);
            loc = s.locate(ida);
            pack = s.packs().path(loc.pack());
        }
        flip(pack, loc.offset() + PackRecord.HEADER + loc.storedLen() / 2);
        try (Store s = Store.open(dir())) {
            StoreException.ChunkCorruptException e = assertThrows(StoreException.ChunkCorruptException.class, () -> s.get(ida));
            assertEquals(ida, e.id());
            assertTrue(e.getMessage().contains(Packs.fileName(loc.pack())), e.getMessage());
            assertTrue(e.getMessage().contains("offset " + loc.offset()), e.getMessage());
            assertTrue(e.getMessage().contains(ida.shortHex()), e.getMessage());
            assertThrows(StoreException.ChunkCorruptException.class, () -> s.get(ida), "never cached as good");
            assertArrayEquals(b, s.get(idb), "the other chunk still reads");

            Verifier.Report r = Verifier.run(s, n -> { });
            assertEquals(2, r.chunks());
            assertEquals(1, r.problems().size());
            assertEquals(ida, r.problems().get(0).id());
            assertEquals(Packs.fileName(loc.pack()), r.problems().get(0).pack());
            assertEquals(loc.offset(), r.problems().get(0).offset());
        }
    }

    /** zstd itself may notice the damage first (it throws rather than return an error code): still a ChunkCorruptException. */
    @Test
    void aFlippedByteInACompressedPayloadIsAChunkCorruptException() throws Exception {
        byte[] text = "compressible text, line after line\n".repeat(1800).getBytes();
        ChunkId id;
        ChunkLocation loc;
        Path pack;
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            id = s.put(text);
            commit(s);
            loc = s.locate(id);
            pack = s.packs().path(loc.pack());
        }
        assertTrue(loc.storedLen() < text.length / 4, "stored compressed: " + loc.storedLen());
        for (long at : new long[] {loc.storedLen() - 1, loc.storedLen() / 2, 4}) {
            flip(pack, loc.offset() + PackRecord.HEADER + at);
            try (Store s = Store.open(dir())) {
                StoreException.ChunkCorruptException e = assertThrows(StoreException.ChunkCorruptException.class, () -> s.get(id),
                        "payload byte " + at + " flipped");
                assertTrue(e.getMessage().contains("offset " + loc.offset()), e.getMessage());
                assertEquals(1, Verifier.run(s, n -> { }).problems().size());
            }
            flip(pack, loc.offset() + PackRecord.HEADER + at); // back
        }
    }

    @Test
    void aDamagedHeaderOrATruncatedPackIsAChunkCorruptException() throws Exception {
        ChunkId first;
        ChunkId last;
        ChunkLocation l1;
        ChunkLocation l2;
        Path pack;
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            first = s.put(random(6, 30000));
            last = s.put(random(7, 30000));
            commit(s);
            l1 = s.locate(first);
            l2 = s.locate(last);
            pack = s.packs().path(l1.pack());
        }
        flip(pack, l1.offset()); // record magic
        try (RandomAccessFile f = new RandomAccessFile(pack.toFile(), "rw")) {
            f.setLength(l2.offset() + PackRecord.HEADER + l2.storedLen() - 100);
        }
        try (Store s = Store.open(dir())) {
            StoreException.ChunkCorruptException h = assertThrows(StoreException.ChunkCorruptException.class, () -> s.get(first));
            assertTrue(h.getMessage().contains("header"), h.getMessage());
            StoreException.ChunkCorruptException t = assertThrows(StoreException.ChunkCorruptException.class, () -> s.get(last));
            assertTrue(t.getMessage().contains("truncated"), t.getMessage());
            assertEquals(2, Verifier.run(s, n -> { }).problems().size());
        }
    }

    /**
     * The file-data path (Store.read through the block cache) reads a raw record with one pread
     * into the cache's slot and verifies it there: damage anywhere in it is still a
     * ChunkCorruptException naming the place, and is never cached as good.
     */
    @Test
    void damageToARawRecordReadInPlaceIsAChunkCorruptException() throws Exception {
        byte[][] data = new byte[5][];
        ChunkId[] ids = new ChunkId[5];
        ChunkLocation[] locs = new ChunkLocation[5];
        Path pack;
        byte[] good = random(19, 65536);
        ChunkId goodId;
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            goodId = s.put(good);
            for (int i = 0; i < 5; i++) {
                data[i] = random(20 + i, i == 4 ? 1000 : 65536);
                ids[i] = s.put(data[i]);
            }
            commit(s);
            for (int i = 0; i < 5; i++) {
                locs[i] = s.locate(ids[i]);
                assertEquals(locs[i].rawLen(), locs[i].storedLen(), "stored raw");
            }
            pack = s.packs().path(locs[0].pack());
        }
        flip(pack, locs[0].offset() + PackRecord.HEADER + 777); // payload
        flip(pack, locs[1].offset() + PackRecord.HEADER - 1); // codec
        flip(pack, locs[2].offset() + 5); // the id in the header
        try (RandomAccessFile f = new RandomAccessFile(pack.toFile(), "rw")) {
            f.setLength(locs[3].offset() + PackRecord.HEADER + 100); // record 3 cut short, record 4 gone
        }
        try (Store s = Store.open(dir())) {
            java.nio.ByteBuffer out = java.nio.ByteBuffer.allocateDirect(65536);
            for (int attempt = 0; attempt < 2; attempt++) {
                assertEquals(65536, s.read(goodId, 0, out, 0, 65536));
                byte[] got = new byte[65536];
                out.get(0, got);
                assertArrayEquals(good, got);
            }
            for (int i = 0; i < 5; i++) {
                int k = i;
                for (int attempt = 0; attempt < 2; attempt++) {
                    StoreException.ChunkCorruptException e = assertThrows(StoreException.ChunkCorruptException.class,
                            () -> s.read(ids[k], 0, out, 0, 65536), "record " + k + ", attempt " + attempt);
                    assertEquals(ids[k], e.id());
                    assertTrue(e.getMessage().contains(Packs.fileName(locs[k].pack())), e.getMessage());
                }
            }
        }
    }

    /**
     * Store.loadAll decodes a batch of blocks and checks their hashes together (in parallel lanes
     * where the machine has them): every good block reads back right from the cache, and a
     * damaged one, raw or compressed, anywhere in the batch, is a ChunkCorruptException for its
     * reader, naming the place, and is never cached as good.
     */
    @Test
    void aBatchLoadVerifiesEveryBlockAndLeavesDamageToItsReader() throws Exception {
        int n = 24;
        byte[][] data = new byte[n][];
        ChunkId[] ids = new ChunkId[n];
        ChunkLocation[] locs = new ChunkLocation[n];
        Path pack;
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            for (int i = 0; i < n; i++) {
                data[i] = i % 3 == 0 ? ("compressible block " + i + "\n").repeat(5000).substring(0, 65536).getBytes()
                        : random(100 + i, i == n - 1 ? 777 : 65536);
                ids[i] = s.put(data[i]);
            }
            commit(s);
            for (int i = 0; i < n; i++) {
                locs[i] = s.locate(ids[i]);
            }
            pack = s.packs().path(locs[0].pack());
        }
        assertTrue(locs[3].storedLen() < locs[3].rawLen() && locs[4].storedLen() == locs[4].rawLen(), "one compressed, one raw");
        flip(pack, locs[3].offset() + PackRecord.HEADER + locs[3].storedLen() / 2);
        flip(pack, locs[4].offset() + PackRecord.HEADER + 4000);
        try (Store s = Store.open(dir())) {
            for (int round = 0; round < 2; round++) {
                s.loadAll(List.of(ids));
                java.nio.ByteBuffer out = java.nio.ByteBuffer.allocateDirect(65536);
                for (int i = 0; i < n; i++) {
                    int k = i;
                    if (i == 3 || i == 4) {
                        assertFalse(s.cached(ids[i]), "a damaged block is not cached, block " + i);
                        StoreException.ChunkCorruptException e = assertThrows(StoreException.ChunkCorruptException.class,
                                () -> s.read(ids[k], 0, out, 0, 65536), "block " + k);
                        assertEquals(ids[i], e.id());
                        assertTrue(e.getMessage().contains(Packs.fileName(locs[i].pack())), e.getMessage());
                        continue;
                    }
                    assertTrue(s.cached(ids[i]), "loaded by the batch, block " + i);
                    assertEquals(data[i].length, s.read(ids[i], 0, out, 0, 65536));
                    byte[] got = new byte[data[i].length];
                    out.get(0, got);
                    assertArrayEquals(data[i], got, "block " + i);
                }
                s.dropCache();
            }
        }
    }

    /** verify reads chunks in batches on several threads: every damaged one, and only those, is reported, in pack order. */
    @Test
    void verifyReportsEachDamagedChunkOfABatchAndCountsTheGoodBytes() throws Exception {
        int n = 40;
        ChunkId[] ids = new ChunkId[n];
        ChunkLocation[] locs = new ChunkLocation[n];
        long good = 0;
        Path pack;
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            for (int i = 0; i < n; i++) {
                byte[] b = i % 4 == 0 ? ("text " + i + " ").repeat(9000).getBytes() : random(300 + i, 1000 + 1600 * i);
                ids[i] = s.put(b);
                if (i != 17 && i != 33) {
                    good += b.length;
                }
            }
            commit(s);
            for (int i = 0; i < n; i++) {
                locs[i] = s.locate(ids[i]);
            }
            pack = s.packs().path(locs[0].pack());
        }
        flip(pack, locs[33].offset() + PackRecord.HEADER + 10);
        flip(pack, locs[17].offset() + PackRecord.HEADER + locs[17].storedLen() - 1);
        try (Store s = Store.open(dir())) {
            java.util.concurrent.atomic.AtomicLong steps = new java.util.concurrent.atomic.AtomicLong();
            Verifier.Report r = Verifier.run(s, steps::addAndGet);
            assertEquals(n, r.chunks());
            assertEquals(n, steps.get(), "one progress step per chunk");
            assertEquals(2, r.problems().size(), r.problems().toString());
            assertEquals(ids[17], r.problems().get(0).id());
            assertEquals(locs[17].offset(), r.problems().get(0).offset());
            assertEquals(ids[33], r.problems().get(1).id());
            assertTrue(r.problems().get(1).message().contains("does not match its hash"), r.problems().get(1).message());
            assertEquals(good, r.bytes());
        }
    }

    @Test
    void aMissingPackIsReportedByVerify() throws Exception {
        ChunkId id;
        Path pack;
        try (Store s = Store.init(dir(), Store.DEFAULT_BLOCK_SIZE)) {
            id = s.put(random(8, 1000));
            commit(s);
            pack = s.packs().path(s.locate(id).pack());
        }
        Files.delete(pack);
        try (Store s = Store.open(dir())) {
            Verifier.Report r = Verifier.run(s, n -> { });
            assertEquals(1, r.problems().size());
            assertTrue(r.problems().get(0).message().contains("missing"), r.problems().toString());
            assertThrows(StoreException.ChunkMissingException.class, () -> s.get(id));
        }
    }

    @Test
    void zeroBlocksAreRecognised() {
        byte[] b = new byte[65536];
        assertTrue(Store.isZero(b, 0, b.length));
        b[65535] = 1;
        assertFalse(Store.isZero(b, 0, b.length));
        assertTrue(Store.isZero(b, 0, 65535));
        // blocks larger than the zero array it compares with, at an offset; a lone byte anywhere counts
        byte[] big = new byte[(1 << 20) + 300];
        assertTrue(Store.isZero(big, 300, 1 << 20));
        assertTrue(Store.isZero(big, 0, 0));
        for (int at : new int[] {300, 65535 + 300, 65536 + 300, 700_001, big.length - 1}) {
            big[at] = 7;
            assertFalse(Store.isZero(big, 300, 1 << 20), "a byte at " + at);
            assertTrue(Store.isZero(big, at + 1, big.length - at - 1), "after " + at);
            big[at] = 0;
        }
        byte[] f = random(9, 200_000);
        Store.zero(f, 17, 150_017);
        assertTrue(Store.isZero(f, 17, 150_000));
        assertFalse(Store.isZero(f, 0, 18), "bytes before the range are kept");
        assertFalse(Store.isZero(f, 150_016, 1000), "bytes after the range are kept");
    }

    @Test
    void openingSomethingThatIsNotAUsableStore() throws Exception {
        Path missing = tmp.resolve("missing");
        StoreException e = assertThrows(StoreException.NotFoundException.class, () -> Store.open(missing));
        assertTrue(e.getMessage().contains("no store at"), e.getMessage());
        assertTrue(Files.notExists(missing));

        Path plain = Files.createDirectories(tmp.resolve("plain"));
        e = assertThrows(StoreException.NotFoundException.class, () -> Store.open(plain));
        assertTrue(e.getMessage().contains("not a cowfs store"), e.getMessage());

        Store.init(dir(), Store.DEFAULT_BLOCK_SIZE).close();
        Path props = dir().resolve(Store.FORMAT_FILE);
        String original = Files.readString(props);
        Files.writeString(props, original.replace("format=" + Store.FORMAT, "format=" + (Store.FORMAT + 1)));
        e = assertThrows(StoreException.StoreFormatException.class, () -> Store.open(dir()));
        assertTrue(e.getMessage().contains("newer"), e.getMessage());
        Files.writeString(props, original.replace("format=" + Store.FORMAT, "format=x"));
        assertThrows(StoreException.StoreFormatException.class, () -> Store.open(dir()));
        Files.writeString(props, original);
        Store.open(dir()).close();
    }

    @Test
    void initRefusesNonEmptyDirectoriesStoresAndBadBlockSizes() throws Exception {
        Path full = Files.createDirectories(tmp.resolve("full"));
        Files.writeString(full.resolve("x"), "x");
        assertThrows(StoreException.StoreFormatException.class, () -> Store.init(full, Store.DEFAULT_BLOCK_SIZE));
        Store.init(dir(), Store.DEFAULT_BLOCK_SIZE).close();
        StoreException e = assertThrows(StoreException.StoreFormatException.class, () -> Store.init(dir(), Store.DEFAULT_BLOCK_SIZE));
        assertTrue(e.getMessage().contains("already"), e.getMessage());
        for (int bad : new int[] {0, 1000, 2048, 3 * 4096, 8 << 20}) {
            assertThrows(IllegalArgumentException.class, () -> Store.init(tmp.resolve("bs" + bad), bad), "block size " + bad);
        }
    }

    @Test
    void chunkIdsAreThirtyTwoBytes() {
        ChunkId id = ChunkId.hash(new byte[] {1, 2, 3});
        assertEquals(64, id.hex().length());
        assertEquals(id, ChunkId.parse(id.hex()));
        assertEquals(id, ChunkId.of(id.bytes()));
        assertThrows(IllegalArgumentException.class, () -> ChunkId.of(new byte[31]));
        assertSame(StoreException.ChunkCorruptException.class, new StoreException.ChunkCorruptException(id, "x").getClass());
    }

    static void flip(Path file, long pos) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(pos);
            int b = f.read();
            f.seek(pos);
            f.write(b ^ 0x80);
        }
    }
}
