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

    /** Whether this process (and so a mount process it starts) may read /proc/PID/map_files. */
    private static boolean mapFilesReadable() {
        try (var entries = Files.list(Path.of("/proc/self/map_files"))) {
            Path first = entries.findFirst().orElse(null);
            return first != null && Files.readSymbolicLink(first) != null;
        } catch (java.io.IOException | RuntimeException e) {
            return false;
        }
    }

    /** Mounts view on mp in a fresh mount process started with these JVM options (and mount options). */
    private static void mount(Cowfs c, String view, Path mp, String javaOpts, String... opts) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("mount", "--store=" + c.store, view, mp.toString()));
        args.addAll(List.of(opts));
        Cowfs.Result r = Fx.javaMain(Map.of("COWFS_MOUNT_JAVA_OPTS", javaOpts), List.of(), args.toArray(new String[0]));
        assertEquals(0, r.rc(), () -> r.out() + r.err());
    }

    /** Pages of snapshot s's file "mapped" whose last 8 bytes (little-endian) are not want's number for it. */
    private static int pagesNotAsMapped(Cowfs c, long[] want) throws Exception {
        try (Cowfs.Mounted s = c.mount("s"); FileChannel f = FileChannel.open(s.dir.resolve("mapped"), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            int missing = 0;
            for (int p = 0; p < want.length; p++) {
                b.clear();
                long got = f.read(b, (long) p * 4096 + 4088) == 8 ? b.getLong(0) : -1;
                missing += got == want[p] ? 0 : 1;
            }
            return missing;
        }
    }

    private static Cowfs fixture(Path tmp) throws Exception {
        Cowfs c = new Cowfs(tmp);
        Files.createDirectories(tmp.resolve("src"));
        Files.writeString(tmp.resolve("src/old"), "old\n");
        c.run("import", tmp.resolve("src").toString(), "--name", "base").ok();
        c.run("fork", "base", "--name", "v").ok();
        return c;
    }

    /**
     * The WRITE of a page the file's writer still holds open: the worker that reads it waits 4 s
     * before counting it. The mount's flush of files open for writing (whose close would wait for
     * that WRITE itself) is turned off here, so that the drain's own wait is what is tested.
     */
    @Test
    void aSnapshotWaitsForAWriteAWorkerHasTakenButNotCounted() throws Exception {
        Cowfs.assumeFuse();
        byte[] page = page();
        try (Cowfs c = fixture(tmp)) {
            Path mp = Files.createDirectories(tmp.resolve("mp"));
            mount(c, "v", mp, "-Dcowfs.test.pauseUncountedWritesMs=4000 -Dcowfs.test.skipOpenWriters=true");
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

    /**
     * More WRITEs queued than the kernel lets out at once (max_background, 64): pages apart from
     * each other, written to a file held open while the first two WRITEs are held 3 s by the
     * workers that read them, so the rest wait in the kernel's queues (and the writer is soon
     * throttled: the snapshot is taken once it stops getting on, and must hold every page whose
     * write had returned). A marker that went ahead of the background queue (a foreground request)
     * would let the snapshot miss them; the drain's is a background request behind them. The flush
     * of open files is off, so the drain alone is tested.
     */
    @Test
    void aSnapshotWaitsForWritesStillInTheKernelsQueues() throws Exception {
        Cowfs.assumeFuse();
        int pages = 2000;
        try (Cowfs c = fixture(tmp)) {
            Path mp = Files.createDirectories(tmp.resolve("mp"));
            mount(c, "v", mp, "-Dcowfs.test.pauseUncountedWritesMs=3000 -Dcowfs.test.pauseUncountedWrites=2 -Dcowfs.test.skipOpenWriters=true");
            java.util.concurrent.atomic.AtomicInteger returned = new java.util.concurrent.atomic.AtomicInteger();
            int before;
            try (FileChannel f = FileChannel.open(mp.resolve("queued"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                Thread writer = new Thread(() -> {
                    ByteBuffer page = ByteBuffer.allocate(4096).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                    try {
                        for (int p = 1; p <= pages; p++) {
                            page.clear();
                            while (page.hasRemaining()) {
                                page.putLong(p);
                            }
                            page.flip();
                            f.write(page, (long) p * 2 * 4096); // a page apart: one WRITE each
                            returned.set(p);
                        }
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }, "queued-writer");
                writer.start();
                long until = System.nanoTime() + 60_000_000_000L;
                while (returned.get() <= 64 && System.nanoTime() < until) { // more than the kernel lets out at once
                    Thread.sleep(10);
                }
                int last = -1;
                while (returned.get() < pages && returned.get() != last) { // then until it is throttled, or done
                    last = returned.get();
                    Thread.sleep(300);
                }
                before = returned.get();
                c.run("snapshot", "v", "--name", "s").ok();
                writer.join(120_000);
            } finally {
                Cowfs.unmountHard(mp);
            }
            assertTrue(before > 64, "more pages written than WRITEs let out at once: " + before);
            // not vacuous: the snapshot had WRITEs to wait for (the held ones, and the queue behind them)
            assertTrue(Files.readString(c.store.resolve("run/v.log")).contains("a snapshot waited"),
                    "the mount's log says the snapshot waited for queued writes");
            try (Cowfs.Mounted s = c.mount("s"); FileChannel f = FileChannel.open(s.dir.resolve("queued"), StandardOpenOption.READ)) {
                ByteBuffer b = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                int missing = 0;
                for (int p = 1; p <= before; p++) {
                    b.clear();
                    missing += f.read(b, (long) p * 2 * 4096) == 8 && b.getLong(0) == p ? 0 : 1;
                }
                assertEquals(0, missing, "pages of " + before + " written before the snapshot that it does not hold");
            }
        }
    }

    /** Pages of the writer's file below. */
    private static final int PAGES = 65536;

    /**
     * Snapshots taken while a writer rewrites random 4 KiB pages of a 256 MiB file without pause
     * (each page stamped with the number of its write) hold, for every page, a write at least as
     * new as the last one that had returned before the snapshot began. Such a writer keeps more
     * than max_background WRITEs queued in the kernel: the build before the drain's marker became a
     * background request (640251b) lost 408-2,819 returned pages in the first snapshot of each of
     * three runs of this workload (docs/DESIGN-DECISIONS.md §10).
     */
    @Test
    void snapshotsTakenUnderARandomWriterHoldEveryPageWhoseWriteReturned() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = fixture(tmp)) {
            Path mp = Files.createDirectories(tmp.resolve("mp"));
            mount(c, "v", mp, "");
            long[] before = new long[3];
            try {
                java.util.concurrent.atomic.AtomicLong returned = new java.util.concurrent.atomic.AtomicLong();
                java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
                java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
                Thread writer = new Thread(() -> {
                    try (FileChannel f = FileChannel.open(mp.resolve("pages"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                        java.util.Random r = new java.util.Random(7);
                        ByteBuffer page = ByteBuffer.allocate(4096).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                        for (long i = 1; !stop.get(); i++) {
                            page.clear();
                            while (page.hasRemaining()) {
                                page.putLong(i);
                            }
                            page.flip();
                            f.write(page, (long) r.nextInt(PAGES) * 4096);
                            returned.set(i);
                        }
                    } catch (Throwable t) {
                        failure.set(t);
                    }
                }, "page-writer");
                writer.start();
                try {
                    for (int round = 0; round < before.length; round++) {
                        Thread.sleep(round == 0 ? 1500 : 500);
                        before[round] = returned.get();
                        c.run("snapshot", "v", "--name", "busy-" + round).ok();
                    }
                } finally {
                    stop.set(true);
                    writer.join(60_000);
                }
                if (failure.get() != null) {
                    throw new AssertionError("writer failed", failure.get());
                }
            } finally {
                Cowfs.unmountHard(mp);
            }
            assertTrue(before[0] > 1000, "the writer wrote before the first snapshot: " + before[0]);
            for (int round = 0; round < before.length; round++) {
                long last = before[round];
                long[] want = new long[PAGES]; // the newest write of each page that returned before the snapshot
                java.util.Random r = new java.util.Random(7);
                for (long i = 1; i <= last; i++) {
                    want[r.nextInt(PAGES)] = i;
                }
                try (Cowfs.Mounted s = c.mount("busy-" + round);
                     FileChannel f = FileChannel.open(s.dir.resolve("pages"), StandardOpenOption.READ)) {
                    ByteBuffer b = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                    int missing = 0;
                    int first = -1;
                    for (int p = 0; p < PAGES; p++) {
                        if (want[p] == 0) {
                            continue;
                        }
                        b.clear();
                        long got = f.read(b, (long) p * 4096) == 8 ? b.getLong(0) : 0;
                        if (got < want[p]) {
                            missing++;
                            first = first < 0 ? p : first;
                        }
                    }
                    final int page0 = first;
                    assertEquals(0, missing, () -> "snapshot " + s.dir + " misses returned writes, first at page " + page0);
                }
            }
            c.run("fsck").ok();
        }
    }

    /**
     * 20,000 pages stored at random through a shared writable mapping of a 256 MiB file, not
     * msync'ed, whose descriptor is already closed: only the process's maps tell the mount about
     * the file, and syncfs alone leaves thousands of such pages in the kernel (OpenWriters). Both
     * adapters: the libfuse 2 one has no writeback cache, but mapped pages wait in the kernel too.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"kernel", "libfuse2"})
    void aSnapshotHoldsWhatAProcessStoredThroughASharedMappingItHasNotSynced(String api) throws Exception {
        Cowfs.assumeFuse();
        // a mapping whose descriptor is closed is reached through /proc/PID/map_files: CAP_SYS_ADMIN
        // (the mount process runs as this one does)
        org.junit.jupiter.api.Assumptions.assumeTrue(mapFilesReadable(), "this process may not read /proc/self/map_files");
        try (Cowfs c = fixture(tmp)) {
            Path mp = Files.createDirectories(tmp.resolve("mp"));
            mount(c, "v", mp, "", "--fuse-api=" + api);
            long[] want = new long[PAGES];
            try {
                java.nio.MappedByteBuffer map;
                try (FileChannel f = FileChannel.open(mp.resolve("mapped"), StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                        StandardOpenOption.WRITE)) {
                    f.write(ByteBuffer.wrap(new byte[1]), (long) PAGES * 4096 - 1);
                    map = f.map(FileChannel.MapMode.READ_WRITE, 0, (long) PAGES * 4096);
                } // closed: the mapping stays
                map.order(java.nio.ByteOrder.LITTLE_ENDIAN);
                java.util.Random r = new java.util.Random(11);
                for (long i = 1; i <= 20_000; i++) {
                    int p = r.nextInt(PAGES);
                    for (int at = 0; at < 4096; at += 8) {
                        map.putLong(p * 4096 + at, i);
                    }
                    want[p] = i;
                }
                c.run("snapshot", "v", "--name", "s").ok();
                map.force();
            } finally {
                Cowfs.unmountHard(mp);
            }
            assertEquals(0, pagesNotAsMapped(c, want), "pages of the snapshot that are not what the mapping held");
        }
    }

    /**
     * 20,000 pages stored at random through a shared writable mapping, then the descriptor closed
     * and the mapping unmapped, never msync'ed, and the snapshot taken at once: no process holds
     * the file any more, so the mount's flush of open files cannot find it. The kernel writes such
     * a file's pages back and waits for them when its last reference goes (fuse_release with the
     * writeback cache, fuse_vma_close without it), before munmap returns; the drain then waits for
     * those WRITEs. Both adapters.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"kernel", "libfuse2"})
    void aSnapshotHoldsWhatAMappingStoredBeforeItWasUnmappedAndClosed(String api) throws Exception {
        Cowfs.assumeFuse();
        org.junit.jupiter.api.Assumptions.assumeTrue(Cowfs.shRc(tmp, "command -v python3").rc() == 0, "needs python3");
        try (Cowfs c = fixture(tmp)) {
            Path mp = Files.createDirectories(tmp.resolve("mp"));
            mount(c, "v", mp, "", "--fuse-api=" + api);
            String want;
            try {
                Path script = Files.writeString(tmp.resolve("unmapped.py"), String.join("\n", List.of(
                        "import mmap, os, random, struct, sys",
                        "n = " + PAGES,
                        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)",
                        "os.ftruncate(fd, n * 4096)",
                        "m = mmap.mmap(fd, n * 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)",
                        "os.close(fd)",
                        "r = random.Random(13)",
                        "want = [0] * n",
                        "for i in range(1, 20001):",
                        "    p = r.randrange(n)",
                        "    m[p * 4096:(p + 1) * 4096] = struct.pack('<Q', i) * 512",
                        "    want[p] = i",
                        "m.close()  # munmap, no msync",
                        "print(' '.join(map(str, want)))", "")));
                want = Cowfs.sh(tmp, "python3 " + script + " " + mp.resolve("mapped")).trim();
                c.run("snapshot", "v", "--name", "s").ok();
            } finally {
                Cowfs.unmountHard(mp);
            }
            long[] expect = Arrays.stream(want.split(" ")).mapToLong(Long::parseLong).toArray();
            assertEquals(PAGES, expect.length, want.length() > 200 ? want.substring(0, 200) : want);
            assertEquals(0, pagesNotAsMapped(c, expect), "pages of the snapshot that are not what the mapping held when it was unmapped");
        }
    }

    /** skipOpenWriters: false, the flush of the open file is what times out; true, the drain's own wait. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void aSnapshotWhoseWritesDoNotArriveInTimeFailsAndTakesNothing(boolean skipOpenWriters) throws Exception {
        Cowfs.assumeFuse();
        byte[] page = page();
        try (Cowfs c = fixture(tmp)) {
            Path mp = Files.createDirectories(tmp.resolve("mp"));
            mount(c, "v", mp, "-Dcowfs.test.pauseUncountedWritesMs=8000 -Dcowfs.test.pauseUncountedWrites=1 -Dcowfs.drainSeconds=1"
                    + " -Dcowfs.test.skipOpenWriters=" + skipOpenWriters);
            try {
                try (FileChannel f = FileChannel.open(mp.resolve("late"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    f.write(ByteBuffer.wrap(page));
                    Cowfs.Result r = c.run("snapshot", "v", "--name", "s");
                    assertTrue(r.rc() != 0, "a snapshot that would miss a returned write fails: " + r);
                    assertTrue(r.err().contains("still receiving writes") && r.err().contains("nothing was taken"), r.err());
                    assertTrue(r.err().contains(skipOpenWriters ? "writes the kernel had" : "files open for writing were still being written back"),
                            "the timeout of the part under test: " + r.err());
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
