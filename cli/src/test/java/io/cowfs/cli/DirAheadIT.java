package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Read-ahead across directories (fusefs kernel.DirAhead) through real mounts: a walk with
 * ordinary tools ({@code find}, {@code ls -lR}) of a snapshot and of a view lists exactly what the
 * source has, and the mount says at unmount that it read directories ahead of the walk. A view
 * changed through the mount after its directories were read ahead lists what it has now.
 * {@code cowfs.fuse.dirAhead=false} reads nothing ahead.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class DirAheadIT {
    private static final int DIRS = 30;

    /** src/t: d00..d29, each with files and two subdirectories s0 and s1 of five files. */
    private static Path source(Path tmp) throws Exception {
        Path t = Files.createDirectories(tmp.resolve("src/t"));
        for (int d = 0; d < DIRS; d++) {
            Path dir = Files.createDirectory(t.resolve(String.format("d%02d", d)));
            Files.writeString(dir.resolve("top"), "top of " + d + "\n");
            for (int s = 0; s < 2; s++) {
                Path sub = Files.createDirectory(dir.resolve("s" + s));
                for (int f = 0; f < 5; f++) {
                    Files.writeString(sub.resolve("f" + f), "x".repeat(d * 10 + s * 5 + f) + "\n");
                }
            }
        }
        return t;
    }

    /** What a walk of dir reports: every path with its type and mode, and every file's size. */
    private static String walk(Path dir) throws Exception {
        return Cowfs.sh(dir, "find . -printf '%y %p %m\\n' | LC_ALL=C sort; find . -type f -printf '%p %s\\n' | LC_ALL=C sort");
    }

    /** The mount's count of directories read ahead, from its last line saying so; -1 if it never said. */
    private static long readAheadCount(Path log) throws Exception {
        return ReadPathIT.lastCount(log, Pattern.compile("cowfs: (\\d+) directories read ahead of a walk"));
    }


    @Test
    void aWalkOfASnapshotIsReadAheadAndListsTheSource(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        Path src = source(tmp);
        try (Cowfs cowfs = new Cowfs(tmp)) {
            cowfs.run("import", src.getParent().toString(), "--name", "snap").ok();
            Path mp = Files.createDirectory(tmp.resolve("mp"));
            Process mount = ReadPathIT.foregroundMount(cowfs, "snap", mp);
            try {
                ReadPathIT.waitMounted(mount, mp);
                assertEquals(walk(src), walk(mp.resolve("t")));
                Cowfs.sh(mp, "ls -lR t > /dev/null");
            } finally {
                ReadPathIT.stopForeground(mount, mp);
            }
            assertEquals(0, mount.exitValue(), "the mount process ends cleanly");
            long n = readAheadCount(tmp.resolve("mount-snap.log"));
            // 91 directories under t, the root's stream the first: every later one can be read
            // ahead (90 of them on an unloaded machine); on a starved one the walk may pass the
            // read-ahead, which then stops, so only that it ran is certain
            assertTrue(n > 0, "directories were read ahead of find: " + n);
        }
    }

    @Test
    void aViewChangedAfterItsDirectoriesWereReadAheadListsWhatItHasNow(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        Path src = source(tmp);
        try (Cowfs cowfs = new Cowfs(tmp)) {
            cowfs.run("import", src.getParent().toString(), "--name", "snap").ok();
            cowfs.run("fork", "snap", "--name", "v").ok();
            Path mp = Files.createDirectory(tmp.resolve("mp"));
            Process mount = ReadPathIT.foregroundMount(cowfs, "v", mp);
            try {
                ReadPathIT.waitMounted(mount, mp);
                Path t = mp.resolve("t");
                // the root's listing gives the order of d00..d29; a walk of d00..d02 reads ahead into
                // d03 and after, whose listings then wait for their streams
                Cowfs.sh(t, "ls > /dev/null; find d00 d01 d02 > /dev/null");
                Thread.sleep(500);
                String change = "rm d03/s0/f1 && echo new > d03/s1/made && echo longer than before > d04/s0/f2"
                        + " && mkdir d04/s2 && echo in > d04/s2/g && rm -r d05/s1 && mv d06/s0/f0 d06/s1/moved";
                Cowfs.sh(t, change);
                Cowfs.sh(src, change);
                assertEquals(walk(src), walk(t));
                Cowfs.sh(mp, "ls -lR t > /dev/null");
            } finally {
                ReadPathIT.stopForeground(mount, mp);
            }
            assertEquals(0, mount.exitValue(), "the mount process ends cleanly");
            long n = readAheadCount(tmp.resolve("mount-v.log"));
            assertTrue(n > 0, "a view's walk is read ahead too: " + n);
        }
    }

    @Test
    void switchedOffNothingIsReadAhead(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        Path src = source(tmp);
        try (Cowfs cowfs = new Cowfs(tmp)) {
            cowfs.run("import", src.getParent().toString(), "--name", "snap").ok();
            Path mp = Files.createDirectory(tmp.resolve("mp"));
            Process mount = ReadPathIT.foregroundMount(cowfs, "snap", mp, "-Dcowfs.fuse.dirAhead=false");
            try {
                ReadPathIT.waitMounted(mount, mp);
                assertEquals(walk(src), walk(mp.resolve("t")));
            } finally {
                ReadPathIT.stopForeground(mount, mp);
            }
            assertEquals(-1, readAheadCount(tmp.resolve("mount-snap.log")), "cowfs.fuse.dirAhead=false: no read-ahead thread");
        }
    }
}
