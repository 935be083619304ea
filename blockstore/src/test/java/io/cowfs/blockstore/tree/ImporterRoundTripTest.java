package io.cowfs.blockstore.tree;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.io.RandomAccessFile;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Importer -> SnapshotReader -> Exporter on a real tree, a real store and the host's own attributes. */
class ImporterRoundTripTest {
    static final int BS = Store.DEFAULT_BLOCK_SIZE;
    static final long T0 = 1_600_000_000_123_456_789L;

    @TempDir
    Path tmp;

    Path src;
    Store store;

    @BeforeEach
    void tree() throws Exception {
        src = Files.createDirectories(tmp.resolve("src"));
        Random rnd = new Random(7);
        write(src.resolve("empty"), new byte[0]);
        write(src.resolve("one-byte"), new byte[] {42});
        write(src.resolve("block"), bytes(rnd, BS));
        write(src.resolve("block-and-one"), bytes(rnd, BS + 1));
        write(src.resolve("zeros"), new byte[3 * BS]);
        Files.createDirectories(src.resolve("d/e/f"));
        write(src.resolve("d/e/f/deep"), "deep\n".getBytes(StandardCharsets.UTF_8));
        Files.createDirectories(src.resolve("emptydir"));
        try (RandomAccessFile f = new RandomAccessFile(src.resolve("sparse").toFile(), "rw")) {
            f.setLength(10L * BS + 100); // hole, data in block 4, hole, trailing partial hole
            f.seek(4L * BS + 10);
            f.write(bytes(rnd, 1000));
        }
        Files.createSymbolicLink(src.resolve("link"), Path.of("d/e/f/deep"));
        Files.createSymbolicLink(src.resolve("dangling"), Path.of("../../nowhere"));
        write(src.resolve("hl"), "linked\n".getBytes(StandardCharsets.UTF_8));
        Files.createLink(src.resolve("d/hl2"), src.resolve("hl"));
        Files.createLink(src.resolve("d/e/hl3"), src.resolve("hl"));
        HostFs.mknod(src.resolve("fifo"), 0010640, 0);
        try (ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            s.bind(UnixDomainSocketAddress.of(src.resolve("sock")));
        }
        write(src.resolve("日本語 ✓"), "utf8\n".getBytes(StandardCharsets.UTF_8));
        HostFs.setXattr(src.resolve("block"), "user.a", new byte[] {0, 1, 2});
        HostFs.setXattr(src.resolve("block"), "user.big", bytes(rnd, 3000));
        HostFs.setXattr(src.resolve("d"), "user.dir", "yes".getBytes(StandardCharsets.UTF_8));
        Files.setAttribute(src.resolve("one-byte"), "unix:mode", 04751);
        Files.setAttribute(src.resolve("emptydir"), "unix:mode", 01770);
        HostFs.lchown(src.resolve("block"), 1234, 5678);
        HostFs.lchown(src.resolve("link"), 4321, 8765);
        // times last, deepest first; atime "now" so that reading the tree (relatime) changes nothing
        long now = System.currentTimeMillis() * 1_000_000L;
        List<Path> all;
        try (Stream<Path> s = Files.walk(src)) {
            all = new ArrayList<>(s.toList());
        }
        for (int i = all.size() - 1; i >= 0; i--) {
            HostFs.setTimes(all.get(i), now, T0 + i * 1_000_001L);
        }
        HostFs.setTimes(src.resolve("zeros"), now, -1_500_000_000_250_000_000L); // before 1970
        store = Store.init(tmp.resolve("store"), BS);
    }

