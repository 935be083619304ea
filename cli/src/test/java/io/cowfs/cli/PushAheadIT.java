package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Read-ahead across files (fusefs kernel.PushAhead) through real mounts: a reader that reads a
 * snapshot's small files in order finds the ones it has not reached yet in the kernel's page cache
 * (fincore(1) shows them resident before anything read them), reads exactly the source's bytes,
 * and a damaged file is never stored: its read is still EIO. Writable views and
 * {@code cowfs.fuse.pushAhead=0} store nothing ahead.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
@org.junit.jupiter.api.extension.ExtendWith(MachineWide.Held.class) // it syncs or drops the machine's caches, or a test that does would disturb it
class PushAheadIT {
    private static final int FILES = 200;

    /** src/a: f000..f199 of 1 B to 100 KiB, a directory and a symlink among them, and two files over the 128 KiB limit. */
    private static Path source(Path tmp) throws Exception {
        Path a = Files.createDirectories(tmp.resolve("src/a"));
        Random rnd = new Random(11);
        for (int i = 0; i < FILES; i++) {
            byte[] b = new byte[i == 7 ? 0 : 1 + rnd.nextInt(i % 10 == 9 ? 100_000 : 4000)];
            rnd.nextBytes(b);
            Files.write(a.resolve(String.format("f%03d", i)), b);
        }
        Path d = Files.createDirectories(a.resolve("f100d")); // node ids of its own between f100 and f101
        for (int i = 0; i < 10; i++) {
            Files.writeString(d.resolve("g" + i), "inner " + i + "\n");
        }
        Files.createSymbolicLink(a.resolve("f050s"), Path.of("f050"));
        byte[] big = new byte[300_000];
        rnd.nextBytes(big);
        Files.write(a.resolve("f030big"), big);
        Files.write(a.resolve("f040big"), big);
        return a;
    }

    private static long resident(Path f) throws Exception {
        String out = Cowfs.sh(f.getParent(), "fincore --bytes --noheadings --raw --output RES " + f.getFileName()).strip();
        return Long.parseLong(out);
    }

    /** Waits up to 20 s for f to be in the page cache; false if it never is. */
    private static boolean becomesResident(Path f) throws Exception {
        return becomesResidentWithin(f, 20);
    }

    /** The mount's own count of files stored ahead, from its last line saying so; -1 if it never said. */
    private static long pushedCount(Path log) throws Exception {
        return ReadPathIT.lastCount(log, Pattern.compile("cowfs: (\\d+) files stored in the page cache ahead of readers"));
    }


    @Test
    void smallFilesReadInOrderAreInThePageCacheBeforeTheReaderGetsThere(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        Path src = source(tmp);
        try (Cowfs cowfs = new Cowfs(tmp)) {
            cowfs.run("import", src.getParent().toString(), "--name", "snap").ok();
            Path mp = Files.createDirectory(tmp.resolve("mp"));
            Process mount = ReadPathIT.foregroundMount(cowfs, "snap", mp);
            try {
                ReadPathIT.waitMounted(mount, mp);
                Path a = mp.resolve("a");
                Cowfs.sh(mp, "ls -l a > /dev/null"); // the kernel looks every name up (READDIRPLUS)
                assertEquals(0, resident(a.resolve("f010")), "nothing is cached before a reader starts");
                Cowfs.sh(a, "cat f000 f001 f002 > /dev/null");
                assertTrue(becomesResident(a.resolve("f010")), "f010 is stored ahead of a reader at f002");
                assertTrue(becomesResident(a.resolve("f020")), "so is f020");
                assertEquals(0, resident(a.resolve("f030big")), "a file over 128 KiB is left to the kernel's own read-ahead");
                assertEquals(0, resident(a.resolve("f150")), "f150 is past the window");
                // the reader goes on in order, past the directory between f100 and f101; every byte is the source's
                Cowfs.sh(mp, "set -e; for f in $(ls a); do if [ -f a/$f ] && [ ! -L a/$f ]; then cmp a/$f " + src + "/$f; fi; done");
                Cowfs.sh(mp, "diff -r " + src + " a");
            } finally {
                ReadPathIT.stopForeground(mount, mp);
            }
            assertEquals(0, mount.exitValue(), "the mount process ends cleanly");
            long pushed = pushedCount(tmp.resolve("mount-snap.log"));
            assertTrue(pushed >= 150, "most of the 200 files were stored ahead of the reader: " + pushed);
        }
    }

