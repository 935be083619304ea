package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pack writer whose append or fsync failed takes no more calls (as restic's packer), and
 * Packs starts a new pack instead of appending to it. Failures are real: the writer's channel
 * is closed underneath it, so the next write or force fails in the JDK as an I/O error would.
 */
class PackWriterTest {
    @TempDir
    Path tmp;

    static byte[] block(int seed) {
        byte[] b = new byte[10_000];
        new java.util.Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void aFailedForceBreaksTheWriter() throws Exception {
        PackWriter w = new PackWriter(1, tmp.resolve(Packs.fileName(1)));
        byte[] raw = block(1);
        long at = w.append(ChunkId.hash(raw), raw, raw.length, PackRecord.CODEC_RAW);
        assertEquals(PackRecord.FILE_MAGIC.length, at);
        w.channel().close(); // the fsync below fails as a failing disk's would
        StoreException e = assertThrows(StoreException.class, w::force);
        assertTrue(e.getMessage().contains("cannot fsync pack"), e.getMessage());
        assertTrue(w.broken());
        // broken and says so, even for a call that would otherwise work
        StoreException again = assertThrows(StoreException.class, () -> w.append(ChunkId.hash(raw), raw, raw.length, PackRecord.CODEC_RAW));
        assertTrue(again.getMessage().contains("takes no more writes") && again.getMessage().contains("fsync failed"), again.getMessage());
        assertThrows(StoreException.class, w::force);
        w.close();
    }

    @Test
    void aFailedAppendBreaksTheWriter() throws Exception {
        PackWriter w = new PackWriter(2, tmp.resolve(Packs.fileName(2)));
        byte[] raw = block(2);
        w.channel().close();
        StoreException e = assertThrows(StoreException.class, () -> w.append(ChunkId.hash(raw), raw, raw.length, PackRecord.CODEC_RAW));
        assertTrue(e.getMessage().contains("cannot append"), e.getMessage());
        assertTrue(w.broken());
        StoreException again = assertThrows(StoreException.class, w::force);
        assertTrue(again.getMessage().contains("takes no more writes"), again.getMessage());
        w.close();
    }

    /** After a failed sync, Packs appends to a new pack; what the old one holds still reads. */
    @Test
    void packsStartANewPackAfterAFailedSync() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("packs"));
        try (Packs packs = new Packs(dir, 64L << 20)) {
            byte[] first = block(3);
            ChunkLocation a = packs.append(ChunkId.hash(first), first, 0, first.length);
            PackWriter broken = packs.writer();
            broken.channel().close();
            assertThrows(StoreException.class, packs::sync);
            byte[] second = block(4);
            ChunkLocation b = packs.append(ChunkId.hash(second), second, 0, second.length);
            assertNotEquals(a.pack(), b.pack(), "a writer whose fsync failed is not appended to again");
            assertTrue(packs.isLive(a.pack()), "still locked as retired: its records may not be committed yet");
            packs.sync();
            assertArrayEquals(first, packs.read(ChunkId.hash(first), a));
            assertArrayEquals(second, packs.read(ChunkId.hash(second), b));
            List<Long> found = new ArrayList<>();
            Packs.scan(packs.path(a.pack()), r -> found.add(r.offset()));
            assertEquals(List.of(a.offset()), found, "the old pack holds its one record");
        }
    }
}