    static byte[] bytes(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    static void write(Path p, byte[] b) throws Exception {
        Files.write(p, b);
    }

    Importer.Result importTree(AtomicLong advanced, long[] total) {
        Importer imp = new Importer(store, false, new Importer.Progress() {
            @Override
            public void total(long bytes, long files) {
                total[0] = bytes;
                total[1] = files;
            }

            @Override
            public void advance(long bytes) {
                advanced.addAndGet(bytes);
            }
        }, w -> { });
        Importer.Result r = imp.run(src);
        store.commit(txn -> null);
        return r;
    }

    @Test
    void everyEntryReadsBackAsTheHostHasIt() throws Exception {
        AtomicLong advanced = new AtomicLong();
        long[] total = new long[2];
        Importer.Result r = importTree(advanced, total);
        try {
            assertEquals(9, r.files(), "regular files, the hardlinked one once");
            assertEquals(5, r.dirs());
            assertEquals(2, r.symlinks());
            assertEquals(2, r.others(), "fifo and socket");
            long logical = 0 + 1 + BS + BS + 1 + 3 * BS + 5 + 10L * BS + 100 + 7 + 5;
            assertEquals(logical, r.logicalBytes());
            assertEquals(logical, total[0]);
            assertEquals(9, total[1]);
            assertEquals(logical, advanced.get(), "progress covers every byte once");
            assertTrue(r.warnings().isEmpty(), r.warnings().toString());

            SnapshotReader snap = new SnapshotReader(store, r.root());
            Inode root = snap.inode(SnapshotRoot.ROOT_INO);
            assertEquals(FileType.DIRECTORY, root.type);
            Map<Long, List<String>> names = new HashMap<>();
            compareDir(snap, root, src, "", names);
            List<String> hl = names.values().stream().filter(l -> l.size() > 1).findFirst().orElseThrow();
            assertEquals(List.of("d/e/hl3", "d/hl2", "hl"), hl.stream().sorted().toList(), "one inode, three names");
            assertEquals(snap.root().maxIno(), names.size() + 1, "inodes are numbered densely, the root being 1");
        } finally {
            store.close();
        }
    }

    /** Compares every entry of a snapshot directory with the host directory, recursively. */
    void compareDir(SnapshotReader snap, Inode dir, Path host, String rel, Map<Long, List<String>> names) throws Exception {
        List<String> hostNames;
        try (Stream<Path> s = Files.list(host)) {
            hostNames = s.map(p -> p.getFileName().toString()).sorted().toList();
        }
        assertEquals(hostNames, new ArrayList<>(snap.dir(dir).toMap().keySet()), "entries of " + host);
        compareAttrs(dir, host);
        for (var e : snap.dir(dir).toMap().entrySet()) {
            Path p = host.resolve(e.getKey());
            String r = rel.isEmpty() ? e.getKey() : rel + "/" + e.getKey();
            Inode n = snap.inode(e.getValue().ino());
            assertNotNull(n, r);
            assertEquals(n.type, e.getValue().type(), "type in the directory entry of " + r);
            names.computeIfAbsent(n.ino, k -> new ArrayList<>()).add(r);
            compareAttrs(n, p);
            switch (n.type) {
                case DIRECTORY -> compareDir(snap, n, p, r, names);
                case REGULAR -> assertArrayEquals(Files.readAllBytes(p), content(snap, n), r);
                case SYMLINK -> assertEquals(Files.readSymbolicLink(p).toString(), new String(n.target, StandardCharsets.UTF_8));
                default -> { }
            }
        }
    }

    static void compareAttrs(Inode n, Path p) throws Exception {
        Map<String, Object> a = Files.readAttributes(p, "unix:*", LinkOption.NOFOLLOW_LINKS);
        assertEquals((int) a.get("mode"), n.mode(), "mode of " + p);
        assertEquals((int) a.get("uid"), n.uid, "uid of " + p);
        assertEquals((int) a.get("gid"), n.gid, "gid of " + p);
        if (n.type != FileType.DIRECTORY || (int) a.get("nlink") != 1) { // btrfs: 1 for every directory
            assertEquals((int) a.get("nlink"), n.nlink, "nlink of " + p);
        }
        if (n.type != FileType.DIRECTORY) {
            assertEquals((long) a.get("size"), n.size, "size of " + p);
        }
        FileTime m = (FileTime) a.get("lastModifiedTime");
        assertEquals(m.toInstant().getEpochSecond() * 1_000_000_000L + m.toInstant().getNano(), n.mtimeNs, "mtime of " + p);
        TreeMap<String, byte[]> x = HostFs.xattrs(p);
        assertEquals(x.keySet(), n.xattrs.keySet(), "xattrs of " + p);
        for (String k : x.keySet()) {
            assertArrayEquals(x.get(k), n.xattrs.get(k), k + " of " + p);
        }
    }

    /** A file's bytes from its block list; a null block is a hole of zeros. */
    static byte[] content(SnapshotReader snap, Inode n) {
        byte[] out = new byte[(int) n.size];
        long blocks = (n.size + BS - 1) / BS;
        for (long i = 0; i < blocks; i++) {
            ChunkId id = snap.block(n, i);
            if (id != null) {
                byte[] b = snap.store().get(id);
                System.arraycopy(b, 0, out, (int) (i * BS), b.length);
            }
        }
        return out;
    }

    @Test
    void holesAndZeroBlocksAreNotChunks() throws Exception {
        Importer.Result r = importTree(new AtomicLong(), new long[2]);
        try {
            SnapshotReader snap = new SnapshotReader(store, r.root());
            Inode sparse = snap.inode(lookup(snap, "sparse"));
            for (long i = 0; i < 11; i++) {
                if (i == 4) {
                    assertNotNull(snap.block(sparse, i));
                } else {
                    assertNull(snap.block(sparse, i), "block " + i + " of sparse is a hole");
                }
            }
            Inode zeros = snap.inode(lookup(snap, "zeros"));
            assertTrue(zeros.blockPages.isEmpty(), "an all-zero file has no block list at all");
            Inode empty = snap.inode(lookup(snap, "empty"));
            assertEquals(0, empty.size);
            assertNull(snap.block(empty, 0));
        } finally {
            store.close();
        }
    }

    static long lookup(SnapshotReader snap, String name) {
        return snap.dir(snap.inode(SnapshotRoot.ROOT_INO)).get(name).ino();
    }

    @Test
    void theSameTreeGivesTheSameObjects() throws Exception {
        Importer.Result a = importTree(new AtomicLong(), new long[2]);
        long appended = store.appendedChunks.get();
        Importer.Result b = importTree(new AtomicLong(), new long[2]);
        try {
            SnapshotReader x = new SnapshotReader(store, a.root());
            SnapshotReader y = new SnapshotReader(store, b.root());
            assertEquals(x.maxIno(), y.maxIno());
            for (long ino = 1; ino <= x.maxIno(); ino++) {
                Inode p = x.inode(ino);
                Inode q = y.inode(ino);
                assertEquals(p.type, q.type);
                assertEquals(p.blockPages, q.blockPages, "block lists of inode " + ino);
                assertEquals(p.dirObject, q.dirObject, "directory object of inode " + ino);
                assertEquals(p.mtimeNs, q.mtimeNs);
            }
            // at most the inode pages and the root differ (atimes, if the host updated them)
            assertTrue(store.appendedChunks.get() - appended <= 1 + x.root().inodePages().size(),
                    "second import appended " + (store.appendedChunks.get() - appended) + " chunks");
        } finally {
            store.close();
        }
    }

    @Test
    void exportWritesTheTreeBack() throws Exception {
        Importer.Result r = importTree(new AtomicLong(), new long[2]);
        Path out = tmp.resolve("out");
        List<String> warnings = new ArrayList<>();
        AtomicLong progress = new AtomicLong();
        try {
            SnapshotReader snap = new SnapshotReader(store, r.root());
            new Exporter(snap, progress::addAndGet, warnings::add).run(out);
            assertEquals(r.logicalBytes(), progress.get());
            assertTrue(warnings.isEmpty(), warnings.toString());
            // the export, imported again, compares equal to the source on the host
            Map<Long, List<String>> names = new HashMap<>();
            compareDir(snap, snap.inode(SnapshotRoot.ROOT_INO), out, "", names);
            assertEquals(Files.getAttribute(out.resolve("hl"), "unix:ino"), Files.getAttribute(out.resolve("d/e/hl3"), "unix:ino"));
            assertTrue((long) Files.getAttribute(out.resolve("zeros"), "unix:size") == 3L * BS);
            assertTrue(Files.isSymbolicLink(out.resolve("dangling")));
            assertTrue("p".equals(kind(out.resolve("fifo"))) && "s".equals(kind(out.resolve("sock"))));
            StoreException e = assertThrows(StoreException.class,
                    () -> new Exporter(snap, n -> { }, w -> { }).run(out), "export into a non-empty directory");
            assertTrue(e.getMessage().contains("not empty"), e.getMessage());
        } finally {
            store.close();
        }
    }

    /**
     * A failed export into a destination given as a symlink (to an empty directory, or dangling):
     * the user's symlink was there before the export and must stay; what the export wrote (in the
     * symlink's target) is removed.
     */
    @Test
    void aFailedExportThroughASymlinkLeavesTheSymlink() throws Exception {
        Importer.Result r = importTree(new AtomicLong(), new long[2]);
        try {
            SnapshotReader snap = new SnapshotReader(store, r.root());
            Path target = Files.createDirectories(tmp.resolve("target"));
            Path link = Files.createSymbolicLink(tmp.resolve("link-to-target"), target);
            AtomicLong written = new AtomicLong();
            assertThrows(Exporter.ExportFailed.class, () -> new Exporter(snap, n -> {
                if (written.addAndGet(n) > 2 * BS) {
                    throw new IllegalStateException("disk full (simulated)");
                }
            }, w -> { }).run(link));
            assertTrue(Files.isSymbolicLink(link), "the user's symlink is still there");
            try (var s = Files.list(target)) {
                assertEquals(List.of(), s.toList(), "the partial export in the symlink's target is removed");
            }

            Path dangling = Files.createSymbolicLink(tmp.resolve("dangling-dest"), tmp.resolve("nowhere"));
            assertThrows(Exporter.ExportFailed.class, () -> new Exporter(snap, n -> { }, w -> { }).run(dangling));
            assertTrue(Files.isSymbolicLink(dangling), "the user's dangling symlink is still there");
        } finally {
            store.close();
        }
    }

    /**
     * A failed export into an empty directory removes what it wrote, and only that: a file put in
     * the directory while the export ran (by the user, or by another export into it, which may
     * have finished and said so) stays.
     */
    @Test
    void aFailedExportRemovesOnlyWhatItWrote() throws Exception {
        Importer.Result r = importTree(new AtomicLong(), new long[2]);
        try {
            SnapshotReader snap = new SnapshotReader(store, r.root());
            Path dest = Files.createDirectories(tmp.resolve("dest"));
            Path mine = dest.resolve("a-file-of-the-user");
            AtomicLong written = new AtomicLong();
            Exporter.ExportFailed e = assertThrows(Exporter.ExportFailed.class, () -> new Exporter(snap, n -> {
                if (written.get() == 0) {
                    try {
                        Files.writeString(mine, "the user's\n");
                    } catch (java.io.IOException x) {
                        throw new java.io.UncheckedIOException(x);
                    }
                }
                if (written.addAndGet(n) > 2 * BS) {
                    throw new IllegalStateException("disk full (simulated)");
                }
            }, w -> { }).run(dest));
            assertEquals("the user's\n", Files.readString(mine), e.getMessage());
            try (var s = Files.list(dest)) {
                assertEquals(List.of(mine), s.toList(), "the rest, the export's, is removed");
            }
        } finally {
            store.close();
        }
    }

    static String kind(Path p) throws Exception {
        int mode = (int) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return switch (mode & 0170000) {
            case 0010000 -> "p";
            case 0140000 -> "s";
            default -> Integer.toOctalString(mode);
        };
    }

    /**
     * A file that grows between the walk (which records its size) and the read of its blocks: the
     * snapshot holds the file as it was walked, and its last chunk holds no bytes past that size
     * (else an export writes a file longer than the snapshot says, and a mount shows another).
     */
    @Test
    void aFileGrowingDuringTheImportIsCutAtItsWalkedSize() throws Exception {
        Path grows = src.resolve("grows");
        write(grows, bytes(new Random(3), BS + 1000));
        Importer imp = new Importer(store, false, new Importer.Progress() {
            @Override
            public void total(long bytes, long files) { // after the walk, before any block is read
                try {
                    Files.write(grows, new byte[] {1, 2, 3}, java.nio.file.StandardOpenOption.APPEND);
                } catch (java.io.IOException e) {
                    throw new IllegalStateException(e);
                }
            }

            @Override
            public void advance(long bytes) {
            }
        }, w -> { });
        try {
            Importer.Result r = imp.run(src);
            store.commit(txn -> null);
            SnapshotReader snap = new SnapshotReader(store, r.root());
            Inode n = snap.inode(lookup(snap, "grows"));
            assertEquals(BS + 1000, n.size);
            assertEquals(1000, store.get(snap.block(n, 1)).length, "the last chunk ends at the walked size");
            Path out = tmp.resolve("out");
            new Exporter(snap, x -> { }, w -> { }).run(out);
            assertEquals(BS + 1000, Files.size(out.resolve("grows")));
            assertArrayEquals(Arrays.copyOf(Files.readAllBytes(grows), BS + 1000), Files.readAllBytes(out.resolve("grows")));
        } finally {
            store.close();
        }
    }

    /**
     * A file that shrinks between the walk and the read of its blocks (a program rewriting it with
     * O_TRUNC, a log rotated by truncation): the snapshot holds what was read, up to the end the
     * read met, as cp would copy it. Before, it kept the walked size and the blocks past the new
     * end became holes: an 8 MiB file rewritten during an import came back as 8 MiB of zeros.
     */
    /** Progress that cuts file to size when the walk is done, before any block of it is read. */
    static Importer.Progress cutAfterTheWalk(Path file, long size) {
        return new Importer.Progress() {
            @Override
            public void total(long bytes, long files) {
                try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                    f.setLength(size);
                } catch (java.io.IOException e) {
                    throw new IllegalStateException(e);
                }
            }

            @Override
            public void advance(long bytes) {
            }
        };
    }

