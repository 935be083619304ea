package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileStore;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A read-only snapshot mount seen through real tools: everything the import kept must look
 * exactly like the source tree, and every write must fail with EROFS.
 */
class SnapshotMountIT {
    @TempDir
    static Path tmp;

    static Path src;
    static Cowfs cowfs;
    static Cowfs.Mounted mnt;

    @BeforeAll
    static void importAndMount() throws Exception {
        Cowfs.assumeFuse();
        src = SourceTree.build(tmp.resolve("src"));
        cowfs = new Cowfs(tmp);
        cowfs.run("import", src.toString(), "--name", "snap").ok();
        mnt = cowfs.mount("snap");
    }

    @AfterAll
    static void unmount() {
        if (cowfs != null) {
            try {
                // a plain, non-lazy unmount whose process exits: the tests left nothing open or mapped
                if (mnt != null) {
                    Cowfs.runRaw("umount", mnt.dir.toString()).ok();
                }
            } finally {
                cowfs.close();
            }
            assertTrue(mnt == null || !Cowfs.isMounted(mnt.dir));
        }
    }

    @Test
    void diffFindsNoDifference() throws Exception {
        // diff cannot compare fifos (it reports them even when equal); the listing below covers it
        Cowfs.sh(tmp, "diff -r --no-dereference -x fifo " + src + " " + mnt.dir);
    }

    @Test
    void findListingIsIdentical() throws Exception {
        String expected = SourceTree.listing(src);
        assertTrue(expected.contains("./fifo p "), expected);
        assertTrue(expected.contains("./setuid f 4755 "), expected);
        assertEquals(expected, SourceTree.listing(mnt.dir));
    }

    @Test
    void xattrsAreIdentical() throws Exception {
        String expected = SourceTree.xattrs(src);
        assertTrue(expected.contains("user.attribute-with-a-rather-long-name-40"), expected);
        assertEquals(expected, SourceTree.xattrs(mnt.dir));
    }

    /**
     * A view lists a file's xattrs in name order. So does ext4 for these; XFS lists them in the
     * order of its hash of their names, and a tar of such a source differs from the view's in that
     * order only: then the listings are compared with each file's xattr records sorted.
     */
    @Test
    void tarOfTheMountIsByteIdentical() throws Exception {
        String expected = SourceTree.tarListing(src);
        if (!expected.equals(xattrsSorted(expected))) {
            assertEquals(xattrsSorted(expected), SourceTree.tarListing(mnt.dir), "the source lists xattrs out of name order");
            return;
        }
        assertEquals(expected, SourceTree.tarListing(mnt.dir));
        assertEquals(SourceTree.tarDigest(src), SourceTree.tarDigest(mnt.dir));
    }

    /** A verbose tar listing with each entry's xattr lines ("  x: ...") in name order. */
    private static String xattrsSorted(String listing) {
        StringBuilder out = new StringBuilder();
        List<String> run = new ArrayList<>();
        for (String line : (listing + "\n").split("\n", -1)) {
            if (line.startsWith("  x: ")) {
                run.add(line);
                continue;
            }
            run.sort(java.util.Comparator.comparing(x -> x.replaceFirst("^  x: \\d+ ", "")));
            run.forEach(x -> out.append(x).append('\n'));
            run.clear();
            out.append(line).append('\n');
        }
        return out.substring(0, out.length() - 2); // the two newlines added around the last line
    }

    @Test
    void contentsAreIdentical() throws Exception {
        Map<String, String> expected = SourceTree.hashes(src);
        assertEquals(expected, SourceTree.hashes(mnt.dir));
        assertEquals("long\n", Files.readString(mnt.dir.resolve(SourceTree.NAME255)));
    }

    @Test
    void hardlinksShareOneInode() throws Exception {
        for (List<String> group : SourceTree.HARDLINKS) {
            String stat = Cowfs.sh(mnt.dir, "stat -c '%h %i' " + String.join(" ", group));
            List<String> lines = stat.lines().toList();
            assertEquals(group.size(), lines.size(), stat);
            assertEquals(1, lines.stream().distinct().count(), "one inode for " + group + ":\n" + stat);
            assertTrue(lines.get(0).startsWith(group.size() + " "), "link count of " + group + ":\n" + stat);
        }
        assertNotEquals(Files.getAttribute(mnt.dir.resolve("a/big"), "unix:ino"),
                Files.getAttribute(mnt.dir.resolve("a/b/big-copy"), "unix:ino"), "a copy is not a hardlink");
    }

