package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A view takes files up to 16 TiB, as ext4 does, and refuses larger sizes with EFBIG; a snapshot
 * of it then always works. Before, a view took a truncate to 2^63-1 or a write at 2^50, and every
 * later snapshot or fork of that view failed ("file too large to freeze").
 */
class FileSizeLimitIT {
    @TempDir
    Path tmp;

    @Test
    void sizesPast16TiBAreRefusedAndTheViewStillFreezes() throws Exception {
        Cowfs.assumeFuse();
        Cowfs.sh(tmp, "mkdir -p src && echo base > src/base");
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                Cowfs.Result t = Cowfs.shRc(m.dir, "truncate -s 17T big");
                assertNotEquals(0, t.rc());
                assertTrue(t.out().contains("File too large"), t.out());
                Cowfs.Result f = Cowfs.shRc(m.dir, "fallocate -l 17T big2");
                assertNotEquals(0, f.rc());
                assertTrue(f.out().contains("File too large"), f.out());
                Cowfs.Result huge = Cowfs.shRc(m.dir, "truncate -s 9223372036854775807 huge");
                assertTrue(huge.out().contains("File too large"), huge.out());
                Cowfs.sh(m.dir, "truncate -s 1T sparse");
                assertEquals(1L << 40, Files.size(m.dir.resolve("sparse")));
                c.run("snapshot", "v", "--name", "frozen").ok();
            }
            try (Cowfs.Mounted s = c.mount("frozen")) {
                assertEquals(1L << 40, Files.size(s.dir.resolve("sparse")));
                assertEquals(0, Files.size(s.dir.resolve("big")));
            }
            c.run("fork", "v", "--name", "w").ok();
            // a freeze lists a file's blocks only up to its last one: a 16 TiB file with nothing
            // written freezes in a small heap (it took an array of 268M entries, 1.1 GB)
            try (Cowfs.Mounted m = c.mount("w")) {
                Cowfs.sh(m.dir, "truncate -s 16T sparse16 && printf x | dd of=sparse16 bs=1 seek=70000 conv=notrunc status=none");
            }
            Cowfs.Result r = Fx.javaMain(java.util.List.of("-Xmx64m"), "snapshot", "--store=" + c.store, "w", "--name", "frozen16");
            assertEquals(0, r.rc(), r.out() + r.err());
            try (Cowfs.Mounted s = c.mount("frozen16")) {
                assertEquals(16L << 40, Files.size(s.dir.resolve("sparse16")));
                assertEquals("x", Cowfs.sh(s.dir, "dd if=sparse16 bs=1 skip=70000 count=1 status=none"));
            }
        }
    }

    /**
     * A write past 16 TiB in a mounted view: with the kernel's writeback cache the write(2) itself
     * returns (Linux lets a FUSE server set no maximum file size, and sends the data long after),
     * so close(2) must fail with EFBIG, as fsync(2) does, and stat must then show the size the view
     * holds. Before, close failed with EIO (or 0 once fsync had reported), and stat showed the
     * refused size until the unmount.
     */
    @Test
    void aWritePast16TiBFailsAtCloseWithEfbigAndStatShowsWhatTheViewHolds() throws Exception {
        Cowfs.assumeFuse();
        assumeTrue(Cowfs.shRc(tmp, "command -v python3").rc() == 0, "needs python3");
        Cowfs.sh(tmp, "mkdir -p src && echo base > src/base");
        Path script = tmp.resolve("past-limit.py");
        Files.writeString(script, String.join("\n",
                "import errno, os, sys",
                "d = sys.argv[1]; T16 = 1 << 44",
                "def err(f, *a):",
                "    try:",
                "        r = f(*a); return 'ok' if r is None else r",
                "    except OSError as e:",
                "        return errno.errorcode[e.errno]",
                "import time",
                "def settled(p, want):",
                "    # the kernel drops its inode (and the size it kept) once it has the reply to the",
                "    # RELEASE that follows the close, asynchronously: a moment after the close",
                "    for _ in range(100):",
                "        size = os.stat(p).st_size",
                "        if size == want: break",
                "        time.sleep(0.05)",
                "    return size",
                "def case(name, off, n, sync, want):",
                "    p = os.path.join(d, name)",
                "    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)",
                "    print(name, 'pwrite', err(os.pwrite, fd, b'x' * n, off), end=' ')",
                "    if sync:",
                "        print('fsync', err(os.fsync, fd), end=' ')",
                "    print('close', err(os.close, fd), 'size', settled(p, want))",
                "case('past', T16 + 10, 4, False, 0)",
                "case('synced', T16 + 10, 4, True, 0)",
                "case('across', T16 - 4096, 8192, False, T16)",
                "import mmap; buf = mmap.mmap(-1, 8192); buf.write(b'y' * 8192)",
                "fd = os.open(os.path.join(d, 'direct'), os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)",
                "print('direct', err(os.pwritev, fd, [buf], T16 - 4096), err(os.pwritev, fd, [buf], T16 - 8192),",
                "      'close', err(os.close, fd), 'size', os.stat(os.path.join(d, 'direct')).st_size)",
                "fd = os.open(os.path.join(d, 'past'), os.O_RDWR)",
                "print('ftruncate', err(os.ftruncate, fd, T16 + 1), 'fallocate', err(os.posix_fallocate, fd, T16, 1))",
                "import ctypes; libc = ctypes.CDLL(None, use_errno=True)",
                "libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]",
                "def falloc(mode, off, n): return 'ok' if libc.fallocate(fd, mode, off, n) == 0 else errno.errorcode[ctypes.get_errno()]",
                "# past the limit whatever the mode, as the kernel's vfs_fallocate answers for a local filesystem",
                "print('keep-size', falloc(1, T16, 1), 'punch', falloc(3, T16 - 1, 2), 'zero', falloc(0x11, T16 - 1, 2), 'under', falloc(1, T16 - 1, 1))",
                "os.pwrite(fd, b'again', 0)",
                "print('close', err(os.close, fd), 'size', os.stat(os.path.join(d, 'past')).st_size,",
                "      open(os.path.join(d, 'past'), 'rb').read())",
                ""));
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                String got = Cowfs.sh(tmp, "python3 " + script + " " + m.dir);
                assertEquals("past pwrite 4 close EFBIG size 0\n"
                        + "synced pwrite 4 fsync EFBIG close ok size 0\n"
                        + "across pwrite 8192 close EFBIG size " + (1L << 44) + "\n"
                        + "direct EFBIG 8192 close ok size " + (1L << 44) + "\n"
                        + "ftruncate EFBIG fallocate EFBIG\n"
                        + "keep-size EFBIG punch EFBIG zero EFBIG under ok\n"
                        + "close ok size 5 b'again'\n", got);
                // the view goes on: new files, and the one refused
                Cowfs.sh(m.dir, "echo after > after && cat after base past >/dev/null");
                assertEquals("after\n", Files.readString(m.dir.resolve("after")));
                assertEquals(1L << 44, Files.size(m.dir.resolve("across")));
            }
            try (Cowfs.Mounted m = c.mount("v")) {
                assertEquals(0, Files.size(m.dir.resolve("synced")));
                assertEquals("again", Files.readString(m.dir.resolve("past")));
                assertEquals("x", Cowfs.sh(m.dir, "dd if=across bs=1 skip=" + ((1L << 44) - 1) + " count=1 status=none"));
            }
            c.run("fsck").ok();
        }
    }
}