    @Test
    void aFileShrinkingDuringTheImportIsStoredAsRead() throws Exception {
        Path shrinks = src.resolve("shrinks");
        byte[] was = bytes(new Random(5), 3 * BS + 500);
        write(shrinks, was);
        List<String> warnings = new ArrayList<>();
        Importer imp = new Importer(store, false, cutAfterTheWalk(shrinks, BS + 100), warnings::add);
        try {
            Importer.Result r = imp.run(src);
            store.commit(txn -> null);
            SnapshotReader snap = new SnapshotReader(store, r.root());
            Inode n = snap.inode(lookup(snap, "shrinks"));
            assertEquals(BS + 100, n.size, "the size the read met, not the walked one");
            assertArrayEquals(Arrays.copyOf(was, BS + 100), content(snap, n));
            assertTrue(warnings.stream().anyMatch(w -> w.contains("shrinks") && w.contains("shrank")), warnings.toString());
            Path out = tmp.resolve("out");
            new Exporter(snap, x -> { }, w -> { }).run(out);
            assertArrayEquals(Arrays.copyOf(was, BS + 100), Files.readAllBytes(out.resolve("shrinks")));
        } finally {
            store.close();
        }
    }

    /** Bytes this process has read through read(2) and its kind so far (/proc/self/io rchar). */
    static long bytesRead() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/io"))) {
            if (line.startsWith("rchar:")) {
                return Long.parseLong(line.substring(6).trim());
            }
        }
        throw new IllegalStateException("no rchar in /proc/self/io");
    }

    @Test
    void aSparseFileLargerThanAStoreHoldsIsRefusedByName() throws Exception {
        // 9 TiB holding one byte in a store of 4 KiB blocks: 2.4 billion blocks, more than an array holds
        // (was "-1879048192" from a NegativeArraySizeException, after seconds and half a GiB)
        Store small = Store.init(tmp.resolve("store4k"), 4096);
        Path img = src.resolve("huge.img");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(9L << 40);
            f.seek(5);
            f.write(1);
        } catch (java.io.IOException e) {
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "the host file system takes a 9 TiB sparse file: " + e);
        }
        try {
            StoreException e = assertThrows(StoreException.class,
                    () -> new Importer(small, false, Importer.Progress.NONE, w -> { }).run(src));
            assertTrue(e.getMessage().contains(img.toString()) && e.getMessage().contains("largest file"), e.getMessage());
            List<String> warned = new ArrayList<>();
            Importer.Result r = new Importer(small, true, Importer.Progress.NONE, warned::add).run(src);
            assertTrue(warned.stream().anyMatch(w -> w.contains(img.toString())), warned.toString());
            SnapshotReader snap = new SnapshotReader(small, r.root());
            DirEntries root = snap.dir(snap.inode(SnapshotRoot.ROOT_INO));
            assertNotNull(root.get("one-byte"));
            assertNull(root.get("huge.img"));
        } finally {
            small.close();
        }
    }

    @Test
    void theHolesOfASparseFileAreNotRead() throws Exception {
        Path img = src.resolve("disk.img");
        long size = 16L << 30; // a 16 GiB disk image holding 1.1 MiB of data
        Random rnd = new Random(11);
        byte[] head = bytes(rnd, 1 << 20);
        byte[] mid = bytes(rnd, 100_000);
        byte[] tail = bytes(rnd, 1000);
        long midAt = (5L << 30) + 12345; // unaligned: its first and last blocks are part hole
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(size);
            f.write(head);
            f.seek(midAt);
            f.write(mid);
            f.seek(size - tail.length);
            f.write(tail);
        }
        Path full = src.resolve("full.bin");
        write(full, bytes(rnd, 8 << 20));
        assertNull(HostFs.dataRanges(full, 8 << 20, 100), "a fully allocated file is not asked for holes: read whole");
        long[] ranges = HostFs.dataRanges(img, size, 100);
        org.junit.jupiter.api.Assumptions.assumeTrue(ranges != null && ranges.length == 6,
                "the host file system reports the holes (SEEK_DATA): " + Arrays.toString(ranges));
        AtomicLong advanced = new AtomicLong();
        long[] total = new long[2];
        long before = bytesRead();
        Importer.Result r = importTree(advanced, total);
        long read = bytesRead() - before;
        try {
            assertTrue(read < 64L << 20, "read " + read + " bytes for 1.1 MiB of data in a 16 GiB file");
            assertEquals(total[0], advanced.get(), "progress covers the holes too");
            SnapshotReader snap = new SnapshotReader(store, r.root());
            Inode n = snap.inode(lookup(snap, "disk.img"));
            assertEquals(size, n.size);
            long midBlock = midAt / BS;
            long data = 0;
            for (long i = 0; i < (size + BS - 1) / BS; i++) {
                ChunkId id = snap.block(n, i);
                boolean expected = i < 16 || i == midBlock || i == midBlock + 1 || i == (size - 1) / BS;
                assertEquals(expected, id != null, "block " + i);
                if (id != null) {
                    byte[] want = new byte[BS];
                    RandomAccessFile f = new RandomAccessFile(img.toFile(), "r");
                    try (f) {
                        f.seek(i * BS);
                        f.readFully(want);
                    }
                    assertArrayEquals(want, snap.store().get(id), "block " + i);
                    data++;
                }
                if (i == 20) {
                    i = midBlock - 2; // the holes between are checked by the count below
                } else if (i == midBlock + 3) {
                    i = (size - 1) / BS - 2;
                }
            }
            assertEquals(19, data);
            long blocks = 0;
            for (long i = 0; i < (size + BS - 1) / BS; i++) {
                blocks += snap.block(n, i) != null ? 1 : 0;
            }
            assertEquals(19, blocks, "no block of the holes is stored");
        } finally {
            store.close();
        }
    }

    @Test
    void aSparseFileShrinkingIntoAHoleDuringTheImportIsStoredAtItsNewSize() throws Exception {
        Path img = src.resolve("shrinks.img");
        byte[] head = bytes(new Random(3), BS);
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(32L << 20);
            f.write(head);
        }
        List<String> warnings = new ArrayList<>();
        // the new end is in the hole: no read meets it
        Importer imp = new Importer(store, false, cutAfterTheWalk(img, 8L << 20), warnings::add);
        try {
            Importer.Result r = imp.run(src);
            store.commit(txn -> null);
            SnapshotReader snap = new SnapshotReader(store, r.root());
            Inode n = snap.inode(lookup(snap, "shrinks.img"));
            assertEquals(8L << 20, n.size, "the file's size after it shrank, not the walked one");
            assertArrayEquals(head, snap.store().get(snap.block(n, 0)));
            assertTrue(warnings.stream().anyMatch(w -> w.contains("shrinks.img") && w.contains("shrank")), warnings.toString());
        } finally {
            store.close();
        }
    }

    @Test
    void aSourceThatIsNotADirectoryIsRefused() {
        try {
            Importer imp = new Importer(store, false, Importer.Progress.NONE, w -> { });
            StoreException a = assertThrows(StoreException.class, () -> imp.run(tmp.resolve("missing")));
            assertTrue(a.getMessage().contains("no such directory"), a.getMessage());
            StoreException b = assertThrows(StoreException.class, () -> imp.run(src.resolve("block")));
            assertTrue(b.getMessage().contains("not a directory"), b.getMessage());
            StoreException c = assertThrows(StoreException.class, () -> imp.run(src.resolve("link")));
            assertTrue(c.getMessage().contains("not a directory"), "a symlink to a directory is not followed: " + c.getMessage());
            assertEquals(0, store.appendedChunks.get());
        } finally {
            store.close();
        }
    }

    @Test
    void blockListPagesRoundTrip() {
        ChunkId[] ids = new ChunkId[5000];
        for (int i = 0; i < ids.length; i += 3) {
            ids[i] = ChunkId.hash(new byte[] {(byte) i, (byte) (i >> 8)});
        }
        byte[] page = BlockList.encodePage(ids, 100, 2148);
        assertArrayEquals(Arrays.copyOfRange(ids, 100, 2148), BlockList.decodePage(page));
        assertThrows(StoreException.class, () -> BlockList.decodePage(new byte[] {'X', 0}));
    }

    @Test
    void theBuilderGivesTheListThatSetGives() {
        try {
            Random rnd = new Random(13);
            int page = BlockList.PAGE;
            int[] sizes = {0, 1, 4, 5, page - 1, page, page + 1, 3 * page + 17, 7 * page};
            for (int size : sizes) {
                for (int pattern = 0; pattern < 6; pattern++) {
                    ChunkId[] ids = new ChunkId[size];
                    for (int i = 0; i < size; i++) {
                        boolean data = switch (pattern) {
                            case 0 -> false; // all holes
                            case 1 -> true; // all data
                            case 2 -> i == size - 1; // the last block only
                            case 3 -> i == 0; // the first block only
                            case 4 -> rnd.nextInt(5) == 0; // scattered
                            default -> i / page % 2 == 1 && i % 7 == 0; // every other page a page of holes
                        };
                        ids[i] = data ? ChunkId.hash(new byte[] {(byte) i, (byte) (i >> 8), (byte) pattern}) : null;
                    }
                    Inode want = new Inode();
                    BlockList.set(store, want, ids);
                    // block by block, with runs of holes given as runs, and with whole pages given as stored pages
                    for (int mode = 0; mode < 3; mode++) {
                        boolean runs = mode == 1;
                        BlockList.Builder b = new BlockList.Builder(store);
                        int i = 0;
                        while (i < size) {
                            if (mode == 2 && i % page == 0 && i + page <= size) {
                                ChunkId[] whole = Arrays.copyOfRange(ids, i, i + page);
                                b.page(store.put(BlockList.encodePage(whole, 0, page)), whole);
                                i += page;
                                continue;
                            }
                            int j = i;
                            while (runs && j < size && ids[j] == null) {
                                j++;
                            }
                            if (j > i) {
                                b.holes(j - i);
                                i = j;
                            } else {
                                b.add(ids[i++]);
                            }
                        }
                        Inode got = new Inode();
                        b.finish(got);
                        String what = "size " + size + ", pattern " + pattern + ", mode " + mode;
                        assertArrayEquals(want.inlineBlocks, got.inlineBlocks, what);
                        assertEquals(want.blockPages, got.blockPages, what);
                    }
                }
            }
        } finally {
            store.close();
        }
    }

    @Test
    void theImportOfASparseFileOfTerabytesHoldsNoArrayOfItsBlocks() throws Exception {
        Path img = src.resolve("huge.img");
        long size = (16L << 40) - (1 << 20); // as large as ext4 takes with 4 KiB blocks
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(size);
            f.seek(size - 3);
            f.write(new byte[] {'g', 'p', 't'});
        } catch (java.io.IOException e) {
            org.junit.jupiter.api.Assumptions.abort("the host file system takes no 16 TiB file: " + e.getMessage());
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(HostFs.dataRanges(img, size, 100) != null, "the host reports holes");
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long t = Thread.currentThread().getId();
        long before = mx.getThreadAllocatedBytes(t);
        Importer.Result r = importTree(new AtomicLong(), new long[2]);
        long allocated = mx.getThreadAllocatedBytes(t) - before;
        try {
            // 2^28 blocks: an array of them is 1 GiB; a list of the segments' futures is 16 MiB
            assertTrue(allocated < 256L << 20, "allocated " + allocated + " bytes importing a 16 TiB file of one block");
            SnapshotReader snap = new SnapshotReader(store, r.root());
            Inode n = snap.inode(lookup(snap, "huge.img"));
            assertEquals(size, n.size);
            byte[] last = snap.store().get(snap.block(n, (size - 1) / BS));
            assertEquals('t', last[last.length - 1]);
            assertNull(snap.block(n, 12345));
        } finally {
            store.close();
        }
    }
}
