package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * cp inside a view (coreutils' copy_file_range) clones a whole file: through a real mount, the
 * store does not grow, the copies diverge block by block after writes to either, the clone
 * outlives its source through a gc and a kill -9 of the mount, and freezes, verifies and exports
 * exactly. A copy that stops short of the end, one of a file with unflushed writes and one over
 * an existing file copy exactly too; a copy onto an overlapping range of the same file is refused.
 */
class CloneIT {
    static final int SIZE = 24 << 20;

    @TempDir
    Path tmp;

    private static long rawBytes(Cowfs c) throws Exception {
        return new ObjectMapper().readTree(c.run("stats", "--json").ok().out()).get("uniqueRawBytes").asLong();
    }

    /** A store in tmp holding snapshot "base" of files and view "v" forked from it. */
    private Cowfs baseAndView(Map<String, byte[]> files) throws Exception {
        Fx.writeTree(tmp.resolve("src"), files);
        Cowfs c = new Cowfs(tmp);
        c.run("import", tmp.resolve("src").toString(), "--name", "base").ok();
        c.run("fork", "base", "--name", "v").ok();
        return c;
    }

    /** Freezes view v, verifies and checks the store, and exports the snapshot: its directory. */
    private Path freezeCheckAndExport(Cowfs c) throws Exception {
        c.run("snapshot", "v", "--name", "frozen").ok();
        c.run("verify").ok();
        c.run("fsck").ok();
        Path out = tmp.resolve("export");
        c.run("export", "frozen", out.toString()).ok();
        return out;
    }

    @Test
    void cpOfABigFileSharesItsBlocksAndTheCopiesDiverge() throws Exception {
        Cowfs.assumeFuse();
        byte[] big = Fx.random(21, SIZE + 1234);
        try (Cowfs c = baseAndView(Map.of("big.bin", big))) {
            long before = rawBytes(c);
            byte[] copyWant = big.clone();
            byte[] srcWant = big.clone();
            byte[] page = Fx.random(22, 4096);
            Cowfs.Mounted m = c.mount("v");
            try {
                Cowfs.sh(m.dir, "cp big.bin copy.bin && cp big.bin copy2.bin");
                assertArrayEquals(big, Files.readAllBytes(m.dir.resolve("copy.bin")));
                // a 4 KiB write into each of two copies, at different places: each changes alone
                Files.write(tmp.resolve("page"), page);
                Cowfs.sh(m.dir, "dd if=" + tmp.resolve("page") + " of=copy.bin bs=4096 seek=1280 conv=notrunc,fsync status=none"
                        + " && dd if=" + tmp.resolve("page") + " of=big.bin bs=4096 seek=2304 conv=notrunc,fsync status=none");
                System.arraycopy(page, 0, copyWant, 1280 * 4096, 4096);
                System.arraycopy(page, 0, srcWant, 2304 * 4096, 4096);
                assertArrayEquals(copyWant, Files.readAllBytes(m.dir.resolve("copy.bin")));
                assertArrayEquals(srcWant, Files.readAllBytes(m.dir.resolve("big.bin")));
                assertArrayEquals(big, Files.readAllBytes(m.dir.resolve("copy2.bin")));
                // the source goes, a gc runs while the view is mounted; then the mount is killed
                Cowfs.sh(m.dir, "rm big.bin");
                c.run("rm", "base").ok();
                c.run("gc").ok();
                assertArrayEquals(copyWant, Files.readAllBytes(m.dir.resolve("copy.bin")));
                Fx.killMount(c.store, m.dir);
                c.run("umount", m.dir.toString()).ok();
            } finally {
                m.close();
            }
            try (Cowfs.Mounted again = c.mount("v")) {
                assertArrayEquals(copyWant, Files.readAllBytes(again.dir.resolve("copy.bin")));
                assertArrayEquals(big, Files.readAllBytes(again.dir.resolve("copy2.bin")));
            }
            Path out = freezeCheckAndExport(c);
            long grown = rawBytes(c) - before;
            // one 64 KiB block written twice (once per file), list pages, inodes and directories:
            // nothing like the 48 MiB two byte-for-byte copies would be without dedup
            assertTrue(grown < 1 << 20, "the store grew by " + grown + " bytes");
            assertArrayEquals(copyWant, Files.readAllBytes(out.resolve("copy.bin")));
            assertArrayEquals(big, Files.readAllBytes(out.resolve("copy2.bin")));
        }
    }

    /**
     * cp over an existing file of the base: the open truncates it (its own blocks are dropped in
     * the same commit that records the clone), then the clone; after a remount, a freeze and a
     * verify, the file holds the source's bytes and a write to it changes it alone.
     */
    @Test
    void cpOverAnExistingBaseFileReplacesItsBlocks() throws Exception {
        Cowfs.assumeFuse();
        byte[] a = Fx.random(31, (5 << 20) + 17);
        byte[] b = Fx.random(32, 9 << 20);
        try (Cowfs c = baseAndView(Map.of("a", a, "b", b))) {
            try (Cowfs.Mounted m = c.mount("v")) {
                Cowfs.sh(m.dir, "cp a b && printf XY | dd of=a bs=1 seek=100 conv=notrunc status=none");
                assertArrayEquals(a, Files.readAllBytes(m.dir.resolve("b")));
            }
            byte[] aNow = a.clone();
            aNow[100] = 'X';
            aNow[101] = 'Y';
            try (Cowfs.Mounted m = c.mount("v")) {
                assertArrayEquals(a, Files.readAllBytes(m.dir.resolve("b")));
                assertArrayEquals(aNow, Files.readAllBytes(m.dir.resolve("a")));
                assertEquals(String.valueOf(a.length), Cowfs.sh(m.dir, "stat -c %s b").trim());
            }
            Path out = freezeCheckAndExport(c);
            assertArrayEquals(a, Files.readAllBytes(out.resolve("b")));
            assertArrayEquals(aNow, Files.readAllBytes(out.resolve("a")));
        }
    }

    /** Partial copies, a source with writes still in flight, and overlapping ranges, as on the host. */
    static final String SCRIPT = String.join("\n",
            "import os, sys, errno",
            "os.chdir(sys.argv[1]); out = []",
            "M = 1 << 20",
            "def copy(src, dst, count, flags=os.O_CREAT | os.O_WRONLY | os.O_TRUNC):",
            "    s = os.open(src, os.O_RDONLY); d = os.open(dst, flags, 0o644); n = 0",
            "    try:",
            "        while n < count:",
            "            k = os.copy_file_range(s, d, count - n)",
            "            if k == 0: break",
            "            n += k",
            "    finally: os.close(s); os.close(d)",
            "    return n",
            "data = open('big.bin', 'rb').read()",
            "n = copy('big.bin', 'part', 3 * M + 777)",
            "os.truncate('part', 5 * M)",
            "p = open('part', 'rb').read()",
            "out.append('part %d %s %s' % (n, p[:n] == data[:n], p[n:] == bytes(5 * M - n)))",
            "w = os.open('big.bin', os.O_WRONLY)",
            "os.pwrite(w, b'x' * 5000, M + 3)",
            "n = copy('big.bin', 'inflight', len(data))",
            "os.close(w)",
            "got = open('inflight', 'rb').read()",
            "out.append('inflight %d %s' % (n, got == data[:M + 3] + b'x' * 5000 + data[M + 5003:]))",
            "fd = os.open('big.bin', os.O_RDWR)",
            "try: os.copy_file_range(fd, fd, 2 * M, 0, M); out.append('overlap copied')",
            "except OSError as e: out.append('overlap ' + errno.errorcode[e.errno])",
            "os.close(fd)",
            "print('\\n'.join(out))");

    @Test
    void partialAndInFlightCopiesAreExactAndOverlapsAreRefused() throws Exception {
        Cowfs.assumeFuse();
        org.junit.jupiter.api.Assumptions.assumeTrue(Cowfs.shRc(tmp, "command -v python3").rc() == 0, "needs python3");
        byte[] big = Fx.random(23, 6 << 20);
        Path script = tmp.resolve("copies.py");
        Files.writeString(script, SCRIPT);
        Path host = Files.createDirectories(tmp.resolve("host"));
        Files.write(host.resolve("big.bin"), big);
        String expected = Cowfs.sh(tmp, "python3 " + script + " " + host);
        assertTrue(expected.contains("overlap EINVAL"), expected);
        try (Cowfs c = baseAndView(Map.of("big.bin", big))) {
            try (Cowfs.Mounted m = c.mount("v")) {
                assertEquals(expected, Cowfs.sh(tmp, "python3 " + script + " " + m.dir));
                assertEquals(Cowfs.sh(host, "md5sum part inflight big.bin"), Cowfs.sh(m.dir, "md5sum part inflight big.bin"));
            }
            try (Cowfs.Mounted m = c.mount("v")) {
                assertEquals(Cowfs.sh(host, "md5sum part inflight big.bin"), Cowfs.sh(m.dir, "md5sum part inflight big.bin"),
                        "after a remount");
                assertTrue(Arrays.equals(big, 0, 100, Files.readAllBytes(m.dir.resolve("part")), 0, 100));
            }
        }
    }

    /**
     * Each file written and then copied into (whole blocks shared, bytes copied, or a clone of a
     * whole file into an empty one), or grown by fallocate and then punched, closed at once: stat
     * shows the same mtime and ctime, to the nanosecond, after a remount. The kernel keeps a view's
     * file times (writeback cache) and sends them after a copy or fallocate only when they moved;
     * each copy that shared blocks, each fallocate that grew a file and each punch stamped the
     * mount's clock, which was stored whenever the kernel's time had not moved since the file's
     * last change: most files showed later times after the remount than before it.
     */
    static final String TIMES = String.join("\n",
            "import os, sys, ctypes",
            "os.chdir(sys.argv[1]); B = 65536; libc = ctypes.CDLL(None, use_errno=True)",
            "if sys.argv[2] == 'copy':",
            "    open('ts', 'wb').write(os.urandom(3 * B))",
            "    s = os.open('ts', os.O_RDONLY)",
            "    for i in range(20):",
            "        d = os.open('td%d' % i, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)",
            "        os.pwrite(d, b'x' * 100, 0)",
            "        os.copy_file_range(s, d, B, B, B)",
            "        os.copy_file_range(s, d, B, 0, 2 * B)",
            "        os.copy_file_range(s, d, 10, 0, 5)",
            "        os.close(d)",
            "        c = os.open('tc%d' % i, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)",
            "        os.copy_file_range(s, c, 3 * B, 0, 0)",
            "        os.close(c)",
            "        f = os.open('tf%d' % i, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)",
            "        os.pwrite(f, b'x' * 100, 0)",
            "        os.posix_fallocate(f, 0, 2 * B)",
            "        os.posix_fallocate(f, 0, 3 * B)",
            "        os.fsync(f)",
            "        libc.fallocate(f, 3, ctypes.c_long(B), ctypes.c_long(B))", // PUNCH_HOLE | KEEP_SIZE
            "        os.close(f)",
            "    os.close(s)",
            "for n in sorted(os.listdir('.')):",
            "    st = os.stat(n)",
            "    print(n, st.st_size, st.st_mtime_ns, st.st_ctime_ns)");

    @Test
    void copiesAndFallocatesShowTheSameTimesAfterARemount() throws Exception {
        Cowfs.assumeFuse();
        org.junit.jupiter.api.Assumptions.assumeTrue(Cowfs.shRc(tmp, "command -v python3").rc() == 0, "needs python3");
        Path script = tmp.resolve("times.py");
        Files.writeString(script, TIMES);
        try (Cowfs c = baseAndView(Map.of("a", Fx.random(41, 1000)))) {
            String shown;
            try (Cowfs.Mounted m = c.mount("v")) {
                shown = Cowfs.sh(tmp, "python3 " + script + " " + m.dir + " copy");
            }
            try (Cowfs.Mounted m = c.mount("v")) {
                assertEquals(shown, Cowfs.sh(tmp, "python3 " + script + " " + m.dir + " stat"), "times after a remount");
            }
        }
    }

    /**
     * copy_file_range into a setuid/setgid file, and fallocate of one, by a process without
     * CAP_FSETID clear the bits, as a write does and as on the host; a process with it keeps them.
     * The kernel leaves the clearing to the mount (HANDLE_KILLPRIV_V2) but sends no flag with these
     * requests: before the fix the bits stayed.
     */
    static final String SETID = String.join("\n",
            "import os, sys, stat, ctypes",
            "os.chdir(sys.argv[1]); B = 65536; libc = ctypes.CDLL(None, use_errno=True); out = []",
            "open('src', 'wb').write(b's' * 3 * B)",
            "for how in ('write', 'copy', 'share', 'falloc', 'punch'):",
            "    with open(how, 'wb') as f: f.write(b'x' * 3 * B)",
            "    os.chmod(how, 0o6755)",
            "    fd = os.open(how, os.O_RDWR); s = os.open('src', os.O_RDONLY)",
            "    if how == 'write': os.pwrite(fd, b'y', 5)",
            "    elif how == 'copy': os.copy_file_range(s, fd, 10, 0, 5)",
            "    elif how == 'share': os.copy_file_range(s, fd, B, 0, B)",
            "    elif how == 'falloc': os.posix_fallocate(fd, 0, 4 * B)",
            "    else: libc.fallocate(fd, 3, ctypes.c_long(B), ctypes.c_long(B))",
            "    os.close(fd); os.close(s)",
            "    out.append('%s %o' % (how, stat.S_IMODE(os.stat(how).st_mode)))",
            "print(' '.join(out))");

    @Test
    void copiesAndFallocatesClearSetuidAsOnTheHost() throws Exception {
        Cowfs.assumeFuse();
        org.junit.jupiter.api.Assumptions.assumeTrue(Cowfs.shRc(tmp, "command -v python3 && command -v setpriv && test $(id -u) = 0").rc() == 0,
                "needs python3, setpriv and root");
        Path script = tmp.resolve("setid.py");
        Files.writeString(script, SETID);
        String unprivileged = "setpriv --inh-caps=-fsetid --bounding-set=-fsetid python3 " + script + " ";
        Path host = Files.createDirectories(tmp.resolve("host"));
        String hostWithout = Cowfs.sh(tmp, unprivileged + host);
        assertEquals("write 755 copy 755 share 755 falloc 755 punch 755\n", hostWithout);
        String hostWith = Cowfs.sh(tmp, "python3 " + script + " " + host);
        try (Cowfs c = baseAndView(Map.of("a", Fx.random(42, 1000)))) {
            try (Cowfs.Mounted m = c.mount("v")) {
                assertEquals(hostWithout, Cowfs.sh(tmp, unprivileged + m.dir), "without CAP_FSETID");
                assertEquals(hostWith, Cowfs.sh(tmp, "python3 " + script + " " + m.dir), "with CAP_FSETID");
            }
        }
    }
}
