package io.cowfs.fusefs.vfs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The semantics a writable view must have, Lucene-style: one abstract suite of cases over
 * {@link PosixTarget}, run against the vfs directly ({@link ViewFsContractTest}) and meant to run
 * unchanged against a mount through any FUSE adapter (and, as a control, a host directory).
 *
 * <p>Each case gets a fresh writable target whose root holds the base tree of
 * {@link BaseFixture#writeBase} (base/hello, base/big, base/dir/x), and can open a read-only one
 * over the same base. Errors are checked by errno, as the javadoc of {@link ViewFs} names them.
 */
abstract class PosixContractTest {
    static final int FALLOC_KEEP_SIZE = 0x01;
    static final int FALLOC_PUNCH_HOLE = 0x02;
    static final int FALLOC_ZERO_RANGE = 0x10;

    protected PosixTarget t;
    protected int bs;

    /** A fresh writable target over the base tree. */
    protected abstract PosixTarget writable() throws Exception;

    /** A read-only target over the base tree (a snapshot mount). */
    protected abstract PosixTarget readOnly() throws Exception;

    @BeforeEach
    void open() throws Exception {
        t = writable();
        bs = t.blockSize();
    }

    /** Called after each case's target is closed (a store to close, a mount to unmount). */
    protected void cleanUp() throws Exception {
    }

    @AfterEach
    void closeTarget() throws Exception {
        try {
            t.close();
        } finally {
            cleanUp();
        }
    }

    static void assertErrno(Errno expected, Runnable call) {
        FsException e = assertThrows(FsException.class, call::run);
        assertEquals(expected, e.errno(), e.getMessage());
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    void put(String path, byte[] data) {
        try (PosixTarget.Handle h = t.create(path)) {
            h.write(0, data);
        }
    }

    byte[] get(String path) {
        try (PosixTarget.Handle h = t.open(path, false)) {
            return h.read(0, (int) h.fstat().size() + 10);
        }
    }

    // ------------------------------------------------------------------ files and names

    @Test
    void createWriteRead() {
        try (PosixTarget.Handle h = t.create("f")) {
            h.write(0, utf8("hello world"));
            h.write(6, utf8("there"));
            assertEquals("hello there", new String(h.read(0, 100), StandardCharsets.UTF_8));
            assertEquals(0, h.read(11, 10).length);
            assertEquals(11, h.fstat().size());
        }
        assertEquals("hello there", new String(get("f"), StandardCharsets.UTF_8));
        assertTrue(t.list("").contains("f"));
        assertErrno(Errno.EEXIST, () -> t.create("f"));
        assertErrno(Errno.ENOENT, () -> t.stat("nope"));
        assertErrno(Errno.ENAMETOOLONG, () -> t.create("n".repeat(256)));
    }

    @Test
    void writesToBaseFilesCopyOnlyWhatTheyTouch() throws Exception {
        byte[] big = BaseFixture.big();
        try (PosixTarget.Handle h = t.open("base/big", true)) {
            h.write(bs + 10, utf8("XY"));
        }
        byte[] want = big.clone();
        want[bs + 10] = 'X';
        want[bs + 11] = 'Y';
        assertArrayEquals(want, get("base/big"));
        try (PosixTarget ro = readOnly(); PosixTarget.Handle h = ro.open("base/big", false)) {
            assertArrayEquals(big, h.read(0, big.length + 1), "the snapshot is unchanged");
        }
    }

    @Test
    void symlinks() {
        t.symlink("base/hello", "l");
        assertEquals("base/hello", t.readlink("l"));
        assertEquals(0120000, t.stat("l").mode() & 0170000);
        assertErrno(Errno.EINVAL, () -> t.readlink("base/hello"));
    }

    @Test
    void hardlinks() {
        put("a", utf8("one"));
        t.link("a", "b");
        assertEquals(2, t.stat("a").nlink());
        assertEquals(t.stat("a").ino(), t.stat("b").ino());
        try (PosixTarget.Handle h = t.open("b", true)) {
            h.write(0, utf8("two"));
        }
        assertEquals("two", new String(get("a"), StandardCharsets.UTF_8));
        t.unlink("a");
        assertEquals(1, t.stat("b").nlink());
        assertErrno(Errno.EEXIST, () -> t.link("b", "base/hello"));
        assertErrno(Errno.EPERM, () -> t.link("base/dir", "d2"));
        t.link("base/hello", "h2"); // a link to a base file
        assertEquals(2, t.stat("base/hello").nlink());
    }

    @Test
    void renameOverFilesAndDirectories() {
        put("a", utf8("A"));
        put("b", utf8("B"));
        t.rename("a", "b");
        assertEquals("A", new String(get("b"), StandardCharsets.UTF_8));
        assertErrno(Errno.ENOENT, () -> t.stat("a"));
        assertErrno(Errno.ENOENT, () -> t.rename("a", "c"));
        // rename over a base file
        t.rename("b", "base/hello");
        assertEquals("A", new String(get("base/hello"), StandardCharsets.UTF_8));
        // directories
        t.mkdir("d1");
        put("d1/f", utf8("f"));
        t.mkdir("d2");
        t.rename("d1", "d2"); // over an empty directory
        assertEquals(List.of("f"), t.list("d2"));
        assertErrno(Errno.ENOENT, () -> t.stat("d1"));
        t.mkdir("d3");
        assertErrno(Errno.ENOTEMPTY, () -> t.rename("d3", "d2"));
        assertErrno(Errno.EISDIR, () -> t.rename("base/hello", "d3"));
        assertErrno(Errno.ENOTDIR, () -> t.rename("d3", "base/hello"));
        // into another directory: link counts of both parents follow
        int before = t.stat("base").nlink();
        t.rename("d3", "base/d3");
        assertEquals(before + 1, t.stat("base").nlink());
        // two names of one file: nothing happens
        t.link("base/hello", "h");
        t.rename("h", "base/hello");
        assertEquals(2, t.stat("h").nlink());
        // to itself
        t.rename("h", "h");
        assertEquals(2, t.stat("h").nlink());
    }

    @Test
    void rmdirAndUnlinkRefuseTheWrongKind() {
        assertErrno(Errno.ENOTEMPTY, () -> t.rmdir("base/dir"));
        assertErrno(Errno.ENOTDIR, () -> t.rmdir("base/hello"));
        assertErrno(Errno.ENOENT, () -> t.rmdir("nope"));
        assertErrno(Errno.EISDIR, () -> t.unlink("base/dir"));
        assertErrno(Errno.ENOENT, () -> t.unlink("nope"));
        t.unlink("base/dir/x");
        t.rmdir("base/dir");
        assertFalse(t.list("base").contains("dir"));
        t.mkdir("base/dir"); // the name is free again, and the new directory is empty
        assertEquals(List.of(), t.list("base/dir"));
    }

    @Test
    void unlinkedOpenFileKeepsItsDataUntilLastClose() {
        t.mkdir("d");
        put("d/tmp", utf8("still here"));
        try (PosixTarget.Handle h = t.open("d/tmp", true)) {
            t.unlink("d/tmp");
            assertErrno(Errno.ENOENT, () -> t.stat("d/tmp"));
            assertEquals(List.of(), t.list("d"));
            assertEquals("still here", new String(h.read(0, 100), StandardCharsets.UTF_8));
            h.write(10, utf8(" and more"));
            assertEquals("still here and more", new String(h.read(0, 100), StandardCharsets.UTF_8));
            PosixTarget.Attr a = h.fstat();
            assertEquals(0, a.nlink());
            assertEquals(19, a.size());
            h.fsync();
            t.rmdir("d"); // empty although the file is open
        }
        assertErrno(Errno.ENOENT, () -> t.stat("d"));
        // replaced by rename while open: the reader keeps the old file
        put("f", utf8("old"));
        put("g", utf8("new"));
        try (PosixTarget.Handle h = t.open("f", false)) {
            t.rename("g", "f");
            assertEquals("old", new String(h.read(0, 10), StandardCharsets.UTF_8));
            assertEquals(0, h.fstat().nlink());
        }
        assertEquals("new", new String(get("f"), StandardCharsets.UTF_8));
    }

    @Test
    void truncate() {
        put("f", utf8("0123456789"));
        t.truncate("f", 4);
        t.truncate("f", 8);
        assertArrayEquals(new byte[] {'0', '1', '2', '3', 0, 0, 0, 0}, get("f"));
        byte[] big = BaseFixture.big();
        t.truncate("base/big", bs + 1);
        t.truncate("base/big", 3L * bs);
        byte[] now = get("base/big");
        assertArrayEquals(Arrays.copyOf(big, bs + 1), Arrays.copyOf(now, bs + 1));
        assertArrayEquals(new byte[2 * bs - 1], Arrays.copyOfRange(now, bs + 1, 3 * bs));
        assertErrno(Errno.EISDIR, () -> t.truncate("base/dir", 0));
        assertErrno(Errno.EINVAL, () -> t.truncate("f", -1));
    }

    @Test
    void xattrs() {
        put("f", new byte[0]);
        t.setxattr("f", "user.a", utf8("1"), 0);
        assertArrayEquals(utf8("1"), t.getxattr("f", "user.a"));
        assertErrno(Errno.EEXIST, () -> t.setxattr("f", "user.a", utf8("2"), ViewFs.XATTR_CREATE));
        assertErrno(Errno.ENODATA, () -> t.setxattr("f", "user.b", utf8("2"), ViewFs.XATTR_REPLACE));
        t.setxattr("f", "user.a", utf8("2"), ViewFs.XATTR_REPLACE);
        assertArrayEquals(utf8("2"), t.getxattr("f", "user.a"));
        assertEquals(List.of("user.a"), t.listxattr("f"));
        t.removexattr("f", "user.a");
        assertErrno(Errno.ENODATA, () -> t.getxattr("f", "user.a"));
        assertErrno(Errno.ENODATA, () -> t.removexattr("f", "user.a"));
        assertEquals(List.of(), t.listxattr("f"));
    }

    @Test
    void readOnlySnapshotRefusesChanges() throws Exception {
        try (PosixTarget ro = readOnly()) {
            try (PosixTarget.Handle h = ro.open("base/hello", false)) {
                assertArrayEquals(BaseFixture.HELLO, h.read(0, 100));
            }
            assertErrno(Errno.EROFS, () -> ro.create("f"));
            assertErrno(Errno.EROFS, () -> ro.mkdir("d"));
            assertErrno(Errno.EROFS, () -> ro.open("base/hello", true));
            assertErrno(Errno.EROFS, () -> ro.unlink("base/hello"));
            assertErrno(Errno.EROFS, () -> ro.rename("base/hello", "base/h"));
            assertErrno(Errno.EROFS, () -> ro.truncate("base/hello", 0));
            assertErrno(Errno.EROFS, () -> ro.setxattr("base/hello", "user.a", new byte[1], 0));
        }
    }

    // ------------------------------------------------------------------ fallocate

    @Test
    void fallocateExtendsOrKeepsSize() {
        put("f", utf8("abc"));
        try (PosixTarget.Handle h = t.open("f", true)) {
            h.fallocate(0, 0, 2); // inside: nothing changes
            assertEquals(3, h.fstat().size());
            h.fallocate(0, 2, 3L * bs);
            assertEquals(2 + 3L * bs, h.fstat().size());
            h.fallocate(FALLOC_KEEP_SIZE, 0, 10L * bs);
            assertEquals(2 + 3L * bs, h.fstat().size());
            byte[] all = h.read(0, 4 * bs);
            assertEquals(2 + 3 * bs, all.length);
            assertArrayEquals(utf8("abc"), Arrays.copyOf(all, 3));
            assertArrayEquals(new byte[all.length - 3], Arrays.copyOfRange(all, 3, all.length));
        }
    }

    @Test
    void punchHoleReadsZerosAndLeavesHoles() {
        byte[] data = BaseFixture.random(5, 4 * bs);
        put("f", data);
        try (PosixTarget.Handle h = t.open("f", true)) {
            // from the middle of block 0 to the middle of block 3: blocks 1 and 2 become holes
            h.fallocate(FALLOC_PUNCH_HOLE | FALLOC_KEEP_SIZE, bs / 2, 3L * bs);
            assertEquals(4L * bs, h.fstat().size());
            byte[] want = data.clone();
            Arrays.fill(want, bs / 2, bs / 2 + 3 * bs, (byte) 0);
            assertArrayEquals(want, h.read(0, 5 * bs));
            h.fsync();
            assertEquals(bs, h.seekHole(0));
            assertEquals(3L * bs, h.seekData(bs));
            // past EOF: nothing to punch, the size stays
            h.fallocate(FALLOC_PUNCH_HOLE | FALLOC_KEEP_SIZE, 3L * bs, 10L * bs);
            assertEquals(4L * bs, h.fstat().size());
            assertArrayEquals(new byte[bs], h.read(3L * bs, bs));
        }
        byte[] base = BaseFixture.big();
        try (PosixTarget.Handle h = t.open("base/big", true)) {
            h.fallocate(FALLOC_PUNCH_HOLE | FALLOC_KEEP_SIZE, 0, bs);
            byte[] want = base.clone();
            Arrays.fill(want, 0, bs, (byte) 0);
            assertArrayEquals(want, h.read(0, base.length + 1));
        }
    }

    @Test
    void zeroRange() {
        byte[] data = BaseFixture.random(6, 2 * bs);
        put("f", data);
        try (PosixTarget.Handle h = t.open("f", true)) {
            h.fallocate(FALLOC_ZERO_RANGE | FALLOC_KEEP_SIZE, 10, 3L * bs);
            assertEquals(2L * bs, h.fstat().size());
            byte[] want = Arrays.copyOf(data, 10);
            assertArrayEquals(Arrays.copyOf(want, 2 * bs), h.read(0, 3 * bs));
            h.fallocate(FALLOC_ZERO_RANGE, bs, 3L * bs);
            assertEquals(4L * bs, h.fstat().size());
            assertArrayEquals(Arrays.copyOf(want, 4 * bs), h.read(0, 5 * bs));
        }
    }

    @Test
    void fallocateRefusesBadInput() {
        put("f", utf8("abc"));
        try (PosixTarget.Handle h = t.open("f", true)) {
            assertErrno(Errno.EINVAL, () -> h.fallocate(0, -1, 10));
            assertErrno(Errno.EINVAL, () -> h.fallocate(0, 0, 0));
            assertErrno(Errno.EINVAL, () -> h.fallocate(0, 0, -5));
            assertErrno(Errno.EOPNOTSUPP, () -> h.fallocate(FALLOC_PUNCH_HOLE, 0, 1)); // without KEEP_SIZE
            assertErrno(Errno.EOPNOTSUPP, () -> h.fallocate(0x20, 0, 1));
            assertEquals(3, h.fstat().size());
        }
    }

    // ------------------------------------------------------------------ SEEK_DATA / SEEK_HOLE

    @Test
    void seekDataAndHole() {
        try (PosixTarget.Handle h = t.create("sparse")) {
            h.write(3L * bs + 5, utf8("data")); // blocks 0-2 holes, block 3 data
            h.ftruncate(6L * bs); // blocks 4-5 holes
            h.fsync();
            assertEquals(3L * bs, h.seekData(0));
            assertEquals(3L * bs + 7, h.seekData(3L * bs + 7));
            assertEquals(0, h.seekHole(0));
            assertEquals(2L * bs + 1, h.seekHole(2L * bs + 1));
            assertEquals(4L * bs, h.seekHole(3L * bs + 1));
            assertErrno(Errno.ENXIO, () -> h.seekData(4L * bs)); // only holes follow
            assertErrno(Errno.ENXIO, () -> h.seekData(6L * bs)); // at EOF
            assertErrno(Errno.ENXIO, () -> h.seekHole(6L * bs));
            assertErrno(Errno.ENXIO, () -> h.seekHole(100L * bs));
            assertErrno(Errno.ENXIO, () -> h.seekData(-1));
        }
        try (PosixTarget.Handle h = t.open("base/big", false)) {
            long size = h.fstat().size();
            assertEquals(0, h.seekData(0));
            assertEquals(size, h.seekHole(0)); // the implicit hole at EOF
            assertEquals(size, h.seekHole(size - 1));
        }
        try (PosixTarget.Handle h = t.create("unstored")) {
            h.write(bs, utf8("x")); // dirty, not yet stored: data all the same
            assertEquals(bs, h.seekData(0));
            assertEquals(bs + 1, h.seekHole(bs));
        }
    }

    // ------------------------------------------------------------------ copy_file_range

    @Test
    void copyFileRange() {
        byte[] src = BaseFixture.random(9, 3 * bs + 50);
        put("src", src);
        try (PosixTarget.Handle in = t.open("src", false); PosixTarget.Handle out = t.create("dst")) {
            // unaligned, into a gap past the destination's EOF
            assertEquals(100, in.copyTo(out, 10, 20, 100));
            byte[] want = new byte[120];
            System.arraycopy(src, 10, want, 20, 100);
            assertArrayEquals(want, out.read(0, 1000));
            // aligned whole blocks, and short at the source's EOF
            assertEquals(2L * bs + 50, in.copyTo(out, bs, bs, 10L * bs));
            assertEquals(3L * bs + 50, out.fstat().size());
            want = Arrays.copyOf(want, 3 * bs + 50);
            System.arraycopy(src, bs, want, bs, 2 * bs + 50);
            assertArrayEquals(want, out.read(0, 4 * bs));
            // at and past the source's EOF: nothing
            assertEquals(0, in.copyTo(out, src.length, 0, 10));
            assertEquals(0, in.copyTo(out, src.length + 100L, 0, 10));
            assertEquals(0, in.copyTo(out, 0, 0, 0));
        }
        // a later write to the copy leaves the source alone
        try (PosixTarget.Handle out = t.open("dst", true)) {
            out.write(bs, utf8("changed"));
        }
        assertArrayEquals(src, get("src"));
        // from a base file
        byte[] big = BaseFixture.big();
        try (PosixTarget.Handle in = t.open("base/big", false); PosixTarget.Handle out = t.create("copy")) {
            assertEquals(big.length, in.copyTo(out, 0, 0, big.length));
        }
        assertArrayEquals(big, get("copy"));
    }

    @Test
    void copyFileRangeRefusesBadInput() {
        put("f", BaseFixture.random(3, 2 * bs));
        try (PosixTarget.Handle h = t.open("f", true)) {
            assertErrno(Errno.EINVAL, () -> h.copyTo(h, 0, 10, bs)); // overlapping in one file
            assertEquals(10, h.copyTo(h, 0, 2L * bs, 10)); // not overlapping: fine
            assertErrno(Errno.EINVAL, () -> h.copyTo(h, -1, 0, 10));
            assertErrno(Errno.EINVAL, () -> h.copyTo(h, 0, -1, 10));
            assertErrno(Errno.EINVAL, () -> h.copyTo(h, 0, 0, -1));
        }
    }
}