    @Test
    void symlinksAreStoredNotFollowed() throws Exception {
        for (Map.Entry<String, String> l : SourceTree.SYMLINKS.entrySet()) {
            Path p = mnt.dir.resolve(l.getKey());
            assertTrue(Files.isSymbolicLink(p), l.getKey());
            assertEquals(l.getValue(), Files.readSymbolicLink(p).toString());
            assertEquals(l.getValue() + "\n", Cowfs.sh(mnt.dir, "readlink '" + l.getKey() + "'"));
        }
        assertEquals("hello\n", Files.readString(mnt.dir.resolve("a/rel-link")), "a relative link resolves inside the mount");
        assertTrue(Files.isDirectory(mnt.dir.resolve("dir-link/b/c")));
        assertFalse(Files.exists(mnt.dir.resolve("dangling")), "a dangling link stays dangling");
    }

    @Test
    void statfsAnswers() throws Exception {
        FileStore fs = Files.getFileStore(mnt.dir);
        assertTrue(fs.getTotalSpace() > 0);
        assertTrue(fs.isReadOnly());
        assertEquals("255", Cowfs.sh(mnt.dir, "stat -f -c %l .").trim(), "name length limit");
        String df = Cowfs.sh(tmp, "df -P " + mnt.dir);
        assertTrue(df.contains(mnt.dir.toString()), df);
    }

    @Test
    void namesLongerThan255BytesAreRefusedLikeOnTheHost() throws Exception {
        String tooLong = "n".repeat(256);
        for (Path dir : List.of(src, mnt.dir)) {
            Cowfs.Result r = Cowfs.shRc(dir, "stat " + tooLong);
            assertNotEquals(0, r.rc());
            assertTrue(r.out().contains("File name too long"), dir + ": " + r.out());
        }
    }

    @Test
    void everyWriteFailsWithReadOnlyFileSystem() throws Exception {
        String before = SourceTree.listing(mnt.dir);
        List<String> writes = List.of(
                "touch newfile", "touch numbers", "mkdir newdir", "rm numbers", "rmdir empty-dir", "chmod 600 numbers",
                "chown 1:1 numbers", "setfattr -n user.x -v 1 numbers", "setfattr -x user.color a/big",
                "ln numbers numbers2", "ln -s x sym", "mv numbers numbers3", "echo x >> numbers", "echo x > empty",
                "truncate -s 0 numbers", "mkfifo f2", "touch -h dangling");
        for (String w : writes) {
            Cowfs.Result r = Cowfs.shRc(mnt.dir, w);
            assertNotEquals(0, r.rc(), w + " succeeded on a snapshot mount");
            assertTrue(r.out().contains("Read-only file system"), w + ": " + r.out());
        }
        FileSystemException e = assertThrows(FileSystemException.class,
                () -> Files.write(mnt.dir.resolve("numbers"), new byte[1], StandardOpenOption.APPEND));
        assertTrue(String.valueOf(e.getReason()).contains("Read-only file system"), e.toString());
        assertEquals(before, SourceTree.listing(mnt.dir));
        assertEquals(SourceTree.hashes(src), SourceTree.hashes(mnt.dir));
    }

    @Test
    void mmapReadsTheSameBytes() throws Exception {
        for (String name : List.of("a/big", "large", "sparse", "numbers", "empty")) {
            byte[] expected = Files.readAllBytes(src.resolve(name));
            try (FileChannel ch = FileChannel.open(mnt.dir.resolve(name), StandardOpenOption.READ)) {
                assertEquals(expected.length, ch.size());
                MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
                try {
                    byte[] got = new byte[m.remaining()];
                    m.get(got);
                    assertArrayEquals(expected, got, name);
                } finally {
                    unmap(m);
                }
            }
        }
    }

    /**
     * Unmaps now rather than at some later GC: a live mapping keeps the mount busy, and its
     * unmount would then only detach it lazily, leaving the mount process running.
     */
    static void unmap(MappedByteBuffer m) throws Exception {
        if (m.capacity() == 0) {
            return;
        }
        java.lang.reflect.Field f = Class.forName("sun.misc.Unsafe").getDeclaredField("theUnsafe");
        f.setAccessible(true);
        Object unsafe = f.get(null);
        unsafe.getClass().getMethod("invokeCleaner", ByteBuffer.class).invoke(unsafe, m);
    }

