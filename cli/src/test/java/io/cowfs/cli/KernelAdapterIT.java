package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the kernel-protocol adapter changes for users, through a real mount of a view: one kernel
 * inode per file (hardlinks coherent), attributes and entries cached for long yet exact after every
 * change made through the mount, the writeback cache seen by stat at once and by a snapshot of the
 * mounted view, and requests it does not serve answered with an error while the mount stays up.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class KernelAdapterIT {
    private Cowfs cowfs;
    private Path v;

    @BeforeAll
    void mount(@TempDir Path tmp) throws Exception {
        assumeTrue(Cowfs.fuseAvailable(), "no /dev/fuse");
        Cowfs.sh(tmp, "mkdir -p src/d && printf 'base\\n' > src/a && ln src/a src/d/b && echo keep > src/k");
        cowfs = new Cowfs(tmp);
        cowfs.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
        cowfs.run("fork", "snap", "--name", "v").ok();
        v = cowfs.mount("v", "--fuse-api=kernel").dir;
        String mounts = Files.readString(Path.of("/proc/self/mounts"));
        assertTrue(mounts.contains("cowfs:v " + v + " fuse.cowfs"), mounts);
        // reads never update atime (README): the mount says noatime
        assertTrue(mounts.lines().anyMatch(l -> l.startsWith("cowfs:v " + v + " fuse.cowfs rw,nosuid,nodev,noatime,")), mounts);
    }

    @AfterAll
    void unmount() {
        if (cowfs != null) {
            cowfs.close();
        }
    }

    private static long ino(Path p) throws Exception {
        return ((Number) Files.getAttribute(p, "unix:ino", LinkOption.NOFOLLOW_LINKS)).longValue();
    }

    /**
     * The kernel serves a listing of a view's directory from its page cache; when those pages are
     * reclaimed in the middle of a stream (memory pressure; drop_caches here), the stream goes on
     * through the mount at its offset. Deleting entries while reading them (rm -rf) then skipped as
     * many entries as had been deleted, and rmdir failed with ENOTEMPTY.
     */
    @Test
    void aListingWhoseCachedPagesAreReclaimedWhileItIsReadSkipsNothing() throws Exception {
        Path dropCaches = Path.of("/proc/sys/vm/drop_caches");
        assumeTrue(Files.isWritable(dropCaches), "skipped: dropping the page cache needs root");
        Path d = Files.createDirectory(v.resolve("many"));
        int n = 12_000;
        for (int i = 0; i < n; i++) {
            Files.createFile(d.resolve(String.format("file-%06d", i)));
        }
        try (var all = Files.list(d)) {
            assertEquals(n, all.count()); // a whole stream: the kernel now holds the listing
        }
        int seen = 0;
        try (var stream = Files.newDirectoryStream(d); MachineWide caches = MachineWide.caches()) {
            for (Path p : stream) {
                Files.delete(p);
                if (++seen == n / 4) {
                    Files.writeString(dropCaches, "1"); // the cached listing's pages go (every test's: MachineWide)
                }
            }
        }
        try (var left = Files.list(d)) {
            assertEquals(java.util.List.of(), left.map(p -> p.getFileName().toString()).limit(5).toList(),
                    "entries the stream skipped");
        }
        assertEquals(n, seen);
        Files.delete(d);
    }

    @Test
    void anFdOnOneHardlinkNameSeesWritesThroughAnother() throws Exception {
        Path a = v.resolve("a");
        Path b = v.resolve("d/b");
        assertEquals(ino(a), ino(b));
        try (FileChannel fb = FileChannel.open(b, StandardOpenOption.READ)) {
            ByteBuffer first = ByteBuffer.allocate(64);
            fb.read(first, 0); // pages of b are now cached
            Files.writeString(a, "changed through a\n");
            ByteBuffer after = ByteBuffer.allocate(64);
            int n = fb.read(after, 0);
            assertEquals("changed through a\n", new String(after.array(), 0, n, StandardCharsets.UTF_8));
        }
        assertEquals("changed through a\n", Files.readString(b));
    }

    @Test
    void statAfterAWriteShowsTheNewSizeAndMtimeAtOnce() throws Exception {
        Path f = v.resolve("grows");
        Files.writeString(f, "x");
        FileTime before = Files.getLastModifiedTime(f);
        Thread.sleep(20);
        try (FileChannel c = FileChannel.open(f, StandardOpenOption.WRITE)) {
            c.write(ByteBuffer.wrap(new byte[100_000]), 5000);
            assertEquals(105_000, Files.size(f), "size while the data is still in the kernel's cache");
            assertTrue(Files.getLastModifiedTime(f).compareTo(before) > 0, "mtime moved");
        }
        assertEquals(105_000, Files.size(f));
    }

    @Test
    void renameUnlinkRmdirAndCreateAreSeenByTheNextLookup() throws Exception {
        Path f = Files.writeString(v.resolve("r1"), "r");
        assertTrue(Files.exists(f));
        assertFalse(Files.exists(v.resolve("r2"))); // a cached negative entry
        Files.move(f, v.resolve("r2"));
        assertFalse(Files.exists(f));
        assertEquals("r", Files.readString(v.resolve("r2")));
        Files.delete(v.resolve("r2"));
        assertFalse(Files.exists(v.resolve("r2")));
        Path d = Files.createDirectory(v.resolve("rd"));
        assertTrue(Files.isDirectory(d));
        Files.delete(d);
        assertFalse(Files.exists(d));
        Files.writeString(v.resolve("r2"), "again"); // replaces the negative entry
        assertEquals("again", Files.readString(v.resolve("r2")));
        try (var s = Files.list(v)) {
            assertTrue(s.anyMatch(p -> p.getFileName().toString().equals("r2")));
        }
    }

    @Test
    void aSnapshotOfTheMountedViewHoldsWritesStillInTheKernelCache() throws Exception {
        byte[] data = Fx.random(7, 300_000);
        try (FileChannel c = FileChannel.open(v.resolve("open-while-frozen"), StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            c.write(ByteBuffer.wrap(data));
            // not closed, not fsynced: the bytes may be only in the kernel's page cache
            cowfs.run("snapshot", "v", "--name", "frozen-open").ok();
        }
        Path out = cowfs.root.resolve("frozen-export");
        cowfs.run("export", "frozen-open", out.toString()).ok();
        assertArrayEquals(data, Files.readAllBytes(out.resolve("open-while-frozen")));
    }

    @Test
    void requestsTheAdapterDoesNotServeFailAndTheMountStaysUp() throws Exception {
        Path k = v.resolve("k");
        // lsattr sends FS_IOC_GETFLAGS: an IOCTL request, which the adapter answers ENOSYS
        Cowfs.Result r = Cowfs.shRc(v, "lsattr k");
        assertTrue(r.rc() != 0, r.out());
        // locks are the kernel's own (no POSIX_LOCKS/FLOCK_LOCKS asked): they work
        Cowfs.sh(v, "flock k true");
        assertEquals("keep\n", Files.readString(k));
    }

    /**
     * fallocate (mode 0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE), SEEK_DATA/SEEK_HOLE and
     * copy_file_range, run by one script on a host directory (the control) and in the view: same
     * sizes, same bytes, same hole map (ranges aligned to 1 MiB, so block sizes do not matter),
     * same errors.
     */
    static final String RANGES_SCRIPT = String.join("\n",
            "import os, subprocess, sys, hashlib",
            "d = sys.argv[1]; os.chdir(d); out = []",
            "def sh(*a): r = subprocess.run(a, capture_output=True, text=True); out.append(' '.join(a[1:]) + ' rc=' + str(r.returncode))",
            "def seek(fd, off, how):",
            "    try: return os.lseek(fd, off, how)",
            "    except OSError as e: return 'errno%d' % e.errno",
            "M = 1 << 20",
            "with open('data', 'wb') as f: f.write(os.urandom(M)); f.seek(3 * M); f.write(os.urandom(M))",
            "fd = os.open('data', os.O_RDONLY)",
            "out.append('seek %s %s %s %s %s' % (seek(fd, 0, os.SEEK_DATA), seek(fd, 0, os.SEEK_HOLE), seek(fd, M, os.SEEK_DATA), seek(fd, 3 * M, os.SEEK_HOLE), seek(fd, 4 * M, os.SEEK_DATA)))",
            "os.close(fd)",
            "sh('fallocate', '-l', str(2 * M), 'alloc')",
            "out.append('alloc %d %s' % (os.path.getsize('alloc'), hashlib.sha256(open('alloc', 'rb').read()).hexdigest()[:16]))",
            "sh('fallocate', '-n', '-o', str(2 * M), '-l', str(M), 'alloc')",
            "out.append('keep %d' % os.path.getsize('alloc'))",
            "sh('fallocate', '-p', '-o', str(M), '-l', str(M), 'data')",
            "fd = os.open('data', os.O_RDONLY)",
            "out.append('holes %s %s' % (seek(fd, 0, os.SEEK_HOLE), seek(fd, M, os.SEEK_DATA)))",
            "os.close(fd)",
            "sh('fallocate', '-z', '-o', str(3 * M), '-l', str(M // 2), 'data')",
            "b = open('data', 'rb').read()",
            "out.append('punched %d %s %s' % (len(b), b[M:2 * M] == bytes(M), b[3 * M:3 * M + M // 2] == bytes(M // 2)))",
            "src = os.open('data', os.O_RDONLY); dst = os.open('copy', os.O_CREAT | os.O_WRONLY, 0o644)",
            "n = 0",
            "while True:",
            "    k = os.copy_file_range(src, dst, 4 * M)",
            "    if k == 0: break",
            "    n += k",
            "os.close(src); os.close(dst)",
            "out.append('copied %d %s' % (n, open('copy', 'rb').read() == open('data', 'rb').read()))",
            "sh('fallocate', '-l', '0', 'alloc')",
            "print('\\n'.join(out))",
            "if len(sys.argv) > 2:",
            "    # more than the disk has: ENOSPC up front, with or without KEEP_SIZE, and nothing changes",
            "    # (not run on the host: ext4 allocates what it can before it says ENOSPC, filling the disk)",
            "    out = []; st = os.statvfs('.'); big = 2 * st.f_bavail * st.f_frsize",
            "    sh('fallocate', '-l', str(big), 'huge'); sh('fallocate', '-n', '-l', str(big), 'huge')",
            "    sh('fallocate', '-o', str(M), '-l', str(big), 'alloc')",
            "    out.append('huge %d alloc %d' % (os.path.getsize('huge'), os.path.getsize('alloc')))",
            "    print('\\n'.join(out).replace(str(big), 'BIG'))");

    @Test
    void fallocateSeekHoleAndCopyFileRangeBehaveAsOnTheHost() throws Exception {
        assumeTrue(Cowfs.shRc(cowfs.root, "command -v python3 && command -v fallocate").rc() == 0, "needs python3 and fallocate");
        Path script = cowfs.root.resolve("ranges.py");
        Files.writeString(script, RANGES_SCRIPT);
        Path host = Files.createDirectories(cowfs.root.resolve("ranges-host"));
        assumeTrue(Fx.hostZeroRange(host), "the host's filesystem refuses FALLOC_FL_ZERO_RANGE (tmpfs): no control");
        Path view = Files.createDirectories(v.resolve("ranges"));
        String expected = Cowfs.sh(cowfs.root, "python3 " + script + " " + host);
        String got = Cowfs.sh(cowfs.root, "python3 " + script + " " + view + " past-the-disk");
        // past what the disk has: ENOSPC, nothing changes ("huge" made empty by fallocate(1)'s open)
        assertEquals(expected + "-l BIG huge rc=1\n-n -l BIG huge rc=1\n-o 1048576 -l BIG alloc rc=1\nhuge 0 alloc 2097152\n", got);
        assertTrue(got.contains("copied 4194304 True"), got);
        assertTrue(got.contains("-l 0 alloc rc=1"), "fallocate of length 0 is EINVAL: " + got);
    }

    /**
     * Asynchronous O_DIRECT writes (io_submit) while two other processes read the file through
     * the page cache, as xfstests' generic/451: after each write completes, a buffered read sees
     * what it wrote. The kernel drops cached pages before such a write but not after it, so a
     * read served between the two left old bytes cached ("stale at write 2" within seconds on
     * the build before; KernelFs.bufferedReadAt). The host's filesystem runs the same script as
     * the control.
     */
    @Test
    void asyncDirectWritesLeaveNoStalePagesForBufferedReaders() throws Exception {
        assumeTrue("amd64".equals(System.getProperty("os.arch")), "the script uses x86-64's AIO system call numbers");
        Path script = cowfs.root.resolve("aio_stale.py");
        try (java.io.InputStream in = KernelAdapterIT.class.getResourceAsStream("/aio_stale.py")) {
            Files.write(script, in.readAllBytes());
        }
        Cowfs.Result host = Cowfs.shRc(cowfs.root, "python3 " + script + " " + cowfs.root.resolve("aio-host") + " 2");
        assumeTrue(host.rc() == 0 && host.out().startsWith("clean"), () -> "no control: the host's filesystem said " + host.out());
        String got = Cowfs.sh(cowfs.root, "python3 " + script + " " + v.resolve("aio") + " 8");
        assertTrue(got.startsWith("clean "), got);
    }

    /**
     * A file whose writer still has it open: its bytes may be only in the kernel's page cache
     * (writeback cache), and lseek(SEEK_DATA/SEEK_HOLE) must count them, as cp relies on it. cp
     * took such a file for sparse (st_blocks 0), SEEK_DATA said ENXIO, and the copy held only
     * zeros; tar -S took st_blocks 0 for a file that is one hole and archived no data. The same
     * script on the host gives the expected answers.
     */
    @Test
    void aFileStillOpenForWritingSeeksAndCopiesAsWritten() throws Exception {
        assumeTrue(Cowfs.shRc(cowfs.root, "command -v python3").rc() == 0, "needs python3");
        Path script = cowfs.root.resolve("open-writer.py");
        Files.writeString(script, String.join("\n",
                "import os, subprocess, sys",
                "d = sys.argv[1]; out = sys.argv[2]; f = os.path.join(d, 'log')",
                "data = b''.join(b'%d\\n' % i for i in range(1, 20001))",
                "# another process writes the file and keeps it open (a logger); this one looks at it",
                "writer = ('import os, sys\\nw = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)\\n'",
                "          'os.write(w, sys.stdin.buffer.read(%d))\\nprint(1, flush=True)\\nsys.stdin.readline()\\n'",
                "          'os.write(w, b\\'more\\\\n\\')\\nprint(2, flush=True)\\nsys.stdin.readline()\\nos.close(w)\\n' % len(data))",
                "p = subprocess.Popen([sys.executable, '-c', writer, f], stdin=subprocess.PIPE, stdout=subprocess.PIPE)",
                "p.stdin.write(data); p.stdin.flush(); p.stdout.readline()",
                "subprocess.run(['tar', '-cSf', out + '.tar', '-C', d, 'log'], check=True)",
                "os.makedirs(out + '.x')",
                "subprocess.run(['tar', '-xf', out + '.tar', '-C', out + '.x'], check=True)",
                "print('tar -S equal', open(os.path.join(out + '.x', 'log'), 'rb').read() == data)",
                "r = os.open(f, os.O_RDONLY)",
                "print('data', os.lseek(r, 0, os.SEEK_DATA), 'hole', os.lseek(r, 0, os.SEEK_HOLE))",
                "try:",
                "    os.lseek(r, len(data), os.SEEK_DATA); print('data at EOF')",
                "except OSError as e:",
                "    print('at EOF', e.errno)",
                "subprocess.run(['cp', f, out], check=True)",
                "print('copy equal', open(out, 'rb').read() == data)",
                "p.stdin.write(b'go\\n'); p.stdin.flush(); p.stdout.readline()",
                "print('grown: hole', os.lseek(r, 0, os.SEEK_HOLE))",
                "p.stdin.close(); p.wait(); os.close(r)", ""));
        Path host = Files.createDirectories(cowfs.root.resolve("open-writer-host"));
        Path view = Files.createDirectories(v.resolve("open-writer"));
        String expected = Cowfs.sh(cowfs.root, "python3 " + script + " " + host + " " + cowfs.root.resolve("copy-of-host"));
        String got = Cowfs.sh(cowfs.root, "python3 " + script + " " + view + " " + cowfs.root.resolve("copy-of-view"));
        assertEquals("tar -S equal True\ndata 0 hole 108894\nat EOF 6\ncopy equal True\ngrown: hole 108899\n", expected);
        assertEquals(expected, got);
    }

    /**
     * lseek while writes wait in the kernel, from more processes at once than the mount has
     * workers: each lseek has the kernel write the file's pages back first, and those WRITEs need a
     * worker while the lseek's own waits (a waiting worker, else a stand-in). Neither may hang, and
     * every SEEK_DATA/SEEK_HOLE counts the data just written.
     */
    @Test
    void seeksFromSeveralWritersAtOnceNeitherHangNorMissData() throws Exception {
        assumeTrue(Cowfs.shRc(cowfs.root, "command -v python3").rc() == 0, "needs python3");
        Path script = cowfs.root.resolve("seekers.py");
        Files.writeString(script, String.join("\n",
                "import os, sys",
                "d = sys.argv[1]; B = 65536; pids = []",
                "for k in range(6):",
                "    pid = os.fork()",
                "    if pid == 0:",
                "        f = os.path.join(d, 'seek%d' % k); w = os.open(f, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644); bad = []",
                "        for i in range(120):",
                "            off = i * 3 * B + 100 * k; rec = b'%d.%d;' % (k, i) * 50",
                "            os.pwrite(w, rec, off)",
                "            if i > 0:",
                "                got = os.lseek(w, (i - 1) * 3 * B + B, os.SEEK_DATA)",
                "                if not (i * 3 * B <= got <= off): bad.append(('data', i, got))",
                "            hole = os.lseek(w, off, os.SEEK_HOLE)",
                "            if hole < off + len(rec): bad.append(('hole', i, hole))",
                "        ok = all(os.pread(w, 50 * len(b'%d.%d;' % (k, i)), i * 3 * B + 100 * k) == b'%d.%d;' % (k, i) * 50 for i in range(120))",
                "        os.write(1, ('%d bad %s content %s\\n' % (k, bad[:3], ok)).encode()); os._exit(0)",
                "    pids.append(pid)",
                "for p in pids: os.waitpid(p, 0)", ""));
        Path dir = Files.createDirectories(v.resolve("seekers"));
        String got = Cowfs.sh(cowfs.root, "timeout 100 python3 " + script + " " + dir + " | sort");
        StringBuilder expected = new StringBuilder();
        for (int k = 0; k < 6; k++) {
            expected.append(k).append(" bad [] content True\n");
        }
        assertEquals(expected.toString(), got);
    }

    /**
     * Files grown past their data (truncate, a write far past the end) count those blocks as
     * holes: in the view (at least one block: the kernel may hold writes), after a remount, and
     * in a snapshot mount, whose copy by cp stays sparse. They counted as data, so du showed the
     * whole size and cp out of a snapshot wrote it all as zeros.
     */
    @Test
    void filesGrownPastTheirDataCountTheGapAsHoles() throws Exception {
        cowfs.run("fork", "snap", "--name", "grown").ok();
        String files = "t w";
        try (Cowfs.Mounted m = cowfs.mount("grown", "--fuse-api=kernel")) {
            Cowfs.sh(m.dir, "truncate -s 100M t && printf x | dd of=w bs=1 seek=104857600 status=none && sync -f w");
            assertEquals("104857600 1\n104857601 1\n", Cowfs.sh(m.dir, "stat -c '%s %b' " + files));
        }
        try (Cowfs.Mounted m = cowfs.mount("grown", "--fuse-api=kernel")) {
            assertEquals("104857600 1\n104857601 1\n", Cowfs.sh(m.dir, "stat -c '%s %b' " + files), "after a remount");
        }
        cowfs.run("snapshot", "grown", "--name", "grown-snap").ok();
        try (Cowfs.Mounted m = cowfs.mount("grown-snap", "--fuse-api=kernel")) {
            assertEquals("104857600 0\n104857601 1\n", Cowfs.sh(m.dir, "stat -c '%s %b' " + files), "in a snapshot mount");
            Path out = Files.createDirectories(cowfs.root.resolve("grown-out"));
            Cowfs.sh(cowfs.root, "cp " + m.dir.resolve("t") + " " + m.dir.resolve("w") + " " + out);
            String du = Cowfs.sh(out, "du -k t w");
            assertEquals("0\tt\n4\tw\n", du, "the copies are sparse");
            assertEquals("x", Cowfs.sh(out, "tail -c 1 w"));
        }
    }

    /** du sees holes: those of an imported sparse file, and blocks punched in the view; written blocks count. */
    @Test
    void stBlocksCountsOnlyBlocksThatHoldData() throws Exception {
        Path sparse = cowfs.root.resolve("sparse-src");
        Cowfs.sh(cowfs.root, "mkdir -p sparse-src && head -c 1048576 /dev/urandom > sparse-src/s"
                + " && truncate -s 8M sparse-src/s && head -c 1048576 /dev/urandom >> sparse-src/s");
        cowfs.run("import", sparse.toString(), "--name", "sparse").ok();
        cowfs.run("fork", "sparse", "--name", "sv").ok();
        try (Cowfs.Mounted m = cowfs.mount("sv", "--fuse-api=kernel")) {
            Path s = m.dir.resolve("s");
            // 2 MiB of data in a 9 MiB file: 4096 units of 512 bytes, as ext4 counts them
            assertEquals("9437184 4096", Cowfs.sh(m.dir, "stat -c '%s %b' s").trim());
            Cowfs.sh(m.dir, "head -c 4194304 /dev/urandom > w && sync -f w"
                    + " && fallocate -p -o 1048576 -l 2097152 w && fallocate -p -o 0 -l 65536 s");
            assertEquals("4194304 4096", Cowfs.sh(m.dir, "stat -c '%s %b' w").trim(), "2 of 4 MiB punched");
            assertEquals("9437184 3968", Cowfs.sh(m.dir, "stat -c '%s %b' s").trim(), "64 KiB more punched");
            Cowfs.sh(m.dir, "head -c 65536 /dev/urandom | dd of=s bs=64k seek=32 conv=notrunc status=none && sync -f s");
            assertEquals("9437184 4096", Cowfs.sh(m.dir, "stat -c '%s %b' s").trim(), "a hole written");
            assertTrue(Files.size(s) > 0);
        }
    }

    /** A store made before stores were private (run/ 0755): a view still mounts, and run/ is closed up. */
    @Test
    void aViewOfAStoreWithAnOpenRunDirectoryMountsAndClosesItUp() throws Exception {
        Path run = cowfs.store.resolve("run");
        Files.setPosixFilePermissions(run, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        cowfs.run("fork", "snap", "--name", "old-modes").ok();
        try (Cowfs.Mounted m = cowfs.mount("old-modes", "--fuse-api=kernel")) {
            assertTrue(Cowfs.isMounted(m.dir));
            assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(run)));
        }
    }

    @Test
    void anUnknownFuseApiIsABadArgument() throws Exception {
        Path mp = Files.createTempDirectory(cowfs.root, "mp-bad-");
        cowfs.run("mount", "snap", mp.toString(), "--fuse-api=fuse4").fails(2);
        assertFalse(Cowfs.isMounted(mp));
    }
}
