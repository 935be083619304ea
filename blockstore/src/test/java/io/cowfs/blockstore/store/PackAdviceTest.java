package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which read-ahead runs Packs advises (fadvise WILLNEED): all of them on a device that reads
 * ahead little, and only those that do not continue a stream through a pack where the kernel's
 * own read-ahead is left to do it (docs/PERFORMANCE.md, 2026-12-03). Real packs, real records.
 */
class PackAdviceTest {
    @TempDir
    Path tmp;

    private final List<byte[]> blocks = new ArrayList<>();

    /**
     * n incompressible 64 KiB records appended in order to one pack (a file as import stores
     * it), each 64 KiB and a header after the last.
     */
    private List<ChunkLocation> append(Packs packs, int n) {
        List<ChunkLocation> locs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] b = new byte[64 << 10];
            new java.util.Random(blocks.size()).nextBytes(b);
            blocks.add(b);
            locs.add(packs.append(ChunkId.hash(b), b, 0, b.length));
        }
        return locs;
    }

    @Test
    void runsThatContinueAStreamAreLeftToTheKernel() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("packs"));
        try (Packs packs = new Packs(dir, 64L << 20, StoreAccess.PRIVATE, 0)) {
            List<ChunkLocation> locs = append(packs, 12);
            List<ChunkLocation> filler = append(packs, 150); // 9.4 MiB
            List<ChunkLocation> far = append(packs, 2);
            packs.sync();
            packs.willNeed(locs.subList(0, 4)); // a reader's first run: advised
            assertEquals(1, packs.advisedRuns());
            packs.willNeed(locs.subList(4, 8)); // the next ones: the stream goes on, the kernel reads it
            packs.willNeed(locs.subList(8, 10));
            assertEquals(1, packs.advisedRuns());
            packs.willNeed(locs.subList(2, 4)); // a batch behind the stream's end (read-ahead threads out of order)
            assertEquals(1, packs.advisedRuns());
            packs.willNeed(List.of(far.get(1), locs.get(10), far.get(0))); // sorted: one run goes on, one is 9 MiB ahead
            assertEquals(2, packs.advisedRuns(), "the run 9 MiB ahead starts a stream of its own");
            packs.willNeed(locs.subList(11, 12)); // the first stream is still followed beside the second
            assertEquals(2, packs.advisedRuns());
            // 1.2 MiB past the first stream and 8.3 MiB before the second: a third
            packs.willNeed(filler.subList(19, 20));
            assertEquals(3, packs.advisedRuns());
            packs.willNeed(filler.subList(20, 24));
            assertEquals(3, packs.advisedRuns());
            // what was advised or left reads back whole
            for (int i : new int[] {1, 5, 11}) {
                assertArrayEquals(blocks.get(i), packs.read(ChunkId.hash(blocks.get(i)), locs.get(i)));
            }
        }
    }

    @Test
    void everyRunIsAdvisedWhereTheDeviceReadsAheadLittle() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("packs"));
        // a threshold no device reaches (as on a disk with the usual 128 KiB read-ahead)
        try (Packs packs = new Packs(dir, 64L << 20, StoreAccess.PRIVATE, Long.MAX_VALUE - 1)) {
            List<ChunkLocation> locs = append(packs, 12);
            packs.sync();
            packs.willNeed(locs.subList(0, 4));
            packs.willNeed(locs.subList(4, 8));
            packs.willNeed(locs.subList(8, 12));
            assertEquals(3, packs.advisedRuns());
        }
    }

    @Test
    void theDevicesReadAheadIsReadFromSysfs() throws Exception {
        // the directory's device as stat(1) names it, and sysfs's read_ahead_kb for it (or its disk's, for a partition)
        Process p = new ProcessBuilder("stat", "-c", "%Hd:%Ld", tmp.toString()).redirectErrorStream(true).start();
        String dev = new String(p.getInputStream().readAllBytes()).strip();
        assertEquals(0, p.waitFor(), dev);
        Path q = Path.of("/sys/dev/block", dev, "queue/read_ahead_kb");
        Path parent = Path.of("/sys/dev/block/" + dev + "/../queue/read_ahead_kb");
        long expected = Files.isReadable(q) ? Long.parseLong(Files.readString(q).strip())
                : Files.isReadable(parent) ? Long.parseLong(Files.readString(parent).strip()) : -1;
        assertEquals(expected, DeviceReadAhead.kb(tmp));
        assertEquals(-1, DeviceReadAhead.kb(tmp.resolve("no-such-dir")), "a path that cannot be stat'ed is unknown");
        assertEquals(-1, DeviceReadAhead.kb(Path.of("/proc/self")), "no block device behind procfs");
    }
}