    @Test
    void concurrentReadersSeeTheSourceBytes() throws Exception {
        Map<String, String> expected = SourceTree.hashes(src);
        List<String> names = new ArrayList<>(expected.keySet());
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Integer>> results = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                long seed = t;
                results.add(pool.submit(() -> {
                    List<String> order = new ArrayList<>(names);
                    Collections.shuffle(order, new Random(seed));
                    int checked = 0;
                    for (int round = 0; round < 3; round++) {
                        for (String n : order) {
                            assertEquals(expected.get(n), SourceTree.sha256(mnt.dir.resolve(n)), n);
                            checked++;
                        }
                    }
                    checkRandomReads(new Random(seed), "large");
                    checkRandomReads(new Random(seed), "sparse");
                    return checked;
                }));
            }
            for (Future<Integer> f : results) {
                assertEquals(names.size() * 3, f.get(120, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(Cowfs.isMounted(mnt.dir));
    }

    /** Positional reads at random, unaligned offsets compared with the same reads of the source. */
    private static void checkRandomReads(Random rnd, String name) throws IOException {
        try (FileChannel a = FileChannel.open(src.resolve(name)); FileChannel b = FileChannel.open(mnt.dir.resolve(name))) {
            long size = a.size();
            for (int i = 0; i < 50; i++) {
                long off = (long) (rnd.nextDouble() * size);
                int len = 1 + rnd.nextInt(200_000);
                ByteBuffer x = ByteBuffer.allocate(len);
                ByteBuffer y = ByteBuffer.allocate(len);
                readFully(a, x, off);
                readFully(b, y, off);
                assertEquals(x.flip(), y.flip(), name + " at " + off + " +" + len);
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer b, long off) throws IOException {
        while (b.hasRemaining()) {
            int n = ch.read(b, off + b.position());
            if (n < 0) {
                break;
            }
        }
    }

    @Test
    void allowOtherLetsOtherUsersReadUnderTheTreesPermissions() throws Exception {
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x")); // let nobody reach src and mounts
        try (Cowfs.Mounted shared = cowfs.mount("snap", "--allow-other")) {
            String line = Files.readAllLines(Path.of("/proc/self/mounts")).stream()
                    .filter(l -> l.contains(" " + shared.dir + " ")).findFirst().orElseThrow();
            assertTrue(line.contains("allow_other"), line);
            for (Path d : List.of(src, shared.dir)) { // the host tree is the control
                assertEquals(Cowfs.sh(src, "sha256sum numbers"), Cowfs.sh(d, "runuser -u nobody -- sha256sum numbers"));
                for (String denied : List.of("cat mode000", "cat mode600", "ls ro-dir")) { // reads only: src is the control
                    Cowfs.Result r = Cowfs.shRc(d, "runuser -u nobody -- " + denied);
                    assertNotEquals(0, r.rc(), d + ": " + denied);
                    assertTrue(r.out().contains("Permission denied"), d + ": " + denied + ": " + r.out());
                }
            }
        }
        Cowfs.Result r = Cowfs.shRc(mnt.dir, "runuser -u nobody -- cat numbers");
        assertNotEquals(0, r.rc(), "without --allow-other other users are kept out");
        assertTrue(r.out().contains("Permission denied"), r.out());
    }

    @Test
    void anotherProcessImportsIntoTheStoreWhileItIsMounted() throws Exception {
        Path more = Files.createDirectories(tmp.resolve("more"));
        Files.writeString(more.resolve("new-file"), "imported while mounted\n");
        cowfs.run("import", more.toString(), "--name", "while-mounted").ok();
        cowfs.run("verify").ok();
        assertTrue(cowfs.run("list").ok().out().contains("while-mounted"));
        assertEquals(Files.readString(src.resolve("numbers")), Files.readString(mnt.dir.resolve("numbers")));
        assertFalse(Files.exists(mnt.dir.resolve("new-file")), "a mounted snapshot never changes");
    }

    @Test
    void fifoIsAFifo() throws Exception {
        String expected = Cowfs.sh(src, "stat -c '%F %a %u %g %h %Y' fifo");
        assertTrue(expected.startsWith("fifo "), expected);
        assertEquals(expected, Cowfs.sh(mnt.dir, "stat -c '%F %a %u %g %h %Y' fifo"));
    }
}