    @Test
    void aDamagedFileIsNeverStoredAheadAndViewsStoreNothing(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        Path src = source(tmp);
        try (Cowfs cowfs = new Cowfs(tmp)) {
            cowfs.run("import", src.getParent().toString(), "--name", "snap").ok();
            cowfs.run("fork", "snap", "--name", "v").ok();
            // a byte of f020 (one chunk, stored raw) flipped on disk
            CorruptionIT.flipPayloadByte(cowfs.store.resolve("packs"),
                    java.util.HexFormat.of().parseHex(CorruptionIT.sha256Hex(Files.readAllBytes(src.resolve("f020")))));

            Path mp = Files.createDirectory(tmp.resolve("mp"));
            Process mount = ReadPathIT.foregroundMount(cowfs, "snap", mp);
            try {
                ReadPathIT.waitMounted(mount, mp);
                Path a = mp.resolve("a");
                Cowfs.sh(mp, "ls -l a > /dev/null");
                Cowfs.sh(a, "cat f000 f001 f002 > /dev/null");
                assertTrue(becomesResident(a.resolve("f021")), "the files around the damaged one are stored ahead");
                assertTrue(becomesResident(a.resolve("f019")));
                assertEquals(0, resident(a.resolve("f020")), "the damaged file is not");
                Cowfs.Result cat = Cowfs.shRc(a, "cat f020 > /dev/null");
                assertTrue(cat.rc() != 0 && cat.err().contains("Input/output error"), "its read is EIO: " + cat);
                Cowfs.sh(mp, "set -e; for f in f019 f021 f022; do cmp a/$f " + src + "/$f; done");
                assertTrue(Cowfs.isMounted(mp), "the mount stays up");
            } finally {
                ReadPathIT.stopForeground(mount, mp);
            }

            // a writable view: the kernel may hold dirty pages the mount has not seen, so nothing is stored ahead
            Path mv = Files.createDirectory(tmp.resolve("mv"));
            Process view = ReadPathIT.foregroundMount(cowfs, "v", mv);
            try {
                ReadPathIT.waitMounted(view, mv);
                Path a = mv.resolve("a");
                Cowfs.sh(mv, "ls -l a > /dev/null; cd a && cat f000 f001 f002 f003 f004 > /dev/null");
                assertFalse(becomesResidentWithin(a.resolve("f010"), 2), "a view stores nothing ahead");
                Cowfs.sh(mv, "set -e; for f in f010 f011; do cmp a/$f " + src + "/$f; done");
            } finally {
                ReadPathIT.stopForeground(view, mv);
            }
            assertEquals(-1, pushedCount(tmp.resolve("mount-v.log")), "a view has no push thread");

            // switched off
            Process off = ReadPathIT.foregroundMount(cowfs, "snap", mp, "-Dcowfs.fuse.pushAhead=0");
            try {
                ReadPathIT.waitMounted(off, mp);
                Path a = mp.resolve("a");
                Cowfs.sh(mp, "ls -l a > /dev/null; cd a && cat f000 f001 f002 f003 f004 > /dev/null");
                assertFalse(becomesResidentWithin(a.resolve("f010"), 2), "cowfs.fuse.pushAhead=0 stores nothing ahead");
            } finally {
                ReadPathIT.stopForeground(off, mp);
            }
            assertEquals(-1, pushedCount(tmp.resolve("mount-snap.log")), "with pushAhead=0 the mount has no push thread");
        }
    }

    /**
     * A reader that lists each directory only when it gets there (grep -r): the files of the next
     * directories are unknown to the kernel when a window first goes over them; the reader's READ
     * of one schedules a window from there, which stores them then (before, 4 of these 400 files
     * were stored ahead).
     */
    @Test
    void aReaderThatListsEachDirectoryWhenItGetsThereIsPushedAheadToo(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        Path src = Files.createDirectories(tmp.resolve("src"));
        Random rnd = new Random(3);
        for (int d = 0; d < 20; d++) {
            Path dir = Files.createDirectories(src.resolve(String.format("d%02d", d)));
            for (int f = 0; f < 20; f++) {
                byte[] b = new byte[1 + rnd.nextInt(3000)];
                rnd.nextBytes(b);
                Files.write(dir.resolve(String.format("f%02d", f)), b);
            }
        }
        try (Cowfs cowfs = new Cowfs(tmp)) {
            cowfs.run("import", src.toString(), "--name", "g").ok();
            Path mp = Files.createDirectory(tmp.resolve("mp"));
            Process mount = ReadPathIT.foregroundMount(cowfs, "g", mp);
            try {
                ReadPathIT.waitMounted(mount, mp);
                String counts = Cowfs.sh(mp, "grep -r -c -a zzqq . | sort");
                assertEquals(400, counts.lines().filter(l -> l.endsWith(":0")).count(), counts);
                Cowfs.sh(mp, "diff -r " + src + " .");
            } finally {
                ReadPathIT.stopForeground(mount, mp);
            }
            long pushed = pushedCount(tmp.resolve("mount-g.log"));
            assertTrue(pushed >= 100, "a good part of the 400 files was stored ahead of grep -r (4 before windows were scheduled from misses): " + pushed);
        }
    }

    private static boolean becomesResidentWithin(Path f, int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            if (resident(f) > 0) {
                return true;
            }
            Thread.sleep(50);
        }
        return false;
    }
}
