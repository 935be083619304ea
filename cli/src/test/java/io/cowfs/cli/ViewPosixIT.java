package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * POSIX contract of a writable view, checked through a real FUSE mount and, as a control, on a
 * plain directory of the host (a check the host filesystem fails is a wrong check). Both
 * targets start from the same tree: the view is a fork of its import, the host directory a
 * {@code cp -a} of it (so hardlinks "from the base" exist on both). Each check works in its own
 * subdirectory; the mount is shared by the whole class.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ViewPosixIT {
    /** The host (control), a view through the default kernel-protocol adapter, a view through jnr-fuse/libfuse 2. */
    enum Target { HOST, VIEW, VIEW_LIBFUSE2 }

    private Path tmp;
    private Cowfs cowfs;
    private Cowfs.Mounted view;
    private Cowfs.Mounted viewLibfuse2;
    private Path host;

    @BeforeAll
    void mount(@TempDir Path tmp) throws Exception {
        this.tmp = tmp;
        Cowfs.assumeFuse();
        Path src = tmp.resolve("src");
        Cowfs.sh(tmp, "mkdir -p src/base/sub && printf 'base data\\n' > src/base/linked"
                + " && ln src/base/linked src/base/sub/linked2 && head -c 300000 /dev/urandom > src/base/big"
                + " && cp src/base/big src/base/big2 && printf 'keep' > src/base/trunc && ln -s linked src/base/sym"
                + " && mkdir -p src/base/rename/dir && echo in base dir > src/base/rename/dir/file"
                + " && echo over > src/base/rename/over"
                + " && setfattr -n user.origin -v base src/base/linked");
        host = tmp.resolve("host");
        Cowfs.sh(tmp, "cp -a src host");
        cowfs = new Cowfs(tmp);
        cowfs.run("import", src.toString(), "--name", "snap").ok();
        cowfs.run("fork", "snap", "--name", "posix").ok();
        // other users reach both targets: the view is mounted with --allow-other
        Cowfs.sh(tmp, "chmod 755 . host");
        view = cowfs.mount("posix", "--allow-other", "--fuse-api=kernel");
        cowfs.run("fork", "snap", "--name", "posix2").ok();
        viewLibfuse2 = cowfs.mount("posix2", "--allow-other", "--fuse-api=libfuse2");
    }

    @AfterAll
    void unmount() {
        if (cowfs != null) {
            cowfs.close();
        }
    }

    private Path root(Target t) {
        return switch (t) {
            case HOST -> host;
            case VIEW -> view.dir;
            case VIEW_LIBFUSE2 -> viewLibfuse2.dir;
        };
    }

    /** A fresh directory for one check. */
    private Path dir(Target t, TestInfo info) throws IOException {
        String name = info.getTestMethod().orElseThrow().getName();
        return Files.createDirectory(root(t).resolve(name));
    }

    private static void write(Path p, String s) throws IOException {
        Files.writeString(p, s);
    }

    private static String read(Path p) throws IOException {
        return Files.readString(p);
    }

    /** Runs op, expects a FileSystemException whose reason is the strerror text of the errno. */
    private static void failsWith(String strerror, Executable op) {
        FileSystemException e = assertThrows(FileSystemException.class, op);
        assertEquals(strerror, e.getReason(), () -> "wrong error: " + e);
    }

    private static long ino(Path p) throws IOException {
        return ((Number) Files.getAttribute(p, "unix:ino", LinkOption.NOFOLLOW_LINKS)).longValue();
    }

    /** A directory's link count; not the host's where it counts every directory as one link (btrfs). */
    private static void assertDirLinks(Target t, int expected, Path dir, String what) throws IOException {
        if (t != Target.HOST || !SourceTree.ONE_LINK_DIRS) {
            assertEquals(expected, nlink(dir), what);
        }
    }

    private static int nlink(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:nlink", LinkOption.NOFOLLOW_LINKS);
    }

    private static Set<String> list(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    /**
     * Unmaps now rather than at some later GC: a live mapping keeps the file open, so the mount
     * could not be unmounted (and its process would not exit) until then.
     */
    static void unmap(MappedByteBuffer b) throws Exception {
        java.lang.reflect.Field f = Class.forName("sun.misc.Unsafe").getDeclaredField("theUnsafe");
        f.setAccessible(true);
        sun.misc.Unsafe u = (sun.misc.Unsafe) f.get(null);
        u.invokeCleaner(b);
    }

    // ------------------------------------------------------------------ create / open flags

    @ParameterizedTest
    @EnumSource(Target.class)
    void createExclusiveTruncateAppend(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        Path f = d.resolve("f");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("hello world".getBytes()));
        }
        assertThrows(FileAlreadyExistsException.class,
                () -> FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close());
        assertThrows(FileAlreadyExistsException.class, () -> Files.createDirectory(f));
        assertEquals(1, Cowfs.shRc(d, "set -o noclobber; echo x > f").rc(), "O_EXCL through the shell");
        // O_APPEND writes at the end whatever the position
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.APPEND)) {
            ch.write(ByteBuffer.wrap("!".getBytes()));
        }
        Cowfs.sh(d, "echo more >> f");
        assertEquals("hello world!more\n", read(f));
        // O_TRUNC
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            assertEquals(0, ch.size());
            ch.write(ByteBuffer.wrap("ab".getBytes()));
        }
        assertEquals("ab", read(f));
        Cowfs.sh(d, "echo new > f");
        assertEquals("new\n", read(f));
        // O_CREAT without O_EXCL on an existing file opens it
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.READ)) {
            assertEquals(4, ch.size());
        }
        assertThrows(NoSuchFileException.class, () -> FileChannel.open(d.resolve("missing"), StandardOpenOption.READ).close());
        assertThrows(NoSuchFileException.class, () -> Files.createFile(d.resolve("missing/f")));
        // the base snapshot's files open with O_TRUNC and O_APPEND too
        Path base = root(t).resolve("base/trunc");
        try (FileChannel ch = FileChannel.open(base, StandardOpenOption.APPEND)) {
            ch.write(ByteBuffer.wrap("+".getBytes()));
        }
        assertEquals("keep+", read(base));
    }

    /**
     * A directory removed (or renamed over) while it is a process's working directory stays usable
     * as on a local filesystem: stat gives nlink 0, it lists empty, and new names in it fail with ENOENT. (Each
     * of these failed with ENOENT through the kernel adapter before: the view dropped the
     * directory at rmdir. libfuse 2's adapter resolves paths, and the path is gone: not there.)
     */
    @ParameterizedTest
    @EnumSource(value = Target.class, names = {"HOST", "VIEW"})
    void aRemovedWorkingDirectoryStaysUsable(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        String out = Cowfs.sh(d, "mkdir gone && cd gone && rmdir ../gone && stat -c %h . && ls -a . | wc -l"
                + " && (touch x 2>&1; mkdir y 2>&1; true)");
        assertEquals("0\n0\ntouch: cannot touch 'x': No such file or directory\n"
                + "mkdir: cannot create directory \u2018y\u2019: No such file or directory\n", out);
        assertFalse(Files.exists(d.resolve("gone")));
        Files.createDirectory(d.resolve("gone")); // the name is free again
        assertTrue(Files.isDirectory(d.resolve("gone")));
        // the same for an empty directory replaced by a rename while it is in use
        assertEquals("0\n0\n", Cowfs.sh(d, "mkdir old new && cd old && mv -T ../new ../old && stat -c %h . && ls -a . | wc -l"));
        assertTrue(Files.isDirectory(d.resolve("old")));
        assertFalse(Files.exists(d.resolve("new")));
    }

    // ------------------------------------------------------------------ data

    @ParameterizedTest
    @EnumSource(Target.class)
    void writeAnyOffsetAndSparseHoles(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        Path f = d.resolve("sparse");
        Random rnd = new Random(42);
        byte[] a = new byte[5000];
        rnd.nextBytes(a);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(a), 0);
            ch.write(ByteBuffer.wrap(a), 1_000_000); // a hole of ~1 MB, across several blocks
            ch.write(ByteBuffer.wrap(a), 65_536 - 2_500); // straddles a 64 KiB block boundary
            ch.write(ByteBuffer.wrap("X".getBytes()), 3); // overwrite one byte inside
            assertEquals(1_005_000, ch.size());
        }
        byte[] all = Files.readAllBytes(f);
        assertEquals(1_005_000, all.length);
        byte[] want = new byte[1_005_000];
        System.arraycopy(a, 0, want, 0, a.length);
        System.arraycopy(a, 0, want, 1_000_000, a.length);
        System.arraycopy(a, 0, want, 65_536 - 2_500, a.length);
        want[3] = 'X';
        assertArrayEquals(want, all);
        // shell tools agree: the hole reads as zeros
        assertEquals("131072 0\n", Cowfs.sh(d, "dd if=sparse bs=65536 skip=2 count=2 status=none | wc -c | tr '\\n' ' ';"
                + " dd if=sparse bs=65536 skip=2 count=2 status=none | tr -d '\\0' | wc -c"));
        // overwrite in the middle of a base file (copy-on-write of one block)
        Path big = root(t).resolve("base/big");
        byte[] before = Files.readAllBytes(big);
        try (FileChannel ch = FileChannel.open(big, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("patch".getBytes()), 100_000);
        }
        System.arraycopy("patch".getBytes(), 0, before, 100_000, 5);
        assertArrayEquals(before, Files.readAllBytes(big));
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void truncateDownThenUpShowsZeros(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        Path f = d.resolve("f");
        byte[] data = new byte[200_000];
        Arrays.fill(data, (byte) 7);
        Files.write(f, data);
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(70_000); // ftruncate down, mid-block
            assertEquals(70_000, raf.length());
            raf.setLength(150_000); // ftruncate up: the old bytes must not come back
        }
        byte[] got = Files.readAllBytes(f);
        assertEquals(150_000, got.length);
        for (int i = 0; i < got.length; i++) {
            if (got[i] != (i < 70_000 ? 7 : 0)) {
                throw new AssertionError("byte " + i + " is " + got[i]);
            }
        }
        // truncate(2) by path, down to zero and up again
        Cowfs.sh(d, "truncate -s 0 f && truncate -s 10 f");
        assertArrayEquals(new byte[10], Files.readAllBytes(f));
        // a base file truncated and extended: its old bytes stay gone
        Path big = root(t).resolve("base/big2");
        byte[] orig = Files.readAllBytes(big);
        Cowfs.sh(root(t), "truncate -s 1000 base/big2 && truncate -s 300000 base/big2");
        byte[] now = Files.readAllBytes(big);
        assertArrayEquals(Arrays.copyOf(orig, 1000), Arrays.copyOf(now, 1000));
        assertArrayEquals(new byte[299_000], Arrays.copyOfRange(now, 1000, 300_000));
        // truncating a directory fails
        assertTrue(Cowfs.shRc(d, "truncate -s 0 .").out().contains("Is a directory"));
    }

    /**
     * fallocate(1) in every mode the view takes, and one it refuses, gives the host's sizes, bytes
     * and exit codes (through libfuse 2 as well: before 2026-12-04 every mode failed there with
     * EOPNOTSUPP).
     */
    @ParameterizedTest
    @EnumSource(Target.class)
    void fallocateAsOnTheHost(Target t, TestInfo info) throws Exception {
        assumeTrue(Cowfs.shRc(root(t), "command -v fallocate").rc() == 0, "needs fallocate");
        Path d = dir(t, info);
        String script = "yes abcdefgh | head -c 3145728 > data && fallocate -l 2M alloc && stat -c %s alloc && sha256sum alloc"
                + " && fallocate -n -o 2M -l 1M alloc && stat -c %s alloc"
                + " && fallocate -p -o 1M -l 1M data && fallocate -z -o 2M -l 100000 data && stat -c %s data && sha256sum data"
                + " && fallocate -z -o 3M -l 1M data && stat -c %s data && sha256sum data"
                + " && { fallocate -l 0 alloc 2>/dev/null; echo rc=$?; }";
        Path control = Files.createDirectory(host.resolve(d.getFileName() + "-control-" + t));
        assumeTrue(Fx.hostZeroRange(control), "the host's filesystem refuses FALLOC_FL_ZERO_RANGE (tmpfs): no control");
        String expected = Cowfs.sh(control, script);
        assertEquals(expected, Cowfs.sh(d, script));
        assertTrue(expected.endsWith("rc=1\n"), expected);
    }

    /**
     * open(O_TMPFILE) as on the host through the kernel adapter: a file with no name (nlink 0, not
     * listed) that linkat names, with what was written; with O_EXCL it can never be linked (ENOENT);
     * never linked, it is gone at its close; on a file, ENOTDIR. libfuse 2 has no such call: the
     * kernel answers EOPNOTSUPP, and programs fall back to a named file.
     */
    @ParameterizedTest
    @EnumSource(Target.class)
    void oTmpfileMakesAFileWithNoNameThatLinkatNames(Target t, TestInfo info) throws Exception {
        assumeTrue(Cowfs.shRc(root(t), "command -v python3").rc() == 0, "needs python3");
        Path d = dir(t, info);
        String out = Cowfs.sh(d, "umask 027; python3 -c '" + TMPFILE_SCRIPT + "'");
        if (t == Target.VIEW_LIBFUSE2 || t == Target.VIEW && !kernelAtLeast(6, 1)) {
            // libfuse 2 has no such call, and before Linux 6.1 (FUSE 7.37) FUSE had none: the kernel
            // answers errno 95, EOPNOTSUPP, which Python's errno names ENOTSUP
            assertEquals("tmpfile=ENOTSUP\n", out);
            return;
        }
        assertEquals("""
                nlink=0 size=8 mode=0o640
                listed=[]
                nlink-after=1
                content=tmp data
                excl=ENOENT
                reopened=kept by another descriptor
                unlinked=Kept by another descriptor! nlink=0
                listed-end=['named']
                onfile=ENOTDIR
                """, out);
        assertEquals(Set.of("named"), list(d));
        assertEquals("tmp data", read(d.resolve("named")));
        if (t == Target.VIEW) {
            // the named file is the view's like any other: a snapshot of it holds it, and no
            // nameless file is left in it (an orphan the freeze would skip anyway)
            cowfs.run("snapshot", "posix", "--name", "posix-tmpfile").ok();
            try (Cowfs.Mounted snap = cowfs.mount("posix-tmpfile", "--ro")) {
                Path s = snap.dir.resolve(d.getFileName());
                assertEquals(Set.of("named"), list(s));
                assertEquals("tmp data", read(s.resolve("named")));
                // a read-only mount refuses it, as a read-only ext4 does
                assertEquals("tmpfile=EROFS\n", Cowfs.sh(s, "python3 -c '" + TMPFILE_SCRIPT + "'"));
            }
        }
    }

    /**
     * Files created and deleted while a view is mounted are gone from it when the kernel forgets
     * them, not left as orphans (nlink 0) for the next mount to reclaim: once the first OPEN of a
     * mount is answered ENOSYS the kernel sends no RELEASE for files CREATE or TMPFILE made, so the
     * handle CREATE opened is taken back at the node's FORGET. Checked in what the unmount
     * committed: no inode with nlink 0.
     */
    @Test
    void filesCreatedAndDeletedInAMountLeaveNoOrphans() throws Exception {
        cowfs.run("fork", "snap", "--name", "orphans").ok();
        try (Cowfs.Mounted m = cowfs.mount("orphans", "--fuse-api=kernel")) {
            // the cat opens a file first (its OPEN is answered ENOSYS): then no RELEASE comes for the rest
            Cowfs.sh(m.dir, "cat base/linked > /dev/null && for i in 1 2 3 4 5; do head -c 100000 /dev/urandom > f$i; done"
                    + " && rm f1 f2 f3 f4 f5 && exec 5> f6 && echo x >&5 && rm f6 && exec 5>&- && sync -f .");
            if (kernelAtLeast(6, 1) && Cowfs.shRc(m.dir, "command -v python3").rc() == 0) {
                Cowfs.sh(m.dir, "python3 -c 'import tempfile\nfor i in range(3):\n    t = tempfile.TemporaryFile(dir=\".\"); t.write(b\"x\" * 5000); t.close()'");
            }
            Thread.sleep(300); // the kernel's FORGETs of the deleted files (sent as it evicts them)
        }
        try (io.cowfs.blockstore.store.Store s = io.cowfs.blockstore.store.Store.open(cowfs.store)) {
            var v = new io.cowfs.blockstore.catalog.Catalog(s).get("orphans");
            var st = s.index().read(txn -> new io.cowfs.blockstore.view.ViewDelta(s.index()).load(txn, v.viewId()));
            List<Long> orphans = st.inodes.entrySet().stream().filter(e -> e.getValue() != null && e.getValue().nlink == 0)
                    .map(java.util.Map.Entry::getKey).toList();
            assertEquals(List.of(), orphans, "inodes left with nlink 0 by the unmount");
        }
    }

    /** Whether the running kernel is at least major.minor (os.version, as uname -r). */
    static boolean kernelAtLeast(int major, int minor) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(\\d+)\\.(\\d+)").matcher(System.getProperty("os.version"));
        if (!m.find()) {
            return true;
        }
        int a = Integer.parseInt(m.group(1));
        return a > major || a == major && Integer.parseInt(m.group(2)) >= minor;
    }

    /** oTmpfileMakesAFileWithNoNameThatLinkatNames's calls, in the current directory (single quotes only in it are not allowed). */
    private static final String TMPFILE_SCRIPT = """
            import os, errno, ctypes
            def e(x): return errno.errorcode[x.errno]
            libc = ctypes.CDLL(None, use_errno=True)
            def link(fd, name):  # linkat(AT_FDCWD, "/proc/self/fd/N", AT_FDCWD, name, AT_SYMLINK_FOLLOW), as open(2) shows
                if libc.linkat(-100, b"/proc/self/fd/%d" % fd, -100, name.encode(), 0x400) != 0:
                    n = ctypes.get_errno(); raise OSError(n, os.strerror(n))
            try:
                fd = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o666)
            except OSError as x:
                print("tmpfile=" + e(x)); raise SystemExit(0)
            os.write(fd, b"tmp data")
            st = os.fstat(fd)
            print("nlink=%d size=%d mode=%s" % (st.st_nlink, st.st_size, oct(st.st_mode & 0o777)))
            print("listed=%s" % sorted(os.listdir(".")))
            link(fd, "named")
            print("nlink-after=%d" % os.fstat(fd).st_nlink)
            os.close(fd)
            print("content=" + open("named").read())
            fd = os.open(".", os.O_TMPFILE | os.O_RDWR | os.O_EXCL, 0o600)
            try:
                link(fd, "never"); print("excl=linked")
            except OSError as x:
                print("excl=" + e(x))
            os.close(fd)
            fd = os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o600)
            os.write(fd, b"x" * 300000)
            os.close(fd)
            fd = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
            os.write(fd, b"kept by another descriptor")
            fd2 = os.open("/proc/self/fd/%d" % fd, os.O_RDWR)
            os.close(fd)
            def uncached(f):  # written back and dropped from the page cache: the next read asks the filesystem
                os.fsync(f); os.posix_fadvise(f, 0, 0, os.POSIX_FADV_DONTNEED); return os.pread(f, 100, 0).decode()
            print("reopened=" + uncached(fd2))
            os.pwrite(fd2, b"K", 0)
            link(fd2, "second")
            os.unlink("second")
            os.pwrite(fd2, b"!", 26)
            print("unlinked=" + uncached(fd2) + " nlink=%d" % os.fstat(fd2).st_nlink)
            os.close(fd2)
            print("listed-end=%s" % sorted(os.listdir(".")))
            try:
                os.open("named", os.O_TMPFILE | os.O_RDWR, 0o600); print("onfile=opened")
            except OSError as x:
                print("onfile=" + e(x))
            """;

    /** Writes x and links it as y beside it; returns y. */
    private static Path twoLinks(Path x, String content) throws IOException {
        write(x, content);
        return Files.createLink(x.resolveSibling("y"), x);
    }

    /**
     * rename(2) between two links of one file does nothing (POSIX), also while the target is
     * open: libfuse 2 hides an open target before the rename, not knowing that it is the same
     * file, and the old name was lost.
     */
    @ParameterizedTest
    @EnumSource(Target.class)
    void renameBetweenTwoLinksOfOneOpenFileKeepsBoth(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        Path x = d.resolve("x");
        Path y = twoLinks(x, "one file");
        try (FileChannel open = FileChannel.open(y, StandardOpenOption.READ)) {
            Files.move(x, y, StandardCopyOption.ATOMIC_MOVE); // rename(2)
            assertEquals(Set.of("x", "y"), list(d));
            assertEquals(2, nlink(x));
            assertEquals(8, open.size());
        }
        assertEquals("one file", read(x));
        assertEquals(2, nlink(y));
    }

    /**
     * O_APPEND writes through two hardlink names, with the file shrunk through one of them in
     * between: each lands at the end (libfuse 2 gives each name its own kernel inode, whose size
     * went stale; the second name's append landed past the end, leaving old bytes in between).
     */
    @ParameterizedTest
    @EnumSource(Target.class)
    void appendsThroughTwoHardlinkNamesLandAtTheEnd(Target t, TestInfo info) throws Exception {
        Path x = dir(t, info).resolve("x");
        Path y = twoLinks(x, "A".repeat(9097));
        try (FileChannel a = FileChannel.open(x, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
                FileChannel b = FileChannel.open(y, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            b.write(ByteBuffer.wrap("B".repeat(10).getBytes()));
            a.truncate(4096);
            b.write(ByteBuffer.wrap("C".repeat(4904).getBytes()));
            a.write(ByteBuffer.wrap("D".repeat(7).getBytes()));
        }
        assertEquals("A".repeat(4096) + "C".repeat(4904) + "D".repeat(7), read(y));
        assertEquals(9007, Files.size(x));
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void unlinkedOpenFileStaysReadableUntilClose(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        Path f = d.resolve("tmpfile");
        write(f, "still here");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            Files.delete(f);
            assertFalse(Files.exists(f));
            assertEquals(Set.of(), list(d));
            ByteBuffer b = ByteBuffer.allocate(100);
            assertEquals(10, ch.read(b, 0));
            assertEquals("still here", new String(b.array(), 0, 10));
            ch.write(ByteBuffer.wrap(" and more".getBytes()), 10);
            b.clear();
            assertEquals(19, ch.read(b, 0));
            assertEquals("still here and more", new String(b.array(), 0, 19));
            assertEquals(19, ch.size()); // fstat of the unlinked file
            ch.force(true);
            Files.delete(d); // the directory is empty although the file is still open
        }
        assertFalse(Files.exists(d));
        // the same through shell redirections: a replaced name keeps the old file for its reader
        Path d2 = Files.createDirectory(root(t).resolve(info.getTestMethod().orElseThrow().getName() + "2"));
        assertEquals("old\n", Cowfs.sh(d2, "echo old > f; exec 5<f; echo new > g; mv g f; rm -f f; cat <&5"));
        assertEquals("0 4\n", Cowfs.sh(d2, "echo abc > f; exec 5<f; rm f; stat -L -c '%h %s' /dev/fd/5"));
        // one of two links unlinked while open: fstat counts the link that is left (libfuse 2 takes
        // one off a node it hid, and the adapter had already: it showed 0)
        assertEquals("1 1 1\n0\n", Cowfs.sh(d2, "echo abc > f; ln f h; exec 5<f; rm f; stat -L -c '%h' /dev/fd/5 h | tr '\\n' ' ';"
                + " stat -c '%h' h; rm h; stat -L -c '%h' /dev/fd/5"));
        assertEquals(Set.of(), list(d2));
        // python's TemporaryFile: O_TMPFILE where the kernel and adapter have it (a view through the
        // default adapter on Linux 6.1+), else create, unlink; then fstat and use
        if (Cowfs.shRc(d2, "command -v python3").rc() == 0) {
            assertEquals("b'abc'\n", Cowfs.sh(d2, "python3 -c 'import tempfile\nwith tempfile.TemporaryFile(dir=\".\") as t:"
                    + " t.write(b\"abc\"); t.seek(0); print(t.read())'"));
            assertEquals(Set.of(), list(d2));
        }
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void fsyncFdatasyncStatfs(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        Path f = d.resolve("f");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("durable".getBytes()));
            ch.force(true); // fsync
            ch.write(ByteBuffer.wrap("!".getBytes()));
            ch.force(false); // fdatasync
        }
        assertEquals("durable!", read(f));
        Cowfs.sh(d, "sync f && sync -d f && sync -f f");
        var store = Files.getFileStore(d);
        assertTrue(store.getTotalSpace() > 0, "statfs total");
        assertTrue(store.getUsableSpace() > 0, "statfs usable");
        assertEquals(2, Cowfs.sh(d, "df -P .").lines().count());
        assertEquals(2, Cowfs.sh(d, "df -i -P .").lines().count());
        String namemax = Cowfs.sh(d, "stat -f -c %l .").trim();
        assertEquals("255", namemax);
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void mmapSharedWrites(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        Path f = d.resolve("mapped");
        int size = 3 * 65_536 + 100;
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_WRITE, 0, size);
            m.put(0, (byte) 'A');
            m.put(65_536 + 7, (byte) 'B');
            m.put(size - 1, (byte) 'Z');
            m.force();
            unmap(m);
            // visible to read(2) through another descriptor while still mapped
            byte[] now = Files.readAllBytes(f);
            assertEquals('B', now[65_536 + 7]);
        }
        byte[] got = Files.readAllBytes(f);
        assertEquals(size, got.length);
        assertEquals('A', got[0]);
        assertEquals('B', got[65_536 + 7]);
        assertEquals('Z', got[size - 1]);
        assertEquals(0, got[1]);
    }

    // ------------------------------------------------------------------ namespace

    @ParameterizedTest
    @EnumSource(Target.class)
    void mkdirRmdir(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        Files.createDirectories(d.resolve("a/b/c"));
        write(d.resolve("file"), "x");
        assertThrows(DirectoryNotEmptyException.class, () -> Files.delete(d.resolve("a/b")));
        assertThrows(FileAlreadyExistsException.class, () -> Files.createDirectory(d.resolve("a")));
        assertTrue(Cowfs.shRc(d, "rmdir a").out().contains("Directory not empty"));
        assertTrue(Cowfs.shRc(d, "rmdir file").out().contains("Not a directory"));
        assertTrue(Cowfs.shRc(d, "mkdir file/x").out().contains("Not a directory"));
        assertTrue(Cowfs.shRc(d, "rmdir missing").out().contains("No such file or directory"));
        assertTrue(Cowfs.shRc(d, "rmdir a/b/c/.").out().contains("Invalid argument"));
        assertDirLinks(t, 3, d.resolve("a"), "a holds . and b");
        Files.delete(d.resolve("a/b/c"));
        Files.delete(d.resolve("a/b"));
        assertDirLinks(t, 2, d.resolve("a"), "a");
        Cowfs.sh(d, "rm -r a");
        assertEquals(Set.of("file"), list(d));
        assertDirLinks(t, 2, d, "d");
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void renameFilesAndDirectories(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        write(d.resolve("f1"), "one");
        write(d.resolve("f2"), "two");
        long ino1 = ino(d.resolve("f1"));
        // file over existing file: atomic replace, the inode moves
        Files.move(d.resolve("f1"), d.resolve("f2"), StandardCopyOption.ATOMIC_MOVE);
        assertEquals("one", read(d.resolve("f2")));
        assertEquals(ino1, ino(d.resolve("f2")));
        assertFalse(Files.exists(d.resolve("f1")));
        // directory with content to another parent, and over an empty directory
        Files.createDirectories(d.resolve("src/inner"));
        write(d.resolve("src/inner/x"), "x");
        Files.createDirectories(d.resolve("dst/empty"));
        Files.move(d.resolve("src"), d.resolve("dst/empty"), StandardCopyOption.ATOMIC_MOVE);
        assertEquals("x", read(d.resolve("dst/empty/inner/x")));
        assertEquals(Set.of("dst", "f2"), list(d));
        assertDirLinks(t, 3, d.resolve("dst"), "dst");
        assertDirLinks(t, 3, d, "d");
        // errors
        Files.createDirectories(d.resolve("full/sub"));
        Files.createDirectories(d.resolve("other"));
        // POSIX allows EEXIST here too, which XFS gives (the host's column when the temp dir is on XFS)
        FileSystemException full = assertThrows(FileSystemException.class,
                () -> Files.move(d.resolve("other"), d.resolve("full"), StandardCopyOption.ATOMIC_MOVE));
        assertTrue("Directory not empty".equals(full.getReason())
                || t == Target.HOST && full instanceof FileAlreadyExistsException, () -> "wrong error: " + full);
        failsWith("Is a directory", () -> Files.move(d.resolve("f2"), d.resolve("other"), StandardCopyOption.ATOMIC_MOVE));
        failsWith("Not a directory", () -> Files.move(d.resolve("other"), d.resolve("f2"), StandardCopyOption.ATOMIC_MOVE));
        failsWith("Invalid argument", () -> Files.move(d.resolve("full"), d.resolve("full/sub/into"), StandardCopyOption.ATOMIC_MOVE));
        assertThrows(NoSuchFileException.class, () -> Files.move(d.resolve("missing"), d.resolve("x"), StandardCopyOption.ATOMIC_MOVE));
        String mv = Cowfs.shRc(d, "mv -T other full").out();
        assertTrue(mv.contains("Directory not empty") || t == Target.HOST && mv.contains("File exists"), mv);
        // a name renamed onto another link of the same file: nothing happens (POSIX)
        write(d.resolve("h1"), "h");
        Files.createLink(d.resolve("h2"), d.resolve("h1"));
        Files.move(d.resolve("h1"), d.resolve("h2"), StandardCopyOption.ATOMIC_MOVE);
        assertTrue(Files.exists(d.resolve("h1")) && Files.exists(d.resolve("h2")));
        assertEquals(2, nlink(d.resolve("h1")));
        // a directory and a file of the base snapshot, moved in, over and out
        Path rb = root(t).resolve("base/rename");
        Files.move(rb.resolve("dir"), d.resolve("moved"), StandardCopyOption.ATOMIC_MOVE);
        assertEquals("in base dir\n", read(d.resolve("moved/file")));
        Files.move(rb.resolve("over"), d.resolve("moved/file"), StandardCopyOption.ATOMIC_MOVE);
        assertEquals("over\n", read(d.resolve("moved/file")));
        Files.move(d.resolve("f2"), rb.resolve("back"), StandardCopyOption.ATOMIC_MOVE);
        assertEquals(Set.of("back"), list(rb));
        assertEquals(Set.of("dst", "full", "h1", "h2", "moved", "other"), list(d));
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void symlinks(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        write(d.resolve("target"), "pointed at");
        Files.createSymbolicLink(d.resolve("rel"), Path.of("target"));
        Files.createSymbolicLink(d.resolve("dangling"), Path.of("../nowhere/at/all"));
        Files.createSymbolicLink(d.resolve("dirlink"), Path.of("."));
        assertEquals(Path.of("target"), Files.readSymbolicLink(d.resolve("rel")));
        assertEquals(Path.of("../nowhere/at/all"), Files.readSymbolicLink(d.resolve("dangling")));
        assertEquals("pointed at", read(d.resolve("rel")));
        assertEquals("pointed at", read(d.resolve("dirlink/dirlink/target")));
        assertTrue(Files.isSymbolicLink(d.resolve("dangling")));
        assertFalse(Files.exists(d.resolve("dangling")));
        assertEquals(17L, Files.getAttribute(d.resolve("dangling"), "size", LinkOption.NOFOLLOW_LINKS));
        assertEquals("17", Cowfs.sh(d, "stat -c %s dangling").trim());
        assertEquals("target", Cowfs.sh(d, "readlink rel").trim());
        assertThrows(FileAlreadyExistsException.class, () -> Files.createSymbolicLink(d.resolve("rel"), Path.of("x")));
        assertTrue(Cowfs.shRc(d, "readlink -e dangling").rc() != 0);
        // a symlink from the base snapshot
        assertEquals("linked", Cowfs.sh(root(t), "readlink base/sym").trim());
        // a long target (XFS takes up to 1024 bytes, ext4 4095; a view takes what ext4 does)
        String longTarget = "x/".repeat(t == Target.HOST ? 500 : 1000) + "end";
        Files.createSymbolicLink(d.resolve("long"), Path.of(longTarget));
        assertEquals(longTarget, Files.readSymbolicLink(d.resolve("long")).toString());
        Files.delete(d.resolve("rel"));
        assertTrue(Files.exists(d.resolve("target")));
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void hardlinks(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        Path a = d.resolve("a");
        write(a, "first");
        Files.createDirectory(d.resolve("sub"));
        Path b = d.resolve("sub/b");
        Files.createLink(b, a);
        assertEquals(2, nlink(a));
        assertEquals(2, nlink(b));
        assertEquals(ino(a), ino(b));
        Files.writeString(b, " second", StandardOpenOption.APPEND);
        assertEquals("first second", read(a));
        Files.setPosixFilePermissions(a, PosixFilePermissions.fromString("rw-------"));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(b)));
        Files.delete(a);
        assertEquals(1, nlink(b));
        assertEquals("first second", read(b));
        assertTrue(Cowfs.shRc(d, "ln sub missing-dir-link").out().contains("hard link not allowed for directory"));
        assertThrows(FileAlreadyExistsException.class, () -> Files.createLink(b, b));
        // hardlinks that came from the base snapshot: still one inode, written through either name
        Path l1 = root(t).resolve("base/linked");
        Path l2 = root(t).resolve("base/sub/linked2");
        assertEquals(2, nlink(l1));
        assertEquals(ino(l1), ino(l2));
        Files.writeString(l2, "more\n", StandardOpenOption.APPEND);
        assertEquals("base data\nmore\n", read(l1));
        Cowfs.sh(root(t), "printf 'Z' | dd of=base/linked bs=1 seek=0 conv=notrunc status=none");
        assertEquals("Zase data\nmore\n", read(l2));
        Path l3 = d.resolve("linked3");
        Files.createLink(l3, l1);
        assertEquals(3, nlink(l2));
        Files.delete(l3);
        assertEquals(2, nlink(l1));
        assertEquals("base", Cowfs.sh(root(t), "getfattr --only-values -n user.origin base/sub/linked2"));
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void specialFiles(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        Cowfs.sh(d, "mkfifo fifo && mknod null c 1 3");
        assertEquals("p", Cowfs.sh(d, "stat -c %A fifo").substring(0, 1));
        assertEquals("character special file 1,3", Cowfs.sh(d, "stat -c '%F %t,%T' null").trim());
        // data through the fifo is the kernel's business, not the filesystem's
        assertEquals("through\n", Cowfs.sh(d, "(echo through > fifo &) ; cat fifo"));
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void namesLongerThan255BytesFail(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        String n255 = "n".repeat(255);
        String n256 = "n".repeat(256);
        Files.createFile(d.resolve(n255));
        assertTrue(Files.exists(d.resolve(n255)));
        failsWith("File name too long", () -> Files.createFile(d.resolve(n256)));
        failsWith("File name too long", () -> Files.createDirectory(d.resolve(n256)));
        failsWith("File name too long", () -> Files.readAttributes(d.resolve(n256), "size"));
        failsWith("File name too long", () -> Files.move(d.resolve(n255), d.resolve(n256), StandardCopyOption.ATOMIC_MOVE));
        failsWith("File name too long", () -> Files.createSymbolicLink(d.resolve(n256), Path.of("x")));
        assertTrue(Cowfs.shRc(d, "touch " + n256).out().contains("File name too long"));
        // 255 bytes of UTF-8 (2 bytes per char) is the limit, not 255 chars
        String e128 = "é".repeat(128);
        failsWith("File name too long", () -> Files.createFile(d.resolve(e128)));
        Files.createFile(d.resolve("é".repeat(127)));
        assertEquals(Set.of(n255, "é".repeat(127)), list(d));
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void nonAsciiNames(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        for (String n : List.of("héllo", "日本語.txt", "with space", "tab\tin", "emoji-\uD83D\uDE00", "new\nline")) {
            write(d.resolve(n), n);
        }
        Cowfs.sh(d, "mkdir 'dïr' && echo z > 'dïr/zé'");
        assertEquals(Set.of("héllo", "日本語.txt", "with space", "tab\tin", "emoji-\uD83D\uDE00", "new\nline", "dïr"), list(d));
        assertEquals("日本語.txt", read(d.resolve("日本語.txt")));
        assertEquals("z\n", read(d.resolve("dïr/zé")));
    }

    // ------------------------------------------------------------------ attributes

    @ParameterizedTest
    @EnumSource(Target.class)
    void chmodChownUtimens(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        Path f = d.resolve("f");
        write(f, "x");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-x--x"));
        assertEquals("rwxr-x--x", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
        Cowfs.sh(d, "chmod 4755 f && chmod g+s,+t f");
        assertEquals("-rwsr-sr-t", Cowfs.sh(d, "stat -c %A f").trim());
        Cowfs.sh(d, "chown 1234:5678 f");
        assertEquals("1234:5678", Cowfs.sh(d, "stat -c %u:%g f").trim());
        Files.setAttribute(f, "unix:uid", 42);
        assertEquals("42:5678", Cowfs.sh(d, "stat -c %u:%g f").trim());
        Cowfs.sh(d, "chown :99 f");
        assertEquals("42:99", Cowfs.sh(d, "stat -c %u:%g f").trim());
        // chown -h on a symlink changes the link, not the target
        Files.createSymbolicLink(d.resolve("l"), Path.of("f"));
        Cowfs.sh(d, "chown -h 7:8 l");
        assertEquals("7:8 42:99", Cowfs.sh(d, "stat -c %u:%g l | tr '\\n' ' '; stat -L -c %u:%g l").trim());
        // nanosecond timestamps, one at a time (UTIME_OMIT) and both
        Cowfs.sh(d, "touch -m -d '2001-02-03 04:05:06.123456789 UTC' f");
        assertEquals("2001-02-03 04:05:06.123456789 +0000", Cowfs.sh(d, "TZ=UTC stat -c %y f").trim());
        Cowfs.sh(d, "touch -a -d '2002-03-04 05:06:07.987654321 UTC' f");
        assertEquals("2002-03-04 05:06:07.987654321 +0000|2001-02-03 04:05:06.123456789 +0000",
                Cowfs.sh(d, "TZ=UTC stat -c '%x|%y' f").trim());
        Files.setLastModifiedTime(f, FileTime.from(java.time.Instant.ofEpochSecond(1_000_000_000L, 555_000_000L)));
        assertEquals(FileTime.from(java.time.Instant.ofEpochSecond(1_000_000_000L, 555_000_000L)), Files.getLastModifiedTime(f));
        Cowfs.sh(d, "touch -h -d '2003-01-01 00:00:00.5 UTC' l");
        assertEquals("2003-01-01 00:00:00.500000000 +0000", Cowfs.sh(d, "TZ=UTC stat -c %y l").trim());
        // touch with no time: atime = mtime = now, after what was there
        long before = System.currentTimeMillis() / 1000 - 5;
        Cowfs.sh(d, "touch f");
        String[] am = Cowfs.sh(d, "stat -c '%X %Y' f").trim().split(" ");
        assertTrue(Long.parseLong(am[0]) >= before && Long.parseLong(am[1]) >= before, Arrays.toString(am));
        // writing moves mtime and ctime; chmod moves ctime only
        Cowfs.sh(d, "touch -d '2000-01-01 UTC' f");
        String m0 = Cowfs.sh(d, "stat -c %Y f").trim();
        Cowfs.sh(d, "chmod 600 f");
        assertEquals(m0, Cowfs.sh(d, "stat -c %Y f").trim());
        assertNotEquals(m0, Cowfs.sh(d, "stat -c %Z f").trim());
        Cowfs.sh(d, "echo more >> f");
        assertNotEquals(m0, Cowfs.sh(d, "stat -c %Y f").trim());
        // a directory's mtime moves when an entry is added
        Cowfs.sh(d, "touch -d '2000-01-01 UTC' .");
        String dm = Cowfs.sh(d, "stat -c %Y .").trim();
        write(d.resolve("new"), "n");
        assertNotEquals(dm, Cowfs.sh(d, "stat -c %Y .").trim());
        // root (CAP_FSETID) writing a setuid file keeps the bit
        Cowfs.sh(d, "echo a > suid && chmod 4755 suid && echo b >> suid");
        assertEquals("4755", Cowfs.sh(d, "stat -c %a suid").trim());
        // tools that copy a mode to a new file (libacl's perm_copy_fd: sed -i, cp -p)
        Cowfs.sh(d, "seq 3 > m && chmod 640 m && sed -i s/1/x/ m && cp -p m m2");
        assertEquals("640 640", Cowfs.sh(d, "stat -c %a m m2 | tr '\\n' ' '").trim());
        // base files: metadata changes apply per view
        Cowfs.sh(root(t), "chmod 600 base/trunc && chown 3:4 base/trunc");
        assertEquals("600 3:4", Cowfs.sh(root(t), "stat -c '%a %u:%g' base/trunc").trim());
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void xattrs(Target t, TestInfo info) throws Exception {
        Path d = dir(t, info);
        write(d.resolve("f"), "x");
        Files.createDirectory(d.resolve("dir"));
        Cowfs.sh(d, "setfattr -n user.one -v 1 f && setfattr -n user.two -v 0x00ff00 f && setfattr -n user.empty f"
                + " && setfattr -n user.d -v dv dir");
        assertEquals("user.empty\nuser.one\nuser.two\n",
                Cowfs.sh(d, "getfattr --absolute-names -d -m '^user\\.' f | grep '^user' | cut -d= -f1 | sort"));
        assertEquals("1", Cowfs.sh(d, "getfattr --only-values -n user.one f"));
        assertEquals("user.two=0x00ff00", Cowfs.sh(d, "getfattr -e hex -n user.two f | grep '^user'").trim());
        assertEquals("dv", Cowfs.sh(d, "getfattr --only-values -n user.d dir"));
        Cowfs.sh(d, "setfattr -n user.one -v replaced f");
        assertEquals("replaced", Cowfs.sh(d, "getfattr --only-values -n user.one f"));
        Cowfs.sh(d, "setfattr -x user.one f");
        assertTrue(Cowfs.shRc(d, "getfattr -n user.one f").out().contains("No such attribute"));
        assertTrue(Cowfs.shRc(d, "setfattr -x user.one f").out().contains("No such attribute"));
        // a name outside the namespaces Linux knows is refused, as by the host's filesystems
        // (before 2026-12-03 a view stored it)
        assertTrue(Cowfs.shRc(d, "setfattr -n bogus.ns -v 1 f").out().contains("Operation not supported"));
        assertTrue(Cowfs.shRc(d, "getfattr -n bogus.ns f").out().contains("Operation not supported"));
        // a namespace with an empty name is invalid (before 2026-12-03 a view stored "user.")
        assertTrue(Cowfs.shRc(d, "setfattr -n user. -v 1 f").out().contains("Invalid argument"));
        // a large value (a few KiB) round-trips
        String big = "v".repeat(3000);
        Cowfs.sh(d, "setfattr -n user.big -v " + big + " f");
        assertEquals(big, Cowfs.sh(d, "getfattr --only-values -n user.big f"));
        // names are refused with ENOSPC before their list passes what listxattr can return (64 KiB;
        // ext4 refuses far sooner, XFS takes them all and then fails every listxattr with E2BIG):
        // the file's attributes stay listable (before 2026-12-05 a view took 3,000 such names, and
        // getfattr -d, cp -a and tar then failed with E2BIG)
        String many = Cowfs.sh(d, "echo x > many && python3 -c \"import os, errno\n"
                + "try:\n    [os.setxattr('many', 'user.n%05d' % i + 'q' * 40, b'1') for i in range(3000)]; print('all set')\n"
                + "except OSError as e:\n    print(errno.errorcode[e.errno], 'listable' if os.listxattr('many') else 'empty')\n\"").trim();
        assertTrue(many.equals("ENOSPC listable") || t == Target.HOST && many.equals("all set"), many);
        // java's user-defined attribute view uses the same calls
        var v = Files.getFileAttributeView(d.resolve("f"), java.nio.file.attribute.UserDefinedFileAttributeView.class);
        v.write("java", ByteBuffer.wrap("jv".getBytes(StandardCharsets.UTF_8)));
        assertTrue(v.list().containsAll(List.of("java", "two", "empty", "big")), v.list().toString());
        v.delete("java");
        assertFalse(v.list().contains("java"));
        // a base file's xattrs are there and change per view
        assertEquals("base", Cowfs.sh(root(t), "getfattr --only-values -n user.origin base/linked"));
        Cowfs.sh(root(t), "setfattr -n user.view -v added base/linked");
        assertEquals("added", Cowfs.sh(root(t), "getfattr --only-values -n user.view base/sub/linked2"));
    }

    /**
     * Setuid, setgid and file capabilities go on write, truncate and chown as on the host. The
     * kernel adapter handles it itself (HANDLE_KILLPRIV_V2: the kernel tells it when, and asks no
     * GETXATTR before every write); libfuse 2's kernel sends the mode change and the REMOVEXATTR.
     */
    @ParameterizedTest
    @EnumSource(Target.class)
    void privilegesGoOnWriteTruncateAndChown(Target t, TestInfo info) throws Exception {
        assumeTrue(Cowfs.shRc(root(t), "command -v setpriv && test $(id -u) = 0").rc() == 0, "needs root and setpriv");
        Path d = dir(t, info);
        Cowfs.sh(d, "chmod 755 . && mkdir pub && chmod 777 pub");
        // chown, even by root: setuid goes, and setgid where the group may execute
        Cowfs.sh(d, "echo a > c1 && chmod 6755 c1 && chown 1:1 c1 && echo a > c2 && chmod 2745 c2 && chown 2:2 c2");
        assertEquals("755 2745", Cowfs.sh(d, "stat -c %a c1 c2 | tr '\\n' ' '").trim());
        // a chown that changes neither owner nor group (chown(f, -1, -1)) too
        Cowfs.sh(d, "echo a > c3 && chmod 6755 c3 && python3 -c 'import os; os.chown(\"c3\", -1, -1)'");
        assertEquals("755", Cowfs.sh(d, "stat -c %a c3").trim());
        // a writer or truncater without CAP_FSETID loses them; root keeps them
        as(65534, d, "echo x > pub/w && chmod 6755 pub/w && echo y >> pub/w"
                + " && echo x > pub/t && chmod 6755 pub/t && truncate -s 1 pub/t"
                + " && echo x > pub/g && chmod 2745 pub/g && echo y >> pub/g");
        assertEquals("755 755 2745", Cowfs.sh(d, "stat -c %a pub/w pub/t pub/g | tr '\\n' ' '").trim());
        // setgid without group execute goes too when the writer is not in the file's group and
        // stays when it is (setattr_should_drop_sgid, Linux 6.2); fallocate writes as write does
        // (xfstests generic/683-685 found the view keeping it)
        Cowfs.sh(d, "for f in n m a; do echo x > pub/$f; done && chown 0:0 pub/n pub/a && chown 0:65534 pub/m"
                + " && chmod 2666 pub/n pub/m && chmod 6666 pub/a");
        as(65534, d, "echo y >> pub/n && echo y >> pub/m && fallocate -l 1M pub/a");
        assertEquals("666 2666 666", Cowfs.sh(d, "stat -c %a pub/n pub/m pub/a | tr '\\n' ' '").trim());
        // written through a descriptor open on another hardlink name than the chmod went through
        // (libfuse 2: a kernel inode per name, whose mode was stale, so the bits stayed)
        as(65534, d, "echo x > pub/l && ln pub/l pub/l2 && exec 3>>pub/l2 && chmod 6755 pub/l && echo y >&3");
        assertEquals("755", Cowfs.sh(d, "stat -c %a pub/l").trim());
        Cowfs.sh(d, "echo x > r && chmod 4755 r && truncate -s 1 r && echo y >> r");
        assertEquals("4755", Cowfs.sh(d, "stat -c %a r").trim());
        // a file capability (cap_net_raw=p, a version 2 security.capability) goes on any write or truncate
        String cap = "setfattr -n security.capability -v 0x0000000200200000000000000000000000000000 ";
        Cowfs.sh(d, "echo a > k && " + cap + "k && echo b >> k");
        assertTrue(Cowfs.shRc(d, "getfattr -n security.capability k").out().contains("No such attribute"));
        Cowfs.sh(d, cap + "k && truncate -s 1 k");
        assertTrue(Cowfs.shRc(d, "getfattr -n security.capability k").out().contains("No such attribute"));
        Cowfs.sh(d, cap + "k");
        assertFalse(Cowfs.shRc(d, "getfattr -n security.capability k").out().contains("No such attribute"));
        Cowfs.sh(d, "dd if=/dev/zero of=k bs=4096 seek=3 count=1 conv=notrunc status=none");
        assertTrue(Cowfs.shRc(d, "getfattr -n security.capability k").out().contains("No such attribute"));
        assertEquals("a", Cowfs.sh(d, "head -c 1 k"));
    }

    /** Runs a script as another user (setpriv), returns its output; it must succeed. */
    private static String as(int uid, Path dir, String script) throws Exception {
        return Cowfs.sh(dir, "setpriv --reuid=" + uid + " --regid=" + uid + " --clear-groups bash -c '" + script + "' 2>&1");
    }

    @ParameterizedTest
    @EnumSource(Target.class)
    void permissionsForOtherUsers(Target t, TestInfo info) throws Exception {
        assumeTrue(Cowfs.shRc(root(t), "command -v setpriv && test $(id -u) = 0").rc() == 0, "needs root and setpriv");
        Path d = dir(t, info);
        Cowfs.sh(d, "chmod 755 . && echo secret > secret && chmod 600 secret && mkdir pub && chmod 777 pub"
                + " && mkdir sticky && chmod 1777 sticky && mkdir sgid && chgrp 4321 sgid && chmod 2777 sgid");
        // default_permissions: the kernel checks modes against the caller
        assertTrue(as(65534, d, "cat secret || true").contains("Permission denied"));
        assertTrue(as(65534, d, "touch new || true").contains("Permission denied"));
        assertTrue(as(65534, d, "rm -f secret || true").contains("Permission denied"));
        assertEquals(Set.of("secret", "pub", "sticky", "sgid"), list(d));
        // a user's own files in a world-writable directory
        as(65534, d, "echo mine > pub/f && chmod 640 pub/f && mkdir pub/sub");
        assertEquals("640 65534:65534", Cowfs.sh(d, "stat -c \"%a %u:%g\" pub/f").trim());
        assertTrue(as(65534, d, "chown 0 pub/f || true").contains("Operation not permitted"));
        assertTrue(as(65534, d, "touch -d 2001-01-01 secret || true").contains("Operation not permitted")
                || as(65534, d, "touch -d 2001-01-01 secret || true").contains("Permission denied"));
        assertTrue(as(65533, d, "cat pub/f || true").contains("Permission denied"));
        // the sticky bit: another user may not remove or rename what is not theirs
        as(65534, d, "echo s > sticky/f");
        assertTrue(as(65533, d, "rm -f sticky/f || true").contains("Operation not permitted"));
        assertTrue(as(65533, d, "mv sticky/f sticky/g || true").contains("Operation not permitted"));
        as(65534, d, "rm sticky/f");
        // a setgid directory: new entries take its group, new subdirectories its setgid bit
        as(65534, d, "touch sgid/f && mkdir sgid/sub");
        assertEquals("65534:4321", Cowfs.sh(d, "stat -c %u:%g sgid/f").trim());
        assertEquals("2", Cowfs.sh(d, "stat -c %a sgid/sub").trim().substring(0, 1));
        // a non-root writer loses setuid/setgid on write
        as(65534, d, "echo x > pub/s && chmod 6755 pub/s && echo y >> pub/s");
        assertEquals("755", Cowfs.sh(d, "stat -c %a pub/s").trim());
    }

    // ------------------------------------------------------------------ view only

    /** mmap writes reach the store: they are there after an unmount and a new mount. */
    @Test
    void mmapWritesSurviveRemount() throws Exception {
        cowfs.run("fork", "snap", "--name", "mmap").ok();
        int size = 5 * 65_536;
        Path mp;
        try (Cowfs.Mounted m = cowfs.mount("mmap")) {
            mp = m.dir;
            try (FileChannel ch = FileChannel.open(m.dir.resolve("mapped"), StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_WRITE, 0, size);
                for (int i = 0; i < size; i += 4096) {
                    buf.put(i, (byte) (i / 4096 + 1));
                }
                buf.force();
                unmap(buf);
            }
            try (FileChannel ch = FileChannel.open(m.dir.resolve("base/big"), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_WRITE, 0, ch.size());
                buf.put(200_000, (byte) 'M');
                buf.force();
                unmap(buf);
            }
        }
        assertFalse(Cowfs.isMounted(mp));
        try (Cowfs.Mounted m = cowfs.mount("mmap")) {
            byte[] got = Files.readAllBytes(m.dir.resolve("mapped"));
            assertEquals(size, got.length);
            for (int i = 0; i < size; i++) {
                assertEquals(i % 4096 == 0 ? (byte) (i / 4096 + 1) : 0, got[i], "byte " + i);
            }
            assertEquals('M', Files.readAllBytes(m.dir.resolve("base/big"))[200_000]);
        }
    }
}
