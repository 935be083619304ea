package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.Packs;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.view.ViewDelta;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Small random rewrites of a big base file through a real mount (64 KiB blocks): they are stored
 * as sub-block deltas (the store grows by about what was written, not a block per write), read
 * back exactly, freeze into a snapshot whose export equals the same writes done to a host copy,
 * survive kill -9 once fsync'd, and a damaged delta gives EIO for its file only.
 */
class SubBlockIT {
    static final int PAGE = 4096;
    static final int SIZE = 16 << 20;

    @TempDir
    Path tmp;

    byte[] expected;

    private void setUp(Cowfs c) throws IOException {
        Path src = tmp.resolve("src");
        expected = Fx.random(11, SIZE);
        Fx.writeTree(src, Map.of("big.bin", expected, "other.txt", "other\n".getBytes()));
        c.run("import", src.toString(), "--name", "base").ok();
        c.run("fork", "base", "--name", "v").ok();
    }

    /** count random page-aligned 4 KiB writes through the mount (and into expected), then fsync. */
    private long rewrite(Path file, Random rnd, int count) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            for (int i = 0; i < count; i++) {
                byte[] page = new byte[PAGE];
                rnd.nextBytes(page);
                long off = (long) rnd.nextInt(SIZE / PAGE) * PAGE;
                ch.write(ByteBuffer.wrap(page), off);
                System.arraycopy(page, 0, expected, (int) off, PAGE);
            }
            ch.force(true);
        }
        return (long) count * PAGE;
    }

    @Test
    void randomPageRewritesStaySmallReadBackAndFreezeExactly() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            setUp(c);
            long before = Fx.packBytes(c.store);
            long written;
            try (Cowfs.Mounted m = c.mount("v")) {
                written = rewrite(m.dir.resolve("big.bin"), new Random(1), 1024);
                assertArrayEquals(expected, Files.readAllBytes(m.dir.resolve("big.bin")));
            }
            long grew = Fx.packBytes(c.store) - before;
            System.out.println("4 KiB rewrites: " + written + " bytes written, packs grew by " + grew + " ("
                    + String.format("%.2f", grew / (double) written) + "x)");
            assertTrue(grew <= 2 * written, "packs grew by " + grew + " for " + written + " bytes written");
            try (Store s = Store.open(c.store)) {
                CatalogEntry v = new Catalog(s).get("v");
                ViewDelta.State st = s.index().read(txn -> new ViewDelta(s.index()).load(txn, v.viewId()));
                assertTrue(st.deltaBases.size() > 100, "blocks kept as deltas: " + st.deltaBases.size());
            }
            try (Cowfs.Mounted m = c.mount("v")) { // a fresh mount reads the deltas from the store
                assertArrayEquals(expected, Files.readAllBytes(m.dir.resolve("big.bin")));
                written += rewrite(m.dir.resolve("big.bin"), new Random(2), 256); // deltas over deltas
                c.run("snapshot", "v", "--name", "s1").ok(); // while mounted
            }
            c.run("verify").ok();
            c.run("fsck").ok();
            c.run("du", "--json").ok(); // du walks the view's deltas and their bases
            Map<String, String> want = Map.of("big.bin", Fx.sha256(expected), "other.txt", Fx.sha256("other\n".getBytes()));
            assertEquals(want, Fx.exported(c, "s1"));
            assertEquals(want, Fx.exported(c, "v"));
            // the snapshot holds whole (folded) chunks: with the view and its base gone, gc keeps it whole
            c.run("fork", "s1", "--name", "v2").ok();
            c.run("rm", "v", "base").ok();
            c.run("gc").ok();
            c.run("fsck").ok();
            c.run("verify").ok();
            assertEquals(want, Fx.exported(c, "s1"));
            try (Cowfs.Mounted m = c.mount("v2")) {
                assertArrayEquals(expected, Files.readAllBytes(m.dir.resolve("big.bin")));
            }
        }
    }

    /**
     * A store of format 6 (deltas named by their hash): the same page written into many blocks
     * of a new file, each block in a persist of its own (an fsync after each write): every
     * block's delta is the same chunk (that page over the zero block), which a persist appends
     * without looking it up in the index (WriteBack.putDelta, Store.Appends.putUnindexed: deltas
     * are rarely anywhere else, and the lookup cost random writes a tenth or more of the mount's
     * CPU). The index names one copy, each commit stamps it, gc reclaims the other copies, and the
     * file reads back and exports exactly before and after.
     */
    @Test
    void oneDeltaStoredByManyPersistsIsIndexedOnceAndGcReclaimsItsCopies() throws Exception {
        Cowfs.assumeFuse();
        int blocks = 32;
        int bs = 64 << 10;
        byte[] page = Fx.random(31, PAGE);
        byte[] want = new byte[(blocks - 1) * bs + 4 * PAGE];
        try (Cowfs c = new Cowfs(tmp)) {
            Path props = c.store.resolve(Store.FORMAT_FILE);
            Files.writeString(props, Files.readString(props).replace("format=" + Store.FORMAT, "format=6"));
            setUp(c);
            try (Cowfs.Mounted m = c.mount("v")) {
                try (FileChannel ch = FileChannel.open(m.dir.resolve("same.bin"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    for (int b = 0; b < blocks; b++) {
                        ch.write(ByteBuffer.wrap(page), (long) b * bs + 3 * PAGE);
                        ch.force(false);
                        System.arraycopy(page, 0, want, b * bs + 3 * PAGE, PAGE);
                    }
                }
                assertArrayEquals(want, Files.readAllBytes(m.dir.resolve("same.bin")));
            }
            c.run("verify").ok();
            c.run("fsck").ok();
            Map<String, String> files = Map.of("big.bin", Fx.sha256(expected), "other.txt", Fx.sha256("other\n".getBytes()),
                    "same.bin", Fx.sha256(want));
            assertEquals(files, Fx.exported(c, "v"));
            long before = Fx.packBytes(c.store);
            c.run("gc").ok();
            long freed = before - Fx.packBytes(c.store);
            assertTrue(freed >= (blocks - 2) * PAGE, "gc reclaims the delta's other copies: " + freed + " bytes freed");
            c.run("fsck").ok();
            c.run("verify").ok();
            assertEquals(files, Fx.exported(c, "v"));
            try (Cowfs.Mounted m = c.mount("v")) {
                assertArrayEquals(want, Files.readAllBytes(m.dir.resolve("same.bin")));
            }
        }
    }

    /**
     * Format 7: random page writes through a mount into a new file and into a base file, in
     * several persists (an fsync after every few), store deltas with sequenced ids (docs/FORMAT.md,
     * "Chunk ids"): every delta the view names starts with 0xFF, they are all different, and the
     * ids of a later persist sort after those of an earlier one. The files read back exactly
     * through a fresh mount, verify and fsck check every delta against its id and are clean, gc
     * keeps them all, and the frozen view names no sequenced id (the freeze folded them into
     * whole chunks named by their hash).
     */
    @Test
    void deltasGetSequencedIdsThatGrowAndReadBackVerified() throws Exception {
        Cowfs.assumeFuse();
        int bs = 64 << 10;
        byte[] want = new byte[20 * bs];
        Random rnd = new Random(41);
        try (Cowfs c = new Cowfs(tmp)) {
            setUp(c);
            try (Cowfs.Mounted m = c.mount("v")) {
                try (FileChannel ch = FileChannel.open(m.dir.resolve("new.bin"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    ch.write(ByteBuffer.wrap(new byte[1]), want.length - 1);
                    for (int round = 0; round < 4; round++) {
                        for (int b = round * 5; b < round * 5 + 5; b++) {
                            byte[] page = Fx.random(100 + b, PAGE);
                            long off = (long) b * bs + (long) rnd.nextInt(bs / PAGE) * PAGE;
                            ch.write(ByteBuffer.wrap(page), off);
                            System.arraycopy(page, 0, want, (int) off, PAGE);
                        }
                        ch.force(false);
                    }
                }
                rewrite(m.dir.resolve("big.bin"), new Random(42), 16);
            }
            List<ChunkId> deltas = new ArrayList<>();
            try (Store s = Store.open(c.store)) {
                assertEquals(Store.FORMAT, s.format());
                CatalogEntry v = new Catalog(s).get("v");
                ViewDelta.State st = s.index().read(txn -> new ViewDelta(s.index()).load(txn, v.viewId()));
                deltas.addAll(st.deltaBases.keySet());
            }
            assertTrue(deltas.size() >= 20 + 12, "a delta per written block: " + deltas.size());
            for (ChunkId d : deltas) {
                assertEquals(ChunkId.SEQUENCED, d.bytes()[0], "a sequenced id: " + d);
            }
            assertEquals(deltas.size(), new java.util.HashSet<>(deltas).size());
            try (Cowfs.Mounted m = c.mount("v")) {
                assertArrayEquals(want, Files.readAllBytes(m.dir.resolve("new.bin")));
                assertArrayEquals(expected, Files.readAllBytes(m.dir.resolve("big.bin")));
            }
            c.run("verify").ok();
            c.run("fsck").ok();
            c.run("gc").ok();
            c.run("fsck").ok();
            Map<String, String> files = Map.of("big.bin", Fx.sha256(expected), "other.txt", Fx.sha256("other\n".getBytes()),
                    "new.bin", Fx.sha256(want));
            assertEquals(files, Fx.exported(c, "v"));
            c.run("snapshot", "v", "--name", "frozen").ok();
            assertEquals(files, Fx.exported(c, "frozen"));
            try (Store s = Store.open(c.store)) {
                ChunkId root = new Catalog(s).get("frozen").root();
                io.cowfs.blockstore.tree.SnapshotReader r = new io.cowfs.blockstore.tree.SnapshotReader(s, root);
                for (String name : List.of("new.bin", "big.bin")) {
                    io.cowfs.blockstore.tree.Inode f = r.inode(r.dir(r.inode(1)).get(name).ino());
                    for (long i = 0; i * bs < f.size; i++) {
                        ChunkId id = r.block(f, i);
                        assertTrue(id == null || id.bytes()[0] != ChunkId.SEQUENCED || !deltas.contains(id), name + " names a delta: " + id);
                    }
                }
            }
        }
    }

    /**
     * A mount that persists every 128 KiB of written data (-Dcowfs.dirtyLimit) takes 8,000 random
     * page writes into a new 256 MiB sparse file: its blocks are stored again and again, each time
     * as a new delta, and it forgets the deltas they replace (WriteBack.pruneDeltaBases, from 4,096
     * of them on). The file reads back exactly through that mount, through a fresh one, and frozen
     * and exported; verify and fsck are clean.
     */
    @Test
    void blocksStoredManyTimesOverThroughASmallDirtyLimitReadBackExactly() throws Exception {
        Cowfs.assumeFuse();
        long size = 256L << 20;
        try (Cowfs c = new Cowfs(tmp)) {
            setUp(c);
            java.util.TreeMap<Long, byte[]> pages = new java.util.TreeMap<>();
            Path mp = Files.createDirectory(tmp.resolve("mp"));
            Process mount = ReadPathIT.foregroundMount(c, "v", mp, "-Dcowfs.dirtyLimit=131072");
            try {
                ReadPathIT.waitMounted(mount, mp);
                Random rnd = new Random(21);
                try (FileChannel ch = FileChannel.open(mp.resolve("sparse.bin"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    ch.write(ByteBuffer.wrap(new byte[PAGE]), size - PAGE); // the size; a hole before it
                    for (int round = 0; round < 8; round++) {
                        for (int i = 0; i < 1000; i++) {
                            byte[] page = new byte[PAGE];
                            rnd.nextBytes(page);
                            long off = (long) rnd.nextInt((int) (size / PAGE)) * PAGE;
                            ch.write(ByteBuffer.wrap(page), off);
                            pages.put(off, page);
                        }
                        ch.force(true);
                    }
                }
                assertSparseFile(mp.resolve("sparse.bin"), size, pages);
            } finally {
                Cowfs.unmountHard(mp);
                mount.waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
                mount.destroyForcibly();
            }
            try (Cowfs.Mounted m = c.mount("v")) {
                assertSparseFile(m.dir.resolve("sparse.bin"), size, pages);
            }
            c.run("snapshot", "v", "--name", "s1").ok();
            c.run("verify").ok();
            c.run("fsck").ok();
            Path out = tmp.resolve("export-s1");
            c.run("export", "s1", out.toString()).ok();
            assertSparseFile(out.resolve("sparse.bin"), size, pages);
        }
    }

    /**
     * Random 4 KiB rewrites of the base file, 8 MiB of them (half the file's size), with an fsync
     * after every 8: most blocks are stored several times over, each time as a chained delta
     * holding only the pages written since (format 5), so the store grows by less than twice the
     * bytes written before any gc (a delta over the base each time, holding every page written so
     * far, made that 3-4x). The file reads back exactly through a fresh mount, freezes, verifies,
     * checks and exports. gc leaves the chains of a mounted view alone, and folds those of three
     * deltas or more of an unmounted one (one delta or chunk per block); the file still reads exactly.
     */
    @Test
    void rewritesOfBlocksStoredManyTimesChainTheirDeltasAndGrowTheStoreLittle() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            setUp(c);
            long before = Fx.packBytes(c.store);
            long written = 0;
            try (Cowfs.Mounted m = c.mount("v")) {
                Random rnd = new Random(31);
                for (int i = 0; i < 256; i++) {
                    written += rewrite(m.dir.resolve("big.bin"), rnd, 8); // 8 pages, then fsync
                }
                assertArrayEquals(expected, Files.readAllBytes(m.dir.resolve("big.bin")));
            }
            long grew = Fx.packBytes(c.store) - before;
            System.out.println("4 KiB rewrites, fsync every 8: " + written + " bytes written, packs grew by "
                    + grew + " (" + String.format("%.2f", grew / (double) written) + "x)");
            assertTrue(grew <= 2 * written, "packs grew by " + grew + " for " + written + " bytes written");
            long chains = chainedBlocks(c, 2);
            long longChains = chainedBlocks(c, 3);
            assertTrue(chains > 50 && longChains > 10, "blocks stored as chains of 2+ deltas: " + chains + ", of 3+: " + longChains);
            try (Cowfs.Mounted m = c.mount("v")) {
                assertArrayEquals(expected, Files.readAllBytes(m.dir.resolve("big.bin")));
                c.run("snapshot", "v", "--name", "s1").ok();
                JsonNode gc = Fx.json(c.run("gc", "--json").ok()); // v is mounted: its chains are its mount's
                assertEquals(0, gc.get("chainsFolded").asLong(), gc.toString());
            }
            assertEquals(chains, chainedBlocks(c, 2));
            c.run("verify").ok();
            c.run("fsck").ok();
            Map<String, String> want = Map.of("big.bin", Fx.sha256(expected), "other.txt", Fx.sha256("other\n".getBytes()));
            assertEquals(want, Fx.exported(c, "s1"));

            c.run("rm", "base", "s1").ok(); // the view's chains are all that name their links and most base chunks
            long beforeGc = Fx.packBytes(c.store);
            JsonNode gc = Fx.json(c.run("gc", "--json").ok());
            assertTrue(gc.get("chainsFolded").asLong() == longChains && gc.get("viewsFolded").asLong() == 1, gc.toString());
            assertEquals(0, chainedBlocks(c, 3), "no chain of 3 deltas or more is left");
            System.out.println("gc folded " + gc.get("chainsFolded") + " chains: packs " + beforeGc + " -> " + Fx.packBytes(c.store));
            c.run("fsck").ok();
            c.run("verify").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                assertArrayEquals(expected, Files.readAllBytes(m.dir.resolve("big.bin")));
            }
            assertEquals(want, Fx.exported(c, "v"));
        }
    }

    /**
     * A damaged link below the top of a chain: big.bin reads as EIO, other files still read, verify
     * names the link; gc cannot fold that chain and leaves it (the rest of its work done), and the
     * damage stays reported rather than hidden.
     */
    @Test
    void aDamagedLinkOfAChainGivesEioAndGcLeavesItAlone() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            setUp(c);
            try (Cowfs.Mounted m = c.mount("v")) {
                Random rnd = new Random(41);
                for (int i = 0; i < 3; i++) {
                    rewrite(m.dir.resolve("big.bin"), rnd, 64); // the same blocks stored again: chains of three
                    rnd = new Random(41);
                }
            }
            ChunkId link;
            try (Store s = Store.open(c.store)) {
                CatalogEntry v = new Catalog(s).get("v");
                ViewDelta.State st = s.index().read(txn -> new ViewDelta(s.index()).load(txn, v.viewId()));
                // a chained delta applies over another delta, itself a key of deltaBases
                link = st.deltaBases.values().stream().filter(st.deltaBases::containsKey).findFirst().orElse(null);
                assertTrue(link != null, "some blocks were stored as chained deltas");
            }
            assertDamagedChunkGivesEioForBigBinOnly(c, link);
            JsonNode gc = Fx.json(c.run("gc", "--json").ok());
            assertTrue(gc.get("chainsFolded").asLong() > 0, "the undamaged chains are folded: " + gc);
            Cowfs.Result v = c.run("verify");
            assertEquals(Main.EXIT_DAMAGED, v.rc(), v.out() + v.err());
            assertTrue(v.out().contains(link.hex()), "verify still names the damaged link: " + v.out());
        }
    }

    /** Blocks of view v that are chains of at least minDeltas sub-block deltas. */
    private static long chainedBlocks(Cowfs c, int minDeltas) {
        try (Store s = Store.open(c.store)) {
            CatalogEntry v = new Catalog(s).get("v");
            ViewDelta.State st = s.index().read(txn -> new ViewDelta(s.index()).load(txn, v.viewId()));
            return st.blocks.values().stream().flatMap(m -> m.values().stream()).filter(id -> {
                int n = 0;
                for (ChunkId x = id; x != null && st.deltaBases.containsKey(x); x = st.deltaBases.get(x)) {
                    n++;
                }
                return n >= minDeltas;
            }).count();
        }
    }

    /**
     * Sets up the store, rewrites pages of view v's big.bin (random with seed) through a mount, and
     * returns the view's deltas: delta -> the chunk it applies to.
     */
    private java.util.Map<ChunkId, ChunkId> rewrittenDeltas(Cowfs c, long seed) throws Exception {
        setUp(c);
        try (Cowfs.Mounted m = c.mount("v")) {
            rewrite(m.dir.resolve("big.bin"), new Random(seed), 8);
        }
        try (Store s = Store.open(c.store)) {
            CatalogEntry v = new Catalog(s).get("v");
            ViewDelta.State st = s.index().read(txn -> new ViewDelta(s.index()).load(txn, v.viewId()));
            assertFalse(st.deltaBases.isEmpty(), "the rewrites were stored as deltas");
            return st.deltaBases;
        }
    }

    /**
     * Flips a byte of chunk id's record in its pack: view v's big.bin, which needs it, then reads
     * as EIO through a mount, other.txt still reads, and verify exits damaged naming the chunk.
     */
    private static void assertDamagedChunkGivesEioForBigBinOnly(Cowfs c, ChunkId id) throws Exception {
        ChunkLocation loc;
        try (Store s = Store.open(c.store)) {
            loc = s.locate(id);
        }
        Fx.flipByte(c.store.resolve("packs").resolve(Packs.fileName(loc.pack())), loc.offset() + PackRecord.HEADER + loc.storedLen() - 1);
        try (Cowfs.Mounted m = c.mount("v")) {
            IOException e = assertThrows(IOException.class, () -> Files.readAllBytes(m.dir.resolve("big.bin")));
            assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"), e.toString());
            assertEquals("other\n", Files.readString(m.dir.resolve("other.txt")));
        }
        Cowfs.Result v = c.run("verify");
        assertEquals(Main.EXIT_DAMAGED, v.rc(), v.out() + v.err());
        assertTrue(v.out().contains(id.hex()), "verify names the damaged chunk: " + v.out());
    }

    /** file is size bytes: the given pages where written, zeros elsewhere. */
    private static void assertSparseFile(Path file, long size, java.util.TreeMap<Long, byte[]> pages) throws IOException {
        assertEquals(size, Files.size(file));
        byte[] zeros = new byte[PAGE];
        ByteBuffer buf = ByteBuffer.allocate(1 << 20);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            for (long pos = 0; pos < size; pos += buf.capacity()) {
                buf.clear();
                while (buf.hasRemaining() && ch.read(buf, pos + buf.position()) > 0) {
                    // read the whole MiB
                }
                byte[] got = buf.array();
                for (int at = 0; at < buf.position(); at += PAGE) {
                    long off = pos + at;
                    byte[] want = pages.getOrDefault(off, zeros);
                    if (!java.util.Arrays.equals(got, at, at + PAGE, want, 0, PAGE)) {
                        throw new AssertionError(file + ": page at " + off + " differs");
                    }
                }
            }
        }
    }

    /**
     * Random 4 KiB writes into a new sparse file (a database or VM image being filled): each block
     * is a delta over the all-zero block, the store grows by about what was written, and the file
     * reads, freezes, verifies and exports exactly, before and after gc.
     */
    @Test
    void randomPagesIntoANewSparseFileStaySmallAndFreezeExactly() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            setUp(c);
            byte[] sparse = new byte[SIZE];
            Random rnd = new Random(4);
            long before = Fx.packBytes(c.store);
            long written = 0;
            try (Cowfs.Mounted m = c.mount("v")) {
                try (FileChannel ch = FileChannel.open(m.dir.resolve("new.img"), StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE)) {
                    ch.truncate(SIZE);
                    ch.write(ByteBuffer.wrap(new byte[1]), SIZE - 1); // the size, whatever the writes reach
                    for (int i = 0; i < 512; i++) {
                        byte[] page = new byte[PAGE];
                        rnd.nextBytes(page);
                        long off = (long) rnd.nextInt(SIZE / PAGE) * PAGE;
                        ch.write(ByteBuffer.wrap(page), off);
                        System.arraycopy(page, 0, sparse, (int) off, PAGE);
                        written += PAGE;
                    }
                    ch.force(true);
                }
                assertArrayEquals(sparse, Files.readAllBytes(m.dir.resolve("new.img")));
            }
            long grew = Fx.packBytes(c.store) - before;
            System.out.println("4 KiB writes into a new file: " + written + " bytes written, packs grew by " + grew);
            assertTrue(grew <= 2 * written, "packs grew by " + grew + " for " + written + " bytes written");
            try (Store s = Store.open(c.store)) {
                CatalogEntry v = new Catalog(s).get("v");
                ViewDelta.State st = s.index().read(txn -> new ViewDelta(s.index()).load(txn, v.viewId()));
                ChunkId zeros = ChunkId.hash(new byte[s.blockSize()], 0, s.blockSize());
                assertTrue(st.deltaBases.values().stream().filter(zeros::equals).count() > 100,
                        "blocks kept as deltas over zeros: " + st.deltaBases);
            }
            c.run("snapshot", "v", "--name", "s1").ok();
            c.run("verify").ok();
            c.run("fsck").ok();
            Map<String, String> want = Map.of("big.bin", Fx.sha256(expected), "other.txt", Fx.sha256("other\n".getBytes()),
                    "new.img", Fx.sha256(sparse));
            assertEquals(want, Fx.exported(c, "v"));
            c.run("rm", "base").ok();
            c.run("gc").ok();
            c.run("fsck").ok();
            assertEquals(want, Fx.exported(c, "s1"));
            try (Cowfs.Mounted m = c.mount("v")) {
                assertArrayEquals(sparse, Files.readAllBytes(m.dir.resolve("new.img")));
            }
        }
    }

    @Test
    void gcKeepsTheBaseChunksOfALiveViewsDeltas() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            setUp(c);
            try (Cowfs.Mounted m = c.mount("v")) {
                rewrite(m.dir.resolve("big.bin"), new Random(3), 64);
            }
            c.run("rm", "base").ok(); // the view's deltas are all that name most base chunks now
            c.run("gc").ok();
            c.run("fsck").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                assertArrayEquals(expected, Files.readAllBytes(m.dir.resolve("big.bin")));
            }
        }
    }

    @Test
    void killDashNineDuringSubBlockWritesLosesNothingFsynced() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            setUp(c);
            Random rnd = new Random(4);
            for (int round = 0; round < 3; round++) {
                byte[] acked = expected.clone();
                List<long[]> sinceSync = new ArrayList<>(); // {off, seed} of writes not yet fsync'd
                Cowfs.Mounted m = c.mount("v");
                try {
                    assertArrayEquals(expected, Files.readAllBytes(m.dir.resolve("big.bin")), "round " + round);
                    Thread writer = new Thread(() -> {
                        try (FileChannel ch = FileChannel.open(m.dir.resolve("big.bin"), StandardOpenOption.WRITE)) {
                            for (int i = 0; ; i++) {
                                long seed;
                                long off;
                                synchronized (sinceSync) {
                                    seed = rnd.nextLong();
                                    off = (long) rnd.nextInt(SIZE / PAGE) * PAGE;
                                    sinceSync.add(new long[] {off, seed});
                                }
                                ch.write(ByteBuffer.wrap(Fx.random(seed, PAGE)), off);
                                if (i % 16 == 15) {
                                    ch.force(true);
                                    synchronized (sinceSync) {
                                        for (long[] w : sinceSync) {
                                            System.arraycopy(Fx.random(w[1], PAGE), 0, acked, (int) w[0], PAGE);
                                        }
                                        sinceSync.clear();
                                    }
                                }
                            }
                        } catch (IOException expectedOnKill) {
                            // the mount was killed
                        }
                    });
                    writer.start();
                    Thread.sleep(800 + rnd.nextInt(800));
                    Fx.killMount(c.store, m.dir);
                    writer.join(30_000);
                    assertFalse(writer.isAlive(), "the writer hangs on a dead mount");
                    c.run("umount", m.dir.toString()).ok();
                } finally {
                    m.close();
                }
                try (Cowfs.Mounted again = c.mount("v")) {
                    byte[] got = Files.readAllBytes(again.dir.resolve("big.bin"));
                    assertEquals(SIZE, got.length);
                    for (int p = 0; p < SIZE / PAGE; p++) {
                        int at = p * PAGE;
                        if (java.util.Arrays.equals(got, at, at + PAGE, acked, at, at + PAGE)) {
                            continue;
                        }
                        boolean inflight = false; // an unsynced write of this page may or may not be there
                        for (long[] w : sinceSync) {
                            inflight |= w[0] == at && java.util.Arrays.equals(got, at, at + PAGE, Fx.random(w[1], PAGE), 0, PAGE);
                        }
                        assertTrue(inflight, "round " + round + ": page " + p + " holds neither its fsync'd bytes nor an unsynced write");
                    }
                    expected = got;
                }
                c.run("fsck").ok();
            }
            c.run("verify").ok();
        }
    }

    /**
     * The whole chunk under a delta is damaged: the block made from it (the base is decoded into
     * the block cache with the read's other blocks, then the delta applied over it there) reads as
     * EIO, never as the damaged bytes with the delta's pages over them.
     */
    @Test
    void aDamagedBaseUnderADeltaGivesEioForItsFileOnly() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            java.util.Map<ChunkId, ChunkId> deltaBases = rewrittenDeltas(c, 6);
            ChunkId base = deltaBases.keySet().iterator().next();
            while (deltaBases.containsKey(base)) {
                base = deltaBases.get(base);
            }
            assertDamagedChunkGivesEioForBigBinOnly(c, base);
        }
    }

    @Test
    void aDamagedDeltaGivesEioForItsFileOnly() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            ChunkId delta = rewrittenDeltas(c, 5).keySet().iterator().next();
            assertDamagedChunkGivesEioForBigBinOnly(c, delta);
            // fsck checks structure and does not re-hash data blocks (a delta is one): verify's job
        }
    }
}
