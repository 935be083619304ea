package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A snapshot of a mounted view holds every write(2) that returned before it began, also one whose
 * WRITE the kernel had already handed to a worker that had not yet counted it (fusefs
 * kernel.WriteDrain). The window between a worker's read of the device and its count is
 * microseconds; the mount process here widens it with the fault injection
 * {@code cowfs.test.pauseUncountedWritesMs} (a worker that reads a WRITE sleeps before counting it).
 * The file is held open while the snapshot runs: its close would make the kernel wait for the WRITE
 * itself (FLUSH). Real mount processes of their own, real writes through the kernel's page cache.
 */
class SnapshotDrainIT {
    @TempDir
    Path tmp;

    /** A page of a pattern no zeroed or missing page matches. */
    private static byte[] page() {
        byte[] b = new byte[4096];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) ('a' + i % 23);
        }
        return b;
    }

    /** Mounts view on mp in a fresh mount process started with these JVM options. */
    private static void mount(Cowfs c, String view, Path mp, String javaOpts) throws Exception {
        Cowfs.Result r = Fx.javaMain(Map.of("COWFS_MOUNT_JAVA_OPTS", javaOpts), List.of(),
                "mount", "--store=" + c.store, view, mp.toString());
        assertEquals(0, r.rc(), () -> r.out() + r.err());
    }

    private static Cowfs fixture(Path tmp) throws Exception {
        Cowfs c = new Cowfs(tmp);
        Files.createDirectories(tmp.resolve("src"));
        Files.writeString(tmp.resolve("src/old"), "old\n");
        c.run("import", tmp.resolve("src").toString(), "--name", "base").ok();
        c.run("fork", "base", "--name", "v").ok();
        return c;
    }

    @Test
    void aSnapshotWaitsForAWriteAWorkerHasTakenButNotCounted() throws Exception {
        Cowfs.assumeFuse();
        byte[] page = page();
        try (Cowfs c = fixture(tmp)) {
            Path mp = Files.createDirectories(tmp.resolve("mp"));
            mount(c, "v", mp, "-Dcowfs.test.pauseUncountedWritesMs=4000");
            try (FileChannel f = FileChannel.open(mp.resolve("late"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                assertEquals(page.length, f.write(ByteBuffer.wrap(page))); // returned: the page is the kernel's
                long t = System.nanoTime();
                c.run("snapshot", "v", "--name", "s").ok();
                // not a timing test: a snapshot that did not wait for the WRITE is caught below
                System.out.printf("snapshot took %.2f s%n", (System.nanoTime() - t) / 1e9);
            } finally {
                Cowfs.unmountHard(mp);
            }
            try (Cowfs.Mounted s = c.mount("s")) {
                assertArrayEquals(page, Files.readAllBytes(s.dir.resolve("late")), "the snapshot holds the write that returned before it");
                assertEquals("old\n", Files.readString(s.dir.resolve("old")));
            }
            c.run("fsck").ok();
        }
    }

    @Test
    void aSnapshotWhoseWritesDoNotArriveInTimeFailsAndTakesNothing() throws Exception {
        Cowfs.assumeFuse();
        byte[] page = page();
        try (Cowfs c = fixture(tmp)) {
            Path mp = Files.createDirectories(tmp.resolve("mp"));
            mount(c, "v", mp, "-Dcowfs.test.pauseUncountedWritesMs=8000 -Dcowfs.drainSeconds=1");
            try {
                try (FileChannel f = FileChannel.open(mp.resolve("late"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    f.write(ByteBuffer.wrap(page));
                    Cowfs.Result r = c.run("snapshot", "v", "--name", "s");
                    assertTrue(r.rc() != 0, "a snapshot that would miss a returned write fails: " + r);
                    assertTrue(r.err().contains("still receiving writes") && r.err().contains("nothing was taken"), r.err());
                    assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
                    assertFalse(Arrays.asList(c.run("list").ok().out().split("\\s+")).contains("s"), "no snapshot named s");
                } // the close waits for the kernel's WRITE (FLUSH): after it, the write is the view's
                c.run("snapshot", "v", "--name", "s").ok();
            } finally {
                Cowfs.unmountHard(mp);
            }
            try (Cowfs.Mounted s = c.mount("s")) {
                assertArrayEquals(page, Files.readAllBytes(s.dir.resolve("late")));
            }
            c.run("fsck").ok();
        }
    }
}
