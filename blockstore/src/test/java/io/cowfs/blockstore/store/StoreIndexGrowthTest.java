package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.Config;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LMDB's map grows on its own. The store is made with a 1 MiB initial map (injected through
 * {@link Config}: no child JVM, no system property), filled past it in batches and in one
 * transaction bigger than the map it starts in, reopened, and every chunk read back.
 */
class StoreIndexGrowthTest {
    static final long INITIAL = 1 << 20;
    static final int BATCHED = 12_000; // in commits of 500
    static final int ONE_COMMIT = 12_000; // one transaction bigger than the map it starts in

    @TempDir
    Path tmp;

    static byte[] chunk(int i) {
        return ByteBuffer.allocate(12).putInt(i).putLong(i * 0x9E3779B97F4A7C15L).array();
    }

    @Test
    void theMapGrowsPastATinyInitialSize() throws Exception {
        Path dir = tmp.resolve("store");
        Config tiny = Config.of(Map.of("cowfs.lmdb.initialMapSize", Long.toString(INITIAL)));
        try (Store s = Store.init(dir, Store.DEFAULT_BLOCK_SIZE, tiny)) {
            assertEquals(INITIAL, s.index().mapSize());
            for (int i = 0; i < BATCHED; i++) {
                s.put(chunk(i));
                if (i % 500 == 499) {
                    s.commit(txn -> null);
                }
            }
            s.commit(txn -> null);
            for (int i = BATCHED; i < BATCHED + ONE_COMMIT; i++) {
                s.put(chunk(i));
            }
            s.commit(txn -> null);
            assertTrue(s.index().mapSize() >= 4 * INITIAL, "grown map " + s.index().mapSize());
            assertEquals(BATCHED + ONE_COMMIT, StoreStats.of(s).chunks(), "no chunk lost while growing");
        }
        assertTrue(Files.size(dir.resolve("index/data.mdb")) > INITIAL, "the data outgrew the initial map");
        try (Store s = Store.open(dir, tiny)) { // a reopen maps at least the file's size
            for (int i = 0; i < BATCHED + ONE_COMMIT; i++) {
                assertArrayEquals(chunk(i), s.get(ChunkId.hash(chunk(i))), "chunk " + i);
            }
            s.put(chunk(-1));
            s.commit(txn -> null);
        }
        try (Store s = Store.open(dir)) {
            assertEquals(BATCHED + ONE_COMMIT + 1, StoreStats.of(s).chunks(), "and one put after the reopen");
        }
    }
}
