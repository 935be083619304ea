package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The VM-memory case through real mounts: forks of a snapshot holding a memory image, each
 * mapped MAP_SHARED by a process that writes 1 % of its pages; after msync the writes survive a
 * kill -9 of the mount, each fork holds only its own pages, and a MAP_PRIVATE mapping's writes
 * reach no file.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class VmImageIT {
    private static final int PAGE = 4096;
    private static final int SIZE = 24 << 20; // 16 MiB of data, then 8 MiB of zero pages (holes)

    @Test
    void sharedMappingWritesSurviveAKillAfterMsyncAndEachForkKeepsItsOwnPages(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        byte[] image = new byte[SIZE];
        new Random(1).nextBytes(image);
        java.util.Arrays.fill(image, 16 << 20, SIZE, (byte) 0);
        Path src = Files.createDirectories(tmp.resolve("src"));
        Files.write(src.resolve("mem.img"), image);
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "vm").ok();
            List<byte[]> expected = new ArrayList<>();
            for (int f = 0; f < 3; f++) {
                c.run("fork", "vm", "--name", "f" + f).ok();
                byte[] want = image.clone();
                long packsBefore = packBytes(c.store);
                long written = 0;
                Cowfs.Mounted m = c.mount("f" + f);
                try {
                    Path img = m.dir.resolve("mem.img");
                    try (FileChannel ch = FileChannel.open(img, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                        MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_WRITE, 0, SIZE);
                        Random r = new Random(100 + f);
                        for (int k = 0; k < SIZE / PAGE / 100; k++) { // 1 % of the pages, some in the holes
                            int page = r.nextInt(SIZE / PAGE);
                            byte[] b = new byte[PAGE];
                            r.nextBytes(b);
                            map.put(page * PAGE, b);
                            System.arraycopy(b, 0, want, page * PAGE, PAGE);
                            written += PAGE;
                        }
                        map.force(); // msync(MS_SYNC)
                        unmap(map);
                    }
                    Fx.killMount(c.store, m.dir); // nothing gets a chance to flush after this
                    c.run("umount", m.dir.toString()).ok();
                    assertFalse(Cowfs.isMounted(m.dir));
                } finally {
                    m.close();
                }
                expected.add(want);
                long grown = packBytes(c.store) - packsBefore;
                // sub-block deltas: a fork stores about the pages it changed, not whole 64 KiB blocks
                assertTrue(grown <= 2 * written, "fork f" + f + " grew the packs by " + grown + " bytes for " + written + " written");
            }
            // a private mapping: its writes stay in the process
            try (Cowfs.Mounted m = c.mount("f0")) {
                Path img = m.dir.resolve("mem.img");
                try (FileChannel ch = FileChannel.open(img, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    MappedByteBuffer map = ch.map(FileChannel.MapMode.PRIVATE, 0, SIZE);
                    for (int p = 0; p < SIZE; p += 64 * PAGE) {
                        map.put(p, (byte) 0x5A);
                    }
                    map.force();
                    unmap(map);
                }
                assertArrayEquals(expected.get(0), readAll(img), "MAP_PRIVATE writes reached the file");
            }
            for (int f = 0; f < 3; f++) {
                try (Cowfs.Mounted m = c.mount("f" + f)) {
                    assertArrayEquals(expected.get(f), readAll(m.dir.resolve("mem.img")), "fork f" + f);
                }
                c.run("snapshot", "f" + f, "--name", "s" + f).ok();
                Path out = tmp.resolve("export-" + f);
                c.run("export", "s" + f, out.toString()).ok();
                assertArrayEquals(expected.get(f), Files.readAllBytes(out.resolve("mem.img")), "snapshot of f" + f);
            }
            try (Cowfs.Mounted m = c.mount("vm")) {
                assertArrayEquals(image, readAll(m.dir.resolve("mem.img")), "the base snapshot is unchanged");
            }
            c.run("verify").ok();
            c.run("fsck").ok();
        }
    }

    /** munmap now (the process must not hold the mount busy until a GC). */
    private static void unmap(MappedByteBuffer map) throws Exception {
        java.lang.reflect.Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
        f.setAccessible(true);
        ((sun.misc.Unsafe) f.get(null)).invokeCleaner(map);
    }

    private static long packBytes(Path store) throws IOException {
        try (var s = Files.list(store.resolve("packs"))) {
            return s.mapToLong(p -> p.toFile().length()).sum();
        }
    }

    private static byte[] readAll(Path p) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate((int) ch.size());
            while (b.hasRemaining() && ch.read(b) >= 0) {
                // until full
            }
            return b.array();
        }
    }
}
