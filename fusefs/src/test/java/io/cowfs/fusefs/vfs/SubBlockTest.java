package io.cowfs.fusefs.vfs;

import static io.cowfs.fusefs.vfs.PosixContractTest.assertErrno;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.Importer;
import io.cowfs.blockstore.view.SubBlock;
import io.cowfs.blockstore.view.ViewDelta;
import io.cowfs.blockstore.view.Views;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sub-block deltas (docs/FORMAT.md, "P"): small rewrites of a base file with 64 KiB blocks store
 * the changed pages only, read back exactly (also after a remount and as a frozen snapshot), and
 * mixed with truncates, growth and unaligned writes match a plain byte array written the same way.
 */
class SubBlockTest {
    static final int BS = 64 * 1024;
    static final int SIZE = 32 * BS + 1000;

    @TempDir
    Path tmp;

    Store store;
    CatalogEntry view;
    byte[] model;

    @BeforeEach
    void setUp() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        model = BaseFixture.random(7, SIZE);
        Files.write(src.resolve("f"), model);
        store = Store.init(tmp.resolve("store"), BS);
        Catalog catalog = new Catalog(store);
        try (Store.Lease lease = store.lease()) {
            Importer.Result r = new Importer(store, false, Importer.Progress.NONE, w -> {
            }).run(src);
            view = Views.create(store, catalog, "v", r.root(), "base");
        }
    }

    @AfterEach
    void tearDown() {
        store.close();
    }

    /**
     * A view's persist keeps no copy of a dedup hit's bytes (Store.Appends): gc collecting the hit
     * between the dedup check and the commit (here, the sweep of an unreferenced chunk at that
     * moment) fails that commit, and the persist stores the block again and commits it.
     */
    @Test
    void aDedupHitCollectedBeforeTheCommitIsStoredAgain() {
        byte[] orphan = BaseFixture.random(11, BS); // indexed, named by nothing: what gc sweeps
        ChunkId id = store.put(orphan, 0, BS, true, false);
        store.commit(txn -> null);
        long appended = store.appendedChunks.get();
        int[] sweeps = {0};
        try (ViewFs fs = open()) {
            long ino = fs.create(fs.resolve("/"), "copy", 0644, 0, 0);
            fs.write(ino, 0, orphan, BS);
            WriteBack.beforeCommit = () -> {
                if (sweeps[0]++ == 0) {
                    store.index().write(txn -> store.index().chunks.delete(txn, id.bytes()));
                }
            };
            fs.flush(ino);
            fs.release(ino);
        } finally {
            WriteBack.beforeCommit = () -> {
            };
        }
        assertEquals(2, sweeps[0], "the first commit failed, the second went through");
        assertEquals(appended + 1, store.appendedChunks.get(), "appended again once");
        assertArrayEquals(orphan, store.readVerified(id), "indexed and readable");
        try (ViewFs fs = open()) {
            byte[] back = new byte[BS];
            assertEquals(BS, fs.read(fs.resolve("/copy"), 0, back, BS));
            assertArrayEquals(orphan, back);
        }
    }

    ViewFs open() {
        return ViewFs.view(store, view.root(), view.viewId(), false);
    }

    ViewDelta.State delta() {
        return store.index().read(txn -> new ViewDelta(store.index()).load(txn, view.viewId()));
    }

    void write(ViewFs fs, long ino, long off, byte[] data) {
        fs.write(ino, off, data, data.length);
        if (off + data.length > model.length) {
            model = Arrays.copyOf(model, (int) (off + data.length));
        }
        System.arraycopy(data, 0, model, (int) off, data.length);
    }

    void truncate(ViewFs fs, long ino, int size) {
        fs.truncate(ino, size);
        model = Arrays.copyOf(model, size);
    }

    void check(ViewFs fs, long ino) {
        assertEquals(model.length, fs.getattr(ino).size());
        byte[] got = new byte[model.length];
        assertEquals(model.length, fs.read(ino, 0, got, got.length));
        assertArrayEquals(model, got);
    }

    /** The view's count of dirty blocks (what the dirty limit charges for them) is the number it holds. */
    static void assertBlocksCounted(ViewFs fs, String when) {
        long[] c = fs.data().dirtyBlockCounts();
        assertEquals(c[1], c[0], "dirty blocks counted against held, " + when);
    }

    /** /f reads as the model through a fresh view of the store and as a frozen snapshot of it. */
    void checkRemountedAndFrozen() {
        try (ViewFs fs = open()) {
            check(fs, fs.resolve("/f"));
        }
        ChunkId frozen;
        try (Store.Lease lease = store.lease()) {
            frozen = Views.freeze(store, view);
        }
        try (ViewFs snap = ViewFs.snapshot(store, frozen)) {
            check(snap, snap.resolve("/f"));
        }
    }

    @Test
    void randomPageRewritesStoreTheirPagesOnly() {
        long before = store.appendedStoredBytes.get();
        Random rnd = new Random(1);
        long written = 0;
        try (ViewFs fs = open()) {
            long ino = fs.resolve("/f");
            for (int i = 0; i < 40; i++) {
                byte[] page = new byte[4096];
                rnd.nextBytes(page);
                write(fs, ino, (long) rnd.nextInt(SIZE / 4096) * 4096, page);
                written += page.length;
            }
            check(fs, ino);
            fs.fsync(ino);
            check(fs, ino);
        }
        ViewDelta.State s = delta();
        assertTrue(s.deltaBases.size() > 20, "blocks stored as deltas: " + s.deltaBases.size());
        long grew = store.appendedStoredBytes.get() - before;
        assertTrue(grew <= 2 * written, "stored " + grew + " for " + written + " written");
        checkRemountedAndFrozen();
    }

    /**
     * Blocks stored again and again (a flush after every few random page writes) get a new delta
     * each time; the deltas they replace are forgotten by the mount once its map of delta bases
     * has doubled (WriteBack.pruneDeltaBases), and the file still reads back exactly, also after a
     * remount and frozen. Without the pruning the map holds one entry per delta ever stored.
     */
    @Test
    void blocksStoredAgainAndAgainReadBackAfterTheDeltasTheyReplacedAreForgotten() {
        Random rnd = new Random(9);
        int stores = 0;
        try (ViewFs fs = open()) {
            long ino = fs.resolve("/f");
            for (int round = 0; round < 1500; round++) {
                for (int i = 0; i < 6; i++) {
                    byte[] page = new byte[4096];
                    rnd.nextBytes(page);
                    write(fs, ino, (long) rnd.nextInt(SIZE / 4096) * 4096, page);
                }
                fs.flush(ino);
                stores += 6;
                if (round % 100 == 0) {
                    check(fs, ino);
                }
                // at most the 33 blocks' chains, plus those stored since the map last doubled
                assertTrue(fs.deltaBasesKnown() <= 4096 + 33 * WriteBack.CHAIN, fs.deltaBasesKnown() + " delta bases known after " + stores + " block stores");
            }
            check(fs, ino);
        }
        checkRemountedAndFrozen();
    }

    /**
     * A block stored again (format 5) stores only the pages written since: a chained delta over
     * the one before, until the chain is {@link WriteBack#CHAIN} long and is folded into one delta
     * over the whole chunk. Each state reads back exactly, also remounted and frozen.
     */
    @Test
    void aBlockStoredAgainStoresOnlyThePagesWrittenSinceUntilItsChainIsFolded() {
        assertTrue(store.format() >= Store.FORMAT_DELTA_CHAINS, "format " + store.format());
        long[] grew = new long[2 * WriteBack.CHAIN + 2];
        long ino;
        try (ViewFs fs = open()) {
            ino = fs.resolve("/f");
            for (int round = 0; round < grew.length; round++) {
                long before = store.appendedStoredBytes.get();
                // one of four pages of block 3, new bytes each time
                write(fs, ino, 3L * BS + (round % 4) * 4096L, BaseFixture.random(100 + round, 4096));
                fs.flush(ino);
                grew[round] = store.appendedStoredBytes.get() - before;
                check(fs, ino);
            }
        }
        // round 0 is a delta over the base chunk, the next CHAIN-1 rounds a link of one page each;
        // round CHAIN folds the chain into one delta of the four pages over the base; and so on
        String all = Arrays.toString(grew);
        for (int round = 0; round < grew.length; round++) {
            if (round > 0 && round % WriteBack.CHAIN == 0) {
                assertTrue(grew[round] > 3 * 4096 && grew[round] < 5 * 4096, "round " + round + " folds 4 pages: " + all);
            } else {
                assertTrue(grew[round] < 4096 + 1024, "round " + round + " stores one page: " + all);
            }
        }
        ViewDelta.State s = delta();
        int links = 0;
        for (ChunkId x = s.blocks.get(ino).get(3L); s.deltaBases.containsKey(x); x = s.deltaBases.get(x)) {
            links++;
        }
        assertEquals((grew.length - 1) % WriteBack.CHAIN + 1, links, "deltas in block 3's chain");
        checkRemountedAndFrozen();
    }

    /**
     * A sequential reader of a file whose blocks are deltas (here chains of two) gets them read
     * ahead: each is made (its chain applied over its base) into the store's block cache under
     * its {@link SubBlock#blockKey} by the read-ahead threads, and the file reads back exactly.
     */
    @Test
    void deltaBlocksAreReadAheadIntoTheBlockCacheAsTheBlocksTheyStandFor() throws Exception {
        long ino;
        try (ViewFs fs = open()) {
            ino = fs.resolve("/f");
            for (int round = 0; round < 2; round++) {
                for (int blk = 0; blk < 32; blk++) {
                    write(fs, ino, blk * (long) BS + round * 4096L, BaseFixture.random(1000 + 32 * round + blk, 4096));
                }
                fs.flush(ino);
            }
        }
        ViewDelta.State s = delta();
        ChunkId d9 = s.blocks.get(ino).get(9L);
        assertTrue(s.deltaBases.containsKey(s.deltaBases.get(d9)), "block 9 is a chain of two deltas");
        ChunkId key = SubBlock.blockKey(d9);
        assertFalse(store.cached(key));
        try (ViewFs fs = open()) {
            byte[] b = new byte[BS];
            fs.open(ino, false);
            fs.read(ino, 0, b, BS);
            fs.read(ino, BS, b, BS); // sequential: blocks up to 1 + ReadAhead.BLOCKS are made ahead
            long until = System.nanoTime() + 10_000_000_000L;
            while (!store.cached(key) && System.nanoTime() < until) {
                Thread.sleep(10);
            }
            assertTrue(store.cached(key), "block 9 was read ahead");
            check(fs, ino);
            fs.release(ino);
        }
    }

    /**
     * A store of format 4 (made by an older build, which must still read it) gets no chained
     * delta: a block stored again is one delta over the whole chunk. Once upgraded, the next
     * store of that block chains over that delta.
     */
    @Test
    void aFormat4StoreGetsNoChainsUntilUpgraded() throws Exception {
        store.close();
        Path props = tmp.resolve("store").resolve(Store.FORMAT_FILE);
        Files.writeString(props, Files.readString(props).replace("format=" + Store.FORMAT, "format=4"));
        store = Store.open(tmp.resolve("store"));
        assertEquals(4, store.format());
        long ino;
        try (ViewFs fs = open()) {
            ino = fs.resolve("/f");
            for (int round = 0; round < 4; round++) {
                write(fs, ino, 5L * BS + round * 4096L, BaseFixture.random(200 + round, 4096));
                fs.flush(ino);
            }
            check(fs, ino);
        }
        ViewDelta.State s = delta();
        ChunkId d = s.blocks.get(ino).get(5L);
        assertTrue(s.deltaBases.containsKey(d) && !s.deltaBases.containsKey(s.deltaBases.get(d)), "one delta over the whole chunk");
        store.close();
        store = Store.open(tmp.resolve("store"));
        assertEquals(4, store.upgrade());
        try (ViewFs fs = open()) {
            write(fs, ino, 5L * BS + 9 * 4096L, BaseFixture.random(300, 4096));
            fs.flush(ino);
            check(fs, ino);
        }
        s = delta();
        ChunkId top = s.blocks.get(ino).get(5L);
        assertEquals(d, s.deltaBases.get(top), "the new delta chains over the format-4 one");
        checkRemountedAndFrozen();
    }

    /**
     * A new (sparse) file's blocks written in a few pages are deltas over the all-zero block, not
     * whole chunks; a block written whole is a whole chunk.
     */
    @Test
    void pagesWrittenIntoANewFileAreDeltasOverTheZeroBlock() {
        long before = store.appendedStoredBytes.get();
        int size = 24 * BS;
        byte[] want = new byte[size];
        Random rnd = new Random(5);
        long written = 0;
        long ino;
        try (ViewFs fs = open()) {
            ino = fs.create(fs.resolve("/"), "sparse", 0644, 0, 0);
            fs.truncate(ino, size);
            for (int i = 0; i < 30; i++) {
                byte[] page = new byte[4096];
                rnd.nextBytes(page);
                int off = rnd.nextInt(size / 4096) * 4096;
                fs.write(ino, off, page, page.length);
                System.arraycopy(page, 0, want, off, page.length);
                written += page.length;
            }
            byte[] full = new byte[BS]; // block 23 written whole: a whole chunk
            rnd.nextBytes(full);
            fs.write(ino, 23L * BS, full, BS);
            System.arraycopy(full, 0, want, 23 * BS, BS);
            written += BS;
            fs.fsync(ino);
            byte[] got = new byte[size];
            assertEquals(size, fs.read(ino, 0, got, size));
            assertArrayEquals(want, got);
        }
        ChunkId zeros = ChunkId.hash(new byte[BS], 0, BS);
        ViewDelta.State s = delta();
        assertTrue(s.deltaBases.size() >= 15, "blocks stored as deltas: " + s.deltaBases.size());
        assertTrue(s.deltaBases.values().stream().allMatch(zeros::equals), "every base is the zero block");
        long grew = store.appendedStoredBytes.get() - before;
        assertTrue(grew <= 2 * written, "stored " + grew + " for " + written + " written");
        try (ViewFs fs = open()) { // a fresh view reads them from the store
            byte[] got = new byte[size];
            assertEquals(size, fs.read(fs.resolve("/sparse"), 0, got, size));
            assertArrayEquals(want, got);
        }
        ChunkId frozen;
        try (Store.Lease lease = store.lease()) {
            frozen = Views.freeze(store, view);
        }
        try (ViewFs snap = ViewFs.snapshot(store, frozen)) {
            byte[] got = new byte[size];
            assertEquals(size, snap.read(snap.resolve("/sparse"), 0, got, size));
            assertArrayEquals(want, got);
        }
    }

    @Test
    void aBlockCutByATruncateThenWrittenPastTheCutReadsZerosBetween() {
        try (ViewFs fs = open()) {
            long ino = fs.resolve("/f");
            truncate(fs, ino, 5 * BS + 10_000); // block 5 keeps 10000 bytes: a delta of its cut page
            fs.flush(ino);
            write(fs, ino, 5 * BS + 15 * 4096, BaseFixture.random(3, 4096)); // the last page of block 5
            fs.flush(ino);
            check(fs, ino);
        }
        try (ViewFs fs = open()) {
            check(fs, fs.resolve("/f"));
        }
    }

    @Test
    void rewritesOverDeltasTruncatesAndUnalignedWritesMatchAByteArray() {
        Random rnd = new Random(2);
        for (int round = 0; round < 6; round++) {
            try (ViewFs fs = open()) {
                long ino = fs.resolve("/f");
                check(fs, ino);
                for (int i = 0; i < 30; i++) {
                    int kind = rnd.nextInt(10);
                    if (kind == 0) {
                        truncate(fs, ino, rnd.nextInt(SIZE + 3 * BS));
                    } else {
                        int len = kind < 6 ? 4096 : 1 + rnd.nextInt(kind < 8 ? 300 : 9000);
                        long off = kind < 6 ? (long) rnd.nextInt(SIZE / 4096 + 4) * 4096 : rnd.nextInt(SIZE + BS);
                        byte[] d = new byte[len];
                        if (rnd.nextInt(8) > 0) {
                            rnd.nextBytes(d); // else zeros: a page that becomes zero
                        }
                        write(fs, ino, off, d);
                    }
                    if (rnd.nextInt(10) == 0) {
                        fs.flush(ino);
                    }
                    assertBlocksCounted(fs, "round " + round + ", step " + i);
                }
                check(fs, ino);
                fs.flush(ino);
                check(fs, ino);
            }
        }
        assertTrue(delta().deltaBases.size() > 0, "some blocks are deltas");
        ChunkId frozen;
        try (Store.Lease lease = store.lease()) {
            frozen = Views.freeze(store, view);
        }
        try (ViewFs snap = ViewFs.snapshot(store, frozen)) {
            check(snap, snap.resolve("/f"));
        }
    }

    /**
     * lseek finds holes to the page: a punched or zeroed page, a page never written in a new
     * file's block, whether dirty, stored as a delta, a delta over a delta, or read back after a
     * remount; what it calls a hole reads as zeros, SEEK_DATA skips nothing but zeros, and the
     * walk of the block map agrees with asking every page.
     */
    @Test
    void seeksFindPageHolesThatReadAsZeros() {
        int page = 4096;
        Random rnd = new Random(5);
        for (int round = 0; round < 4; round++) {
            try (ViewFs fs = open()) {
                long f = fs.resolve("/f");
                long n = round == 0 ? fs.create(fs.resolve("/"), "n", 0644, 0, 0) : fs.resolve("/n");
                if (round == 0) {
                    fs.truncate(n, 8L * BS);
                    fs.write(n, 3L * page, BaseFixture.random(1, page), page);
                    assertEquals(3L * page, fs.seekData(n, 0), "a page written into a new file's hole");
                    assertEquals(4L * page, fs.seekHole(n, 3L * page));
                    fs.fallocate(f, ViewFs.FALLOC_FL_PUNCH_HOLE | ViewFs.FALLOC_FL_KEEP_SIZE, BS + 5L * page, page);
                    assertEquals(BS + 5L * page, fs.seekHole(f, BS), "a punched page");
                    fs.flush(f);
                    fs.flush(n);
                    assertEquals(3L * page, fs.seekData(n, 0), "stored as a delta over the zero block");
                    assertEquals(BS + 5L * page, fs.seekHole(f, BS), "stored as a delta with a zero page");
                }
                for (int i = 0; i < 60; i++) {
                    long ino = rnd.nextBoolean() ? f : n;
                    long size = fs.getattr(ino).size();
                    long at = (long) rnd.nextInt((int) (size / page) + 2) * page;
                    switch (rnd.nextInt(8)) {
                        case 0, 1, 2 -> {
                            int len = page * (1 + rnd.nextInt(3)) - (rnd.nextInt(4) == 0 ? 100 : 0);
                            byte[] d = rnd.nextInt(5) == 0 ? new byte[len] : BaseFixture.random(i + 100L * round, len);
                            fs.write(ino, at, d, len);
                        }
                        case 3 -> fs.fallocate(ino, ViewFs.FALLOC_FL_PUNCH_HOLE | ViewFs.FALLOC_FL_KEEP_SIZE, at + rnd.nextInt(50), page * (1 + rnd.nextInt(3)));
                        case 4 -> fs.fallocate(ino, ViewFs.FALLOC_FL_ZERO_RANGE, at, page * (1 + rnd.nextInt(20)));
                        case 5 -> fs.truncate(ino, Math.max(1, size + rnd.nextInt(2 * BS) - BS));
                        default -> fs.flush(ino);
                    }
                    assertBlocksCounted(fs, "round " + round + ", step " + i);
                    for (long file : new long[] {f, n}) {
                        long sz = fs.getattr(file).size();
                        for (int k = 0; k < 3; k++) {
                            long o = (long) (rnd.nextDouble() * sz);
                            long hole = fs.seekHole(file, o);
                            assertEquals(fs.seekPageByPage(file, o, false), hole, "SEEK_HOLE at " + o + ", step " + i);
                            long data = fs.seekPageByPage(file, o, true);
                            if (data < 0) {
                                assertErrno(Errno.ENXIO, () -> fs.seekData(file, o));
                            } else {
                                assertEquals(data, fs.seekData(file, o), "SEEK_DATA at " + o + ", step " + i);
                            }
                            ViewFsTest.assertZeros(fs, file, o, data < 0 ? sz : data, 4L * BS, "before SEEK_DATA(" + o + "), step " + i);
                            long holeEnd = fs.seekPageByPage(file, hole, true);
                            ViewFsTest.assertZeros(fs, file, hole, holeEnd < 0 ? sz : holeEnd, 4L * BS, "hole at " + hole + ", step " + i);
                        }
                    }
                }
                fs.flush(f);
                fs.flush(n);
            }
        }
        var bases = delta().deltaBases;
        assertTrue(bases.values().stream().anyMatch(bases::containsKey), "some delta is over a delta: " + bases.size() + " deltas");
    }

    /**
     * A punch of one page in each block of a file makes a dirty block of zero pages per block,
     * which holds no page of the arena: each is charged against the dirty limit as the heap it
     * takes, so a long loop of punches stores them as it goes instead of growing the mount's heap
     * until the next flush. What they stored reads as zeros, and the data around them survives.
     */
    @Test
    void pagesPunchedOneInEachBlockAreStoredAtTheDirtyLimit() {
        long most = ViewFs.DIRTY_LIMIT / WriteBack.BLOCK_COST;
        long blocks = most + 3000;
        try (ViewFs fs = open()) {
            long n = fs.create(fs.resolve("/"), "sparse", 0644, 0, 0);
            fs.truncate(n, blocks * BS);
            byte[] mark = BaseFixture.random(9, 100);
            fs.write(n, (blocks - 1) * BS, mark, mark.length);
            long f = fs.resolve("/f");
            long seen = 0;
            for (long i = 0; i < blocks; i++) {
                fs.fallocate(n, ViewFs.FALLOC_FL_PUNCH_HOLE | ViewFs.FALLOC_FL_KEEP_SIZE, i * BS + 4096, 4096);
                seen = Math.max(seen, fs.data().dirtyBlockCounts()[1]);
            }
            for (long i = 0; i < SIZE / BS; i++) {
                fs.fallocate(f, ViewFs.FALLOC_FL_PUNCH_HOLE | ViewFs.FALLOC_FL_KEEP_SIZE, i * BS + 8192, 4096);
                Arrays.fill(model, (int) (i * BS + 8192), (int) (i * BS + 12288), (byte) 0);
            }
            assertBlocksCounted(fs, "after the punches");
            assertTrue(seen <= most + 1, seen + " dirty blocks held at once, the limit allows " + most);
            check(fs, f);
            byte[] got = new byte[mark.length];
            assertEquals(mark.length, fs.read(n, (blocks - 1) * BS, got, got.length));
            assertArrayEquals(mark, got);
            assertEquals((blocks - 1) * BS + 4096, fs.seekHole(n, (blocks - 1) * BS), "the last block's punched page");
            fs.flush(n);
            fs.flush(f);
            assertBlocksCounted(fs, "after the flushes");
            assertEquals(0, fs.data().dirtyBlockCounts()[1]);
        }
        checkRemountedAndFrozen();
    }

    /**
     * What the kernel adapter answers a SETATTR with: {@link ViewFs#attributes} (mode, owner, size
     * and times as getattr's, st_blocks from the size) and {@link ViewFs#getattrIfCounted}, which
     * answers only where getattr would not count a large file's map: not once a punch changed it,
     * again after a getattr counted it, and always for a small file.
     */
    @Test
    void getattrAnswersWithoutCountingUntilTheMapChangesAndAttributesNeverCount() {
        try (ViewFs fs = open()) {
            long f = fs.resolve("/f");
            Stat full = fs.getattr(f);
            assertEquals(full, fs.getattrIfCounted(f), "counted by the getattr");
            fs.fallocate(f, ViewFs.FALLOC_FL_PUNCH_HOLE | ViewFs.FALLOC_FL_KEEP_SIZE, 3L * BS, 2L * BS);
            assertEquals(null, fs.getattrIfCounted(f), "a punch changed the map");
            Stat cheap = fs.attributes(f);
            assertEquals(full.mode(), cheap.mode());
            assertEquals(full.uid(), cheap.uid());
            assertEquals(full.gid(), cheap.gid());
            assertEquals(full.size(), cheap.size());
            Stat counted = fs.getattr(f);
            assertEquals(full.blocks512() - 2L * BS / 512, counted.blocks512(), "two blocks punched");
            assertEquals(counted, fs.getattrIfCounted(f), "counted again");
            assertEquals(counted.ctimeNs(), fs.attributes(f).ctimeNs());
            long small = fs.create(fs.resolve("/"), "small", 0644, 0, 0);
            fs.write(small, 0, new byte[5000], 5000);
            fs.fallocate(small, ViewFs.FALLOC_FL_PUNCH_HOLE | ViewFs.FALLOC_FL_KEEP_SIZE, 0, 4096);
            assertEquals(fs.getattr(small), fs.getattrIfCounted(small), "a small file's blocks come from its size");
        }
    }
}
