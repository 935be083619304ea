package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With its writeback cache the kernel keeps a view's file times and sends them when they change;
 * what a mount shows must be what is stored. Files rewritten three times each in quick
 * succession (each write closed) show the same mtime and ctime, to the nanosecond, after an
 * unmount and a new mount, and export writes that mtime. Before the fix each WRITE stamped the
 * mount's own clock, which was stored when the kernel's time had not moved between two writes (it
 * then sends none), and the kernel's ctime was never stored: ~3 in 4 files showed other times
 * after the remount, some older than the file written before them.
 */
class ViewTimesIT {
    @TempDir
    Path tmp;

    private static String times(Path dir, int files) throws Exception {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < files; i++) {
            Path f = dir.resolve("f" + i);
            out.append(f.getFileName()).append(' ').append(Files.getAttribute(f, "unix:lastModifiedTime"))
                    .append(' ').append(Files.getAttribute(f, "unix:ctime")).append('\n');
        }
        return out.toString();
    }

    @Test
    void timesAMountShowsAreTheTimesStored() throws Exception {
        Cowfs.assumeFuse();
        Cowfs.sh(tmp, "mkdir -p src && echo base > src/base");
        int files = 120;
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            String shown;
            try (Cowfs.Mounted m = c.mount("v")) {
                for (int i = 0; i < files; i++) {
                    Path f = m.dir.resolve("f" + i);
                    for (int k = 0; k < 3; k++) {
                        Files.write(f, String.valueOf(k).repeat(1000).getBytes(), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    }
                }
                shown = times(m.dir, files);
            }
            try (Cowfs.Mounted again = c.mount("v")) {
                assertEquals(shown, times(again.dir, files), "times after a remount");
            }
            Path out = tmp.resolve("out");
            c.run("export", "v", out.toString()).ok();
            StringBuilder exported = new StringBuilder();
            StringBuilder want = new StringBuilder();
            for (String line : shown.split("\n")) {
                String[] f = line.split(" ");
                want.append(f[0]).append(' ').append(f[1]).append('\n');
                exported.append(f[0]).append(' ').append(Files.getAttribute(out.resolve(f[0]), "unix:lastModifiedTime")).append('\n');
            }
            assertEquals(want.toString(), exported.toString(), "exported mtimes");
        }
    }

    /** mtimes as stat(1) shows them, in UTC (java.nio cannot set a time past 2262: it clamps to nanoseconds in a long). */
    private static String mtimes(Path dir, String... files) throws Exception {
        return Cowfs.sh(dir, "TZ=UTC stat -c '%n %y' " + String.join(" ", files));
    }

    /**
     * A record holds a time as nanoseconds in an i64 (1677-09-21 to 2262-04-11). A time outside
     * that, imported from the host or set in a view, is clamped to the nearest end, as the kernel
     * clamps a time to what a filesystem stores. Before, it wrapped around: an mtime of 2400
     * imported as 1815, one of 2300 set by `touch` came back as 1715 after a remount.
     */
    @Test
    void timesOutsideWhatARecordHoldsAreClampedNotWrapped() throws Exception {
        Cowfs.assumeFuse();
        Cowfs.sh(tmp, "mkdir -p src && echo late > src/late && echo a > src/a && echo b > src/b"
                + " && touch -d '2400-01-01 00:00:00 UTC' src/late");
        assumeTrue(mtimes(tmp.resolve("src"), "late").startsWith("late 2400-"),
                "the temp dir's filesystem keeps an mtime of 2400 (ext4 with 256-byte inodes, XFS bigtime, btrfs)");
        String latest = "2262-04-11 23:47:16.854775807 +0000";
        String earliest = "1677-09-21 00:12:43.145224194 +0000";
        String want = "a " + latest + "\nb " + earliest + "\nlate 1901-12-13 20:45:52.000000001 +0000\n";
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                assertEquals("late " + latest + "\n", mtimes(m.dir, "late"), "imported 2400");
                Cowfs.sh(m.dir, "touch -d '2300-01-01 00:00:00.5 UTC' a && touch -d '1600-01-01 00:00:00 UTC' b"
                        // in range, to the nanosecond, at ext4's first second
                        + " && touch -d '1901-12-13 20:45:52.000000001 UTC' late");
                // not checked here: with its writeback cache the kernel keeps the times it was given
                // for a regular file (2300) while it holds the inode, whatever the mount answers
            }
            try (Cowfs.Mounted again = c.mount("v")) {
                assertEquals(want, mtimes(again.dir, "a", "b", "late"), "after a remount");
            }
            Path out = tmp.resolve("out");
            c.run("export", "v", out.toString()).ok();
            assertEquals("a " + latest + "\n", mtimes(out, "a"), "exported");
            c.run("fsck").ok();
        }
    }

    /**
     * chown(f, -1, -1) changes nothing but f's ctime, on ext4 for every kind of file (POSIX lets a
     * filesystem keep it; pjdfstest's chown/00.t checks it, docs/EXTERNAL-SUITES.md). The kernel
     * adapter sends it as a SETATTR of nothing; before, the view kept the old ctime. The libfuse 2
     * adapter never hears of such a call (libfuse 2 skips it), so this is the kernel adapter's.
     */
    @Test
    void aChownOfNothingChangesTheCtimeAsOnExt4() throws Exception {
        Cowfs.assumeFuse();
        Cowfs.sh(tmp, "mkdir -p src/d host/d && echo f > src/f && ln -s f src/l && cp -a src/f src/l host/");
        String script = String.join("; ",
                "import os, sys, time",
                "names = ['f', 'd', 'l', 'new']",
                "open('new', 'w').close()",
                "before = [os.lstat(n).st_ctime_ns for n in names]",
                "time.sleep(0.05)",
                "[os.chown(n, -1, -1) for n in ['f', 'd', 'new']]",
                "os.lchown('l', -1, -1)",
                "after = [os.lstat(n) for n in names]",
                "print(' '.join('%s:%s:%s' % (n, 'changed' if a.st_ctime_ns > b else 'kept',"
                        + " 'owner kept' if (a.st_uid, a.st_gid) == (os.getuid(), os.getgid()) else 'owner changed')"
                        + " for n, b, a in zip(names, before, after)))",
                "print(' '.join(str(a.st_ctime_ns) for a in after))");
        String want = "f:changed:owner kept d:changed:owner kept l:changed:owner kept new:changed:owner kept";
        // the output to a file, then its first line: "| head -1" could exit before python's second
        // line, and python then printed a BrokenPipeError into the output
        assertEquals(want + "\n", Cowfs.sh(tmp.resolve("host"), "python3 -c \"" + script + "\" > ../host.out && head -1 ../host.out"),
                "the host's filesystem");
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            String ctimes;
            try (Cowfs.Mounted m = c.mount("v", "--fuse-api=kernel")) { // 'new' is made in the view
                String[] out = Cowfs.sh(m.dir, "python3 -c \"" + script + "\"").split("\n");
                assertEquals(want, out[0]);
                ctimes = out[1];
            }
            try (Cowfs.Mounted again = c.mount("v", "--fuse-api=kernel")) {
                assertEquals(ctimes + "\n", Cowfs.sh(again.dir, "python3 -c \"import os; print(' '.join(str(os.lstat(n).st_ctime_ns)"
                        + " for n in ['f', 'd', 'l', 'new']))\""), "the new ctimes, stored");
            }
        }
    }
}
