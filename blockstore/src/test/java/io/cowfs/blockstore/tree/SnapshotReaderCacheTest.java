package io.cowfs.blockstore.tree;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SnapshotReader's caches are bounded by what they hold (inodes, directory entries, block ids),
 * not by how many pages or directories: a mount's 384 MiB heap ran out on a `find` over a
 * snapshot of 1M small files when they held 4096 inode pages and 8192 directories of any size.
 * A walk of a tree larger than the bounds reads every entry right, the caches stay within their
 * bounds (plus the one entry a cache keeps whatever its weight), and dropCaches empties them.
 */
class SnapshotReaderCacheTest {
    static final int BS = Store.DEFAULT_BLOCK_SIZE;

    @TempDir
    Path tmp;

    @Test
    void aWalkLargerThanTheCachesReadsRightAndStaysWithinThem() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Random rnd = new Random(3);
        for (int d = 0; d < 30; d++) {
            Path dir = Files.createDirectories(src.resolve("d" + d));
            for (int f = 0; f < 100; f++) {
                Files.writeString(dir.resolve("f" + f), "file " + d + " " + f + "\n");
            }
        }
        byte[][] big = new byte[12][];
        for (int i = 0; i < big.length; i++) { // 6 blocks: a block list of its own (more than fit in the inode)
            big[i] = new byte[6 * BS];
            rnd.nextBytes(big[i]);
            Files.write(src.resolve("big" + i), big[i]);
        }
        try (Store store = Store.init(tmp.resolve("store"), BS)) {
            Importer.Result r = new Importer(store, false, Importer.Progress.NONE, w -> { }).run(src);
            store.commit(txn -> null);
            long inodes = 600; // of 3,043: three pages of 256
            long entries = 500; // of 3,042
            long ids = 20; // of 72
            SnapshotReader snap = new SnapshotReader(store, r.root(), inodes, entries, ids);
            for (int round = 0; round < 2; round++) {
                DirEntries top = snap.dir(snap.inode(SnapshotRoot.ROOT_INO));
                assertEquals(42, top.size());
                for (int d = 0; d < 30; d++) {
                    Inode dir = snap.inode(top.get("d" + d).ino());
                    DirEntries names = snap.dir(dir);
                    assertEquals(100, names.size());
                    for (int f = 0; f < 100; f++) {
                        Inode file = snap.inode(names.get("f" + f).ino());
                        String want = "file " + d + " " + f + "\n";
                        assertEquals(want.length(), file.size, "d" + d + "/f" + f);
                        assertEquals(ChunkId.hash(want.getBytes()), snap.block(file, 0), "d" + d + "/f" + f);
                    }
                    long[] c = snap.cached();
                    assertTrue(c[0] <= inodes + SnapshotRoot.INODES_PER_PAGE + 1, "inodes cached: " + c[0]);
                    assertTrue(c[1] <= entries + top.size() + 1, "entries cached: " + c[1]);
                }
                for (int i = 0; i < big.length; i++) {
                    Inode file = snap.inode(top.get("big" + i).ino());
                    for (int b = 0; b < 6; b++) {
                        byte[] want = java.util.Arrays.copyOfRange(big[i], b * BS, (b + 1) * BS);
                        assertEquals(ChunkId.hash(want), snap.block(file, b), "big" + i + " block " + b);
                    }
                    assertArrayEquals(big[i], java.util.Arrays.copyOf(readAll(store, snap, file), 6 * BS));
                    assertTrue(snap.cached()[2] <= ids + 7 + 1, "block ids cached: " + snap.cached()[2]);
                }
            }
            snap.dropCaches();
            assertArrayEquals(new long[3], snap.cached());
        }
    }

    /**
     * A mount's warm-up (SnapshotReader#warm) reads the first inode pages and exactly the
     * directories among their inodes, stops at its bound in inodes (rounded up to a page), before
     * either cache would pass half of what it may hold, and when told to stop.
     */
    @Test
    void warmReadsTheFirstPagesAndTheirDirectoriesWithinItsBounds() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        for (int d = 0; d < 30; d++) {
            Path dir = Files.createDirectories(src.resolve("d" + d));
            Files.createDirectories(dir.resolve("sub"));
            for (int f = 0; f < 100; f++) {
                Files.writeString(dir.resolve("f" + f), "file " + d + " " + f + "\n");
            }
        }
        try (Store store = Store.init(tmp.resolve("store"), BS)) {
            Importer.Result r = new Importer(store, false, Importer.Progress.NONE, w -> { }).run(src);
            store.commit(txn -> null);
            // the directories' entries among inodes 1..n-1, by a reader of its own
            SnapshotReader other = new SnapshotReader(store, r.root());
            java.util.function.LongUnaryOperator entriesBelow = n -> {
                long sum = 0;
                for (long ino = 1; ino < n; ino++) {
                    Inode i = other.inode(ino);
                    if (i != null && i.type == FileType.DIRECTORY) {
                        sum += other.dir(i).size();
                    }
                }
                return sum;
            };

            SnapshotReader snap = new SnapshotReader(store, r.root());
            long[] got = snap.warm(600, () -> false); // 3 pages of 256 inodes, of 13
            assertEquals(768, got[0]);
            assertEquals(entriesBelow.applyAsLong(768), got[1]);
            assertTrue(got[1] > 500, "directories were read: " + got[1]);
            assertArrayEquals(new long[] {768, got[1], 0}, snap.cached(), "what it read is cached, nothing else");

            SnapshotReader all = new SnapshotReader(store, r.root());
            got = all.warm(Long.MAX_VALUE, () -> false);
            assertTrue(got[0] > all.maxIno(), "every page: " + got[0]);
            assertEquals(30 + 30 * 101, got[1], "every directory");

            SnapshotReader small = new SnapshotReader(store, r.root(), 600, 10_000, 100);
            got = small.warm(Long.MAX_VALUE, () -> false);
            assertEquals(256, got[0], "stops before a page would take the inode pages past half their cache");
            assertTrue(small.cached()[0] <= 300, "inodes cached: " + small.cached()[0]);
            // half of 250 entries: the root's 30 fit, d0's 101 more would not (decoded, not kept)
            SnapshotReader fewEntries = new SnapshotReader(store, r.root(), 100_000, 250, 100);
            got = fewEntries.warm(Long.MAX_VALUE, () -> false);
            assertEquals(30, got[1], "stops before a directory would take the entries past half their cache");
            assertEquals(30, fewEntries.cached()[1]);
            assertTrue(got[0] < 256, "within the first page: " + got[0]);

            SnapshotReader stopped = new SnapshotReader(store, r.root());
            assertArrayEquals(new long[2], stopped.warm(Long.MAX_VALUE, () -> true));
            assertArrayEquals(new long[3], stopped.cached());
        }
    }

    /**
     * The cache keeps an inode page as its bytes and decodes a slot when asked: every kind of
     * record reads back as encoded, free slots as null, each call gives an inode of its own, and a
     * malformed page is a StoreException (when scanned, or when its record is decoded).
     */
    @Test
    void aCachedPageDecodesEachSlotAsEncodedAndRefusesMalformedPages() {
        Inode[] slots = new Inode[256];
        for (int i = 0; i < slots.length; i += 3) { // every third slot used
            Inode n = new Inode();
            n.ino = 512 + i;
            n.type = i % 2 == 0 ? FileType.REGULAR : FileType.SYMLINK;
            n.perm = 0640;
            n.size = 1000L * i;
            // 0: created in a view, reported as its own number, marked; a host's may be negative as a long
            n.hostIno = i % 4 == 0 ? 0 : i % 4 == 1 ? -77_000 - i : 77_000 + i;
            if (n.type == FileType.REGULAR) {
                byte[] h = new byte[ChunkId.LENGTH];
                h[0] = (byte) i;
                n.inlineBlocks = new ChunkId[] {ChunkId.of(h)};
            } else {
                n.target = ("t" + i).getBytes();
            }
            if (i % 9 == 0) {
                n.xattrs.put("user.k", new byte[] {(byte) i});
            }
            slots[i] = n;
        }
        byte[] bytes = SnapshotRoot.encodePage(2, slots);
        SnapshotRoot.Page page = SnapshotRoot.scanPage(bytes);
        assertEquals(256, page.slots());
        for (int i = 0; i < slots.length; i++) {
            Inode got = page.inode(i);
            if (slots[i] == null) {
                assertEquals(null, got, "slot " + i);
                assertEquals(0, page.reportedIno(i));
                continue;
            }
            assertEquals(slots[i].reportedIno(), page.reportedIno(i), "slot " + i);
            assertEquals(512 + i, got.ino);
            assertArrayEquals(slots[i].encode(), got.encode(), "slot " + i);
            assertTrue(got != page.inode(i), "a caller's own inode");
        }
        assertArrayEquals(bytes, SnapshotRoot.encodePage(2, SnapshotRoot.decodePage(bytes)));
        assertThrows(StoreException.class, () -> SnapshotRoot.scanPage(new byte[] {'X', 0, 0}));
        assertThrows(StoreException.class, () -> SnapshotRoot.scanPage(new byte[] {'I', 0, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x07}),
                "2^31 - 1 slots in 7 bytes");
        byte[] negative = new byte[12];
        negative[0] = 'I';
        java.util.Arrays.fill(negative, 2, 11, (byte) 0xFF);
        negative[11] = 0x01; // a count of -1 as a varint
        assertThrows(StoreException.class, () -> SnapshotRoot.scanPage(negative), "a negative count");
        assertThrows(StoreException.class, () -> SnapshotRoot.scanPage(java.util.Arrays.copyOf(bytes, bytes.length - 5)), "truncated");
        byte[] bad = bytes.clone();
        bad[7] = 99; // slot 0's record, after the tag, first (512: 2 bytes), count (256: 2), used and length: its type code
        SnapshotRoot.Page badPage = SnapshotRoot.scanPage(bad);
        assertThrows(StoreException.class, () -> badPage.inode(0));
    }

    /**
     * The inodes decoded last are kept by number modulo RECENT: two inodes RECENT apart share a
     * slot and are never taken for each other, a hit is the same object, and dropCaches forgets them.
     */
    @Test
    void recentlyDecodedInodesAreKeptByNumberAndNeverMixedUp() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        for (int d = 0; d < 42; d++) {
            Path dir = Files.createDirectories(src.resolve("d" + d));
            for (int f = 0; f < 100; f++) {
                Files.writeString(dir.resolve("f" + f), d + "/" + f);
            }
        }
        try (Store store = Store.init(tmp.resolve("store"), BS)) {
            Importer.Result r = new Importer(store, false, Importer.Progress.NONE, w -> { }).run(src);
            store.commit(txn -> null);
            SnapshotReader snap = new SnapshotReader(store, r.root());
            long a = 100;
            long b = a + SnapshotReader.RECENT;
            assertTrue(b <= snap.maxIno());
            for (int round = 0; round < 3; round++) {
                Inode x = snap.inode(a);
                Inode y = snap.inode(b);
                assertEquals(a, x.ino);
                assertEquals(b, y.ino);
                assertTrue(y == snap.inode(b), "a hit is the inode decoded last");
                assertEquals(a, snap.inode(a).ino, "b took a's slot: a is decoded again, not b returned");
            }
            Inode before = snap.inode(a);
            snap.dropCaches();
            Inode after = snap.inode(a);
            assertTrue(before != after, "dropCaches forgets the inodes decoded last");
            assertArrayEquals(before.encode(), after.encode());
            assertEquals(null, snap.inode(snap.maxIno() + 1));
        }
    }

    private static byte[] readAll(Store store, SnapshotReader snap, Inode file) {
        byte[] out = new byte[(int) file.size];
        for (int b = 0; b * (long) BS < file.size; b++) {
            byte[] block = store.get(snap.block(file, b));
            System.arraycopy(block, 0, out, b * BS, Math.min(block.length, out.length - b * BS));
        }
        return out;
    }
}
