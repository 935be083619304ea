package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariant 4 with real kills: what an fsync or a close returned for survives {@code kill -9} of
 * the mount process; {@code cowfs umount} clears the dead mount and the view mounts again.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class DurabilityIT {
    @TempDir
    Path tmp;

    /** The writer: appends fsync'd records to one file, and writes and closes small files. */
    private static final class Writer extends Thread {
        final Path dir;
        final AtomicInteger synced = new AtomicInteger(-1);
        final AtomicInteger closed = new AtomicInteger(-1);
        final AtomicBoolean stop = new AtomicBoolean();
        final int start;
        final int closedStart;
        volatile Throwable ended;

        Writer(Path dir, int start, int closedStart) {
            super("durability-writer");
            this.dir = dir;
            this.start = start;
            this.closedStart = closedStart;
        }

        @Override
        public void run() {
            try (FileChannel log = FileChannel.open(dir.resolve("log"), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.APPEND)) {
                int c = closedStart;
                for (int i = start; !stop.get(); i++) {
                    log.write(ByteBuffer.wrap(record(i).getBytes()));
                    if (i % 3 == 0) {
                        log.force(i % 2 == 0); // fsync and fdatasync
                        synced.set(i);
                    }
                    if (i % 5 == 0) {
                        Files.writeString(dir.resolve("closed/" + c), "closed " + c);
                        closed.set(c++);
                    }
                }
            } catch (Throwable t) {
                ended = t; // expected once the mount is killed
            }
        }
    }

    static String record(int i) {
        return String.format("record %08d\n", i);
    }

    @Test
    void fsyncedAndClosedWritesSurviveKillDashNine() throws Exception {
        Cowfs.assumeFuse();
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        try (Cowfs c = new Cowfs(tmp)) {
            forkOf(c, "src");
            int records = 0; // records known to be in the log
            int files = 0; // closed files known to exist
            for (int round = 0; round < 6; round++) {
                String where = "round " + round + " (seed " + seed + ")";
                Cowfs.Mounted m = c.mount("v");
                try {
                    // everything acknowledged before the last kill is there
                    if (round == 0) {
                        Files.createDirectory(m.dir.resolve("closed"));
                    } else {
                        List<String> lines = Files.readAllLines(m.dir.resolve("log"));
                        assertTrue(lines.size() >= records, where + ": " + lines.size() + " records, acknowledged " + records);
                        for (int i = 0; i < lines.size(); i++) {
                            assertEquals(record(i).trim(), lines.get(i), where + ": record " + i);
                        }
                        for (int i = 0; i < files; i++) {
                            assertEquals("closed " + i, Files.readString(m.dir.resolve("closed/" + i)), where + ": file " + i);
                        }
                        records = lines.size();
                        // (a file created but not closed before the kill may be there too, empty
                        // or not: only acknowledged ones count, the writer overwrites the rest)
                        // a record cut by the kill is dropped, so the next one starts a line
                        Cowfs.sh(m.dir, "test ! -s log || test \"$(tail -c 1 log | od -An -c | tr -d ' ')\" = '\\n'");
                    }
                    Writer w = new Writer(m.dir, records, files);
                    w.start();
                    Thread.sleep(300 + rnd.nextInt(1200));
                    long pid = Fx.mountPid(c.store, m.dir);
                    Cowfs.sh(tmp, "kill -9 " + pid);
                    w.join(30_000);
                    assertFalse(w.isAlive(), where + ": the writer is stuck on the dead mount");
                    assertTrue(w.synced.get() >= 0 || w.closed.get() >= 0, where + ": nothing was written");
                    records = Math.max(records, w.synced.get() + 1);
                    files = Math.max(files, w.closed.get() + 1);
                    // the dead mount answers ENOTCONN until cowfs umount clears it
                    assertTrue(ProcessHandle.of(pid).map(h -> {
                        try {
                            h.onExit().get(10, TimeUnit.SECONDS);
                            return true;
                        } catch (Exception e) {
                            return false;
                        }
                    }).orElse(true), where + ": the mount process did not die");
                    assertTrue(Cowfs.shRc(tmp, "ls " + m.dir).out().contains("Transport endpoint is not connected"), where);
                    c.run("umount", m.dir.toString()).ok();
                    assertFalse(Cowfs.isMounted(m.dir), where);
                } finally {
                    m.close();
                }
            }
            Cowfs.Result v = c.run("verify");
            assertEquals(0, v.rc(), v.out() + v.err());
            assertTrue(records > 0 && files > 0, "records " + records + ", files " + files);
        }
    }

    /**
     * A create is committed with the file's close (or the next namespace change), not on its own:
     * files created and closed without a write (a lock file, O_CREAT|O_EXCL) survive {@code kill -9}
     * of the mount, and so does one created and closed after a file that is still open at the kill.
     * The open one may be gone or empty, never anything else, and the view mounts again, takes new
     * files and verifies clean.
     */
    @Test
    void filesCreatedAndClosedSurviveAKillBesideOneStillOpen() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            forkOf(c, "src");
            Cowfs.Mounted m = c.mount("v");
            try {
                try (FileChannel open = FileChannel.open(m.dir.resolve("open"), StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE)) {
                    Files.writeString(m.dir.resolve("written"), "closed");
                    // the last two: CREATE, then a FLUSH with nothing written, which must commit
                    Files.createFile(m.dir.resolve("lock"));
                    Files.createFile(m.dir.resolve("after"));
                    Fx.killMount(c.store, m.dir); // "open" is still open
                } catch (java.io.IOException e) {
                    // closing it after the kill fails: the mount is gone
                }
                c.run("umount", m.dir.toString()).ok();
            } finally {
                m.close();
            }
            try (Cowfs.Mounted again = c.mount("v")) {
                for (String closed : List.of("lock", "after")) {
                    assertTrue(Files.isRegularFile(again.dir.resolve(closed)), closed + " was closed before the kill");
                    assertEquals(0, Files.size(again.dir.resolve(closed)), closed);
                }
                assertEquals("closed", Files.readString(again.dir.resolve("written")));
                Path open = again.dir.resolve("open");
                assertTrue(!Files.exists(open) || Files.isRegularFile(open) && Files.size(open) == 0,
                        "a file still open at the kill is gone or empty");
                Files.writeString(again.dir.resolve("new"), "after the kill");
                assertEquals("after the kill", Files.readString(again.dir.resolve("new")));
            }
            c.run("fsck").ok();
            c.run("verify").ok();
            try (Cowfs.Mounted third = c.mount("v")) {
                assertEquals("after the kill", Files.readString(third.dir.resolve("new")));
                assertTrue(Files.isRegularFile(third.dir.resolve("lock")));
            }
        }
    }

    /**
     * Data written to a file that stays open (a log, a database with synchronous=OFF), neither
     * closed nor fsynced, survives a kill of the mount once it has waited two periods of
     * cowfs.persistAgedMillis (15 s; 300 ms here) after reaching the mount. Before, it waited in
     * memory for a close however old it was, and the kill lost it. The writer is a process of its
     * own that forks nothing: an exec closes close-on-exec descriptors, and that close would
     * FLUSH the file. syncfs makes the kernel send the pages its writeback cache holds (it would
     * after 30 s).
     */
    @Test
    void writesToAFileKeptOpenSurviveAKillOnceTheyHaveWaited() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            forkOf(c, "src");
            Path mp = Files.createDirectories(tmp.resolve("mp"));
            ProcessBuilder pb = new ProcessBuilder(Fx.javaCommand(List.of(), "mount", "--store=" + c.store, "v", mp.toString()))
                    .redirectErrorStream(true).redirectOutput(tmp.resolve("mount.out").toFile());
            pb.environment().put("COWFS_MOUNT_JAVA_OPTS", "-Dcowfs.persistAgedMillis=300"); // a fresh mount process
            Process p = pb.start();
            byte[] logged = new byte[300_000];
            new Random(5).nextBytes(logged);
            Path want = tmp.resolve("want");
            Files.write(want, logged);
            Process writer = null;
            try {
                assertTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, Files.readString(tmp.resolve("mount.out")));
                writer = new ProcessBuilder("python3", "-c", "import os, sys\n"
                        + "w = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)\n"
                        + "os.write(w, open(sys.argv[2], 'rb').read())\n"
                        + "print('written', flush=True)\n"
                        + "sys.stdin.readline()\n", mp.resolve("log").toString(), want.toString()).start();
                assertEquals("written", new java.io.BufferedReader(new java.io.InputStreamReader(writer.getInputStream())).readLine());
                Cowfs.sh(tmp, "sync -f " + mp);
                Thread.sleep(1500);
                Fx.killMount(c.store, mp); // the file is still open
                writer.destroyForcibly().waitFor();
                c.run("umount", mp.toString()).ok();
            } finally {
                if (writer != null) {
                    writer.destroyForcibly();
                }
                Cowfs.unmountHard(mp);
            }
            try (Cowfs.Mounted again = c.mount("v")) {
                Path log = again.dir.resolve("log");
                assertTrue(Files.exists(log), "the file written and kept open is there after the kill");
                assertEquals(Fx.sha256(logged), Fx.sha256(Files.readAllBytes(log)), "with what was written");
            }
            c.run("fsck").ok();
            c.run("verify").ok();
        }
    }

    /**
     * A tree removed in a view and a file removed while a process held it open stay removed when
     * the mount is killed right after, and the removed file's data goes at the next mount. A file
     * is deleted when the kernel forgets its node, and since 2026-12-05 that deletion goes with
     * the next commit instead of one of its own (a second commit per file `rm -rf` removed): a
     * kill before it leaves an orphan (link count 0), which the next mount reclaims.
     */
    @Test
    void removalsRightBeforeAKillStayRemovedAndTheirSpaceIsReclaimed() throws Exception {
        Cowfs.assumeFuse();
        Cowfs.sh(tmp, "mkdir -p src/t/sub && echo base > src/base && for i in $(seq 1 300); do echo $i > src/t/f$i; done"
                + " && echo deep > src/t/sub/g");
        try (Cowfs c = new Cowfs(tmp)) {
            forkOf(c, "src");
            Cowfs.Mounted m = c.mount("v");
            try {
                Cowfs.sh(m.dir, "head -c 8388608 /dev/urandom > own && rm -rf t && python3 -c \"import os\n"
                        + "f = open('own', 'rb')\nos.unlink('own')\nassert len(f.read()) == 8388608\nf.close()\""
                        + " && test ! -e own && test ! -e t");
                Fx.killMount(c.store, m.dir); // well within the 15 s after which a deletion waiting is committed
                c.run("umount", m.dir.toString()).ok();
            } finally {
                m.close();
            }
            long killed = Fx.du(c).get("v").get("exclusiveBytes").asLong();
            try (Cowfs.Mounted again = c.mount("v")) {
                assertEquals("base", Cowfs.sh(again.dir, "ls -A").strip(), "what was removed before the kill stays removed");
            }
            long reclaimed = Fx.du(c).get("v").get("exclusiveBytes").asLong();
            System.out.println("view's exclusive bytes after the kill " + killed + ", after the next mount " + reclaimed);
            assertTrue(killed >= 8 << 20, "the kill came before the deletion's commit: the orphan's data is the view's still");
            assertTrue(reclaimed < 1 << 20, "the removed file's 8 MiB are still the view's after the next mount: " + reclaimed);
            c.run("fsck").ok();
            c.run("gc").ok();
            c.run("verify").ok();
        }
    }

    /**
     * tar sets each file's times, owner and mode on the open file before closing it; in a view
     * they are committed with the file at its close. Extracted into a view and the mount killed
     * as soon as tar exits, every file is there with its bytes, mode, owner and mtime, as tar
     * extracts them on the host.
     */
    @Test
    void aTarExtractionSurvivesAKillRightAfterTarExits() throws Exception {
        Cowfs.assumeFuse();
        Cowfs.sh(tmp, "mkdir -p src/t/sub && echo base > src/base"
                + " && for i in $(seq 1 60); do head -c $((i * 997)) /dev/urandom > src/t/f$i; done"
                + " && chmod 0751 src/t/f1 && chmod 0600 src/t/f2 && chmod 4755 src/t/f3 && chown 1234:2345 src/t/f4"
                + " && touch -d '2001-02-03 04:05:06.789' src/t/f5 src/t/sub && echo x > src/t/sub/g"
                + " && touch -d '2002-01-01' src/t/sub/g && tar -C src -cf t.tar t && rm -rf src/t"
                + " && mkdir host && tar -C host -xpf t.tar");
        // a directory's size is the filesystem's own (XFS: its entries' bytes; views and ext4: 4096)
        String listing = "cd %s && find t \\( -type d -printf '%%p %%y %%m %%U %%G - %%T@\n' \\) -o -printf '%%p %%y %%m %%U %%G %%s %%T@\n'"
                + " | sort && find t -type f -exec md5sum {} + | sort";
        try (Cowfs c = new Cowfs(tmp)) {
            forkOf(c, "src");
            Cowfs.Mounted m = c.mount("v");
            try {
                Cowfs.sh(m.dir, "tar -xpf " + tmp.resolve("t.tar"));
                Fx.killMount(c.store, m.dir);
                c.run("umount", m.dir.toString()).ok();
            } finally {
                m.close();
            }
            String host = Cowfs.sh(tmp, String.format(listing, tmp.resolve("host")));
            try (Cowfs.Mounted again = c.mount("v")) {
                assertEquals(host, Cowfs.sh(tmp, String.format(listing, again.dir)));
            }
            c.run("verify").ok();
        }
    }

    /**
     * A shrink inside a block, by path (truncate(2): no descriptor, so no close to store the cut
     * block at) and by ftruncate on a descriptor still open at the kill: after {@code kill -9}
     * the file has its new size, and grown again (by truncate, by a write past the end) it reads
     * zeros past the cut (before the fix the old bytes came back), and export writes the new size
     * (it wrote the whole old block).
     */
    @Test
    void aShrinkInsideABlockSurvivesAKillWithoutItsOldBytes() throws Exception {
        Cowfs.assumeFuse();
        byte[] xs = xs(100_000);
        try (Cowfs c = new Cowfs(tmp)) {
            forkOf(c, "src");
            Cowfs.Mounted m = c.mount("v");
            try {
                Files.write(m.dir.resolve("a"), java.util.Arrays.copyOf(xs, 8192)); // closed: stored
                Files.write(m.dir.resolve("b"), xs);
                Cowfs.sh(m.dir, "perl -e 'truncate(\"a\", 100) or die \"truncate: $!\"'");
                try (FileChannel b = FileChannel.open(m.dir.resolve("b"), StandardOpenOption.WRITE)) {
                    b.truncate(70_000); // 70,000 is inside a 64 KiB block
                    Fx.killMount(c.store, m.dir); // the descriptor is still open
                } catch (java.io.IOException e) {
                    // closing b after the kill fails: the mount is gone
                }
                c.run("umount", m.dir.toString()).ok();
            } finally {
                m.close();
            }
            Path out = tmp.resolve("export");
            c.run("export", "v", out.toString()).ok();
            assertEquals(100, Files.size(out.resolve("a")), "exported size");
            assertEquals(70_000, Files.size(out.resolve("b")), "exported size");
            try (Cowfs.Mounted again = c.mount("v")) {
                assertEquals(100, Files.size(again.dir.resolve("a")));
                assertEquals(70_000, Files.size(again.dir.resolve("b")));
                Cowfs.sh(again.dir, "truncate -s 8192 a && printf z | dd of=b bs=1 seek=99999 conv=notrunc status=none");
                byte[] a = Files.readAllBytes(again.dir.resolve("a"));
                byte[] b = Files.readAllBytes(again.dir.resolve("b"));
                byte[] wantA = new byte[8192];
                java.util.Arrays.fill(wantA, 0, 100, (byte) 'x');
                byte[] wantB = new byte[100_000];
                java.util.Arrays.fill(wantB, 0, 70_000, (byte) 'x');
                wantB[99_999] = 'z';
                assertEquals(-1, java.util.Arrays.mismatch(wantA, a), "a grown again: zeros past 100; the first byte that differs");
                assertEquals(-1, java.util.Arrays.mismatch(wantB, b), "b grown again: zeros past 70,000; the first byte that differs");
            }
            c.run("verify").ok();
        }
    }

    /**
     * A truncate by path that grows a file from a size inside a block is committed when it
     * returns, as every truncate is (docs/DURABILITY.md): after later changes and {@code kill -9}
     * the file has its new size and reads zeros past the old one. Before the fix the zeroed last
     * block waited in memory for a close that a truncate(2) never brings, and every later commit
     * recorded the file as last committed: the kill left the later changes without the grow
     * (found by a kill -9 fuzz of nsfuzz.py, seed 13). The second file is shrunk inside a block,
     * then grown, by path: the cut block of the shrink no longer waits either.
     */
    @Test
    void aGrowByPathSurvivesAKillBesideLaterChanges() throws Exception {
        Cowfs.assumeFuse();
        byte[] xs = xs(100_000);
        try (Cowfs c = new Cowfs(tmp)) {
            forkOf(c, "src");
            Cowfs.Mounted m = c.mount("v");
            try {
                Files.write(m.dir.resolve("a"), java.util.Arrays.copyOf(xs, 5000)); // closed: stored
                Files.write(m.dir.resolve("b"), xs);
                Cowfs.sh(m.dir, "perl -e 'truncate(\"a\", 100000) or die \"truncate: $!\"; "
                        + "truncate(\"b\", 70000) or die \"truncate: $!\"; truncate(\"b\", 90000) or die \"truncate: $!\"'");
                Files.createDirectory(m.dir.resolve("later")); // committed when mkdir returns
                Fx.killMount(c.store, m.dir);
                c.run("umount", m.dir.toString()).ok();
            } finally {
                m.close();
            }
            try (Cowfs.Mounted again = c.mount("v")) {
                assertTrue(Files.isDirectory(again.dir.resolve("later")), "the mkdir after the truncates");
                byte[] wantA = new byte[100_000];
                java.util.Arrays.fill(wantA, 0, 5000, (byte) 'x');
                byte[] wantB = new byte[90_000];
                java.util.Arrays.fill(wantB, 0, 70_000, (byte) 'x');
                assertEquals(100_000, Files.size(again.dir.resolve("a")), "a's size after the kill");
                assertEquals(90_000, Files.size(again.dir.resolve("b")), "b's size after the kill");
                assertEquals(-1, java.util.Arrays.mismatch(wantA, Files.readAllBytes(again.dir.resolve("a"))), "a: the first byte that differs");
                assertEquals(-1, java.util.Arrays.mismatch(wantB, Files.readAllBytes(again.dir.resolve("b"))), "b: the first byte that differs");
            }
            c.run("verify").ok();
        }
    }

    /**
     * A file cut below its committed size while data written to it waits, then written past the
     * cut, and the mount killed with the file still open: the file is as cut, never the old bytes
     * past the cut (before, its size was recorded with the later write's while the stored block
     * still held the bytes the cut had dropped: 70,050 bytes, the last 50 of them old 'x's). The
     * writer uses O_DIRECT so that its writes reach the mount without a close.
     */
    @Test
    void aCutThenAWritePastItSurviveAKillAsCutNeverWithOldBytes() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            forkOf(c, "src");
            Cowfs.Mounted m = c.mount("v");
            Process writer = null;
            try {
                Files.write(m.dir.resolve("a"), xs(200_000)); // closed: stored
                writer = new ProcessBuilder("python3", "-c", "import os, sys\n"
                        + "fd = os.open(sys.argv[1] + '/a', os.O_WRONLY | os.O_DIRECT)\n"
                        + "os.pwrite(fd, b'y' * 100, 200000)\n" // waits for the close
                        + "os.ftruncate(fd, 70000)\n" // committed when it returns
                        + "os.pwrite(fd, b'z' * 50, 70000)\n" // waits
                        + "os.mkdir(sys.argv[1] + '/later')\n" // commits, a's data still waiting
                        + "print('ready', flush=True)\n"
                        + "sys.stdin.readline()\n", m.dir.toString()).redirectErrorStream(true).start();
                assertEquals("ready", new java.io.BufferedReader(new java.io.InputStreamReader(writer.getInputStream())).readLine());
                Fx.killMount(c.store, m.dir); // a is still open
                writer.destroyForcibly().waitFor();
                c.run("umount", m.dir.toString()).ok();
            } finally {
                if (writer != null) {
                    writer.destroyForcibly();
                }
                m.close();
            }
            try (Cowfs.Mounted again = c.mount("v")) {
                assertTrue(Files.isDirectory(again.dir.resolve("later")), "the mkdir before the kill");
                byte[] a = Files.readAllBytes(again.dir.resolve("a"));
                assertEquals(70_000, a.length, "a's size after the kill: as cut");
                assertEquals(-1, java.util.Arrays.mismatch(xs(70_000), a), "a: the first byte that differs");
            }
            c.run("fsck").ok();
            c.run("verify").ok();
        }
    }

    /**
     * Snapshot "snap" of tmp/dir (made with one small file if absent) and view "v" of it.
     */
    private void forkOf(Cowfs c, String dir) throws Exception {
        if (!Files.exists(tmp.resolve(dir))) {
            Cowfs.sh(tmp, "mkdir -p " + dir + " && echo base > " + dir + "/base");
        }
        c.run("import", tmp.resolve(dir).toString(), "--name", "snap").ok();
        c.run("fork", "snap", "--name", "v").ok();
    }

    /** n bytes of 'x'. */
    private static byte[] xs(int n) {
        byte[] b = new byte[n];
        java.util.Arrays.fill(b, (byte) 'x');
        return b;
    }
}
