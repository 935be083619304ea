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
 * StoreIndex.read, which renews a reset read transaction kept per thread: it sees every commit
 * made before the read began, whichever thread reads; a read whose work fails does not poison
 * the next; a read inside a read gets a transaction of its own; and the index closes and opens
 * again after more threads than it keeps transactions for have read.
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

    @Test
    void aReadInsideAReadAndManyThreadsThenACloseLeaveTheIndexUsable() throws Exception {
        Path dir = tmp.resolve("store");
        ChunkId id = ChunkId.hash(chunk(1));
        try (Store s = Store.init(dir, Store.DEFAULT_BLOCK_SIZE)) {
            s.put(chunk(1));
            s.commit(txn -> null);
            for (int i = 0; i < 100; i++) {
                long[] ids = s.index().read(outer -> new long[] {outer.getId(),
                        s.index().read(inner -> {
                            assertNotNull(s.index().chunks.location(inner, id));
                            return inner.getId();
                        })});
                assertEquals(ids[0], ids[1], "one snapshot, two transactions");
            }
            for (int t = 0; t < 100; t++) { // threads that read once and end: more than are kept
                Thread th = new Thread(() -> assertNotNull(s.index().read(txn -> s.index().chunks.location(txn, id))));
                th.start();
                th.join();
            }
        }
        try (Store s = Store.open(dir)) {
            assertNotNull(s.get(id));
            assertNotNull(s.index().read(txn -> s.index().chunks.location(txn, id)));
        }
    }
}
