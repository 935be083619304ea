package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * StoreIndex.read sees every commit made before the read began, whichever thread reads, and a
 * read whose work fails does not poison the next (kept from a pool of reused read transactions,
 * removed for want of a measurable gain; any such change must pass it).
 */
class StoreIndexReadTest {
    @TempDir
    Path tmp;

    static byte[] chunk(int i) {
        return ("chunk " + i).getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aReusedReadTransactionSeesEveryEarlierCommitOnAnyThread() throws Exception {
        ExecutorService other = Executors.newFixedThreadPool(3);
        try (Store s = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE)) {
            for (int i = 0; i < 200; i++) {
                ChunkId id = ChunkId.hash(chunk(i));
                assertNull(s.index().read(txn -> s.index().chunks.location(txn, id)), "not committed yet: " + i);
                s.put(chunk(i));
                s.commit(txn -> null);
                // on this thread and on others, each read after the commit finds it
                assertNotNull(s.index().read(txn -> s.index().chunks.location(txn, id)), "chunk " + i);
                assertNotNull(other.submit(() -> s.index().read(txn -> s.index().chunks.location(txn, id))).get(), "chunk " + i);
                if (i % 50 == 0) { // a read whose work throws: its transaction is dropped, the next works
                    RuntimeException boom = new IllegalStateException("boom");
                    try {
                        s.index().read(txn -> {
                            throw boom;
                        });
                    } catch (IllegalStateException e) {
                        assertEquals(boom, e);
                    }
                }
            }
            for (int i = 0; i < 200; i++) {
                assertNotNull(s.get(ChunkId.hash(chunk(i))));
            }
        } finally {
            other.shutdownNow();
        }
    }
}
