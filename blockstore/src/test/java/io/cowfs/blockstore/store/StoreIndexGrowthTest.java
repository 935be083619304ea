package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LMDB's map grows on its own. StoreIndex reads its initial map size once per JVM (a static
 * final), and other tests of this JVM load it first, so the store is grown in a child JVM started
 * with a 1 MiB initial map; this JVM then reopens the grown store and reads every chunk back.
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
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "-Dcowfs.lmdb.initialMapSize=" + INITIAL,
                "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
                "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), Child.class.getName(), dir.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("initial map " + INITIAL), out);
        long grown = Long.parseLong(out.replaceAll("(?s).*grown map (\\d+).*", "$1"));
        assertTrue(grown >= 4 * INITIAL, out);
        assertTrue(Files.size(dir.resolve("index/data.mdb")) > INITIAL, "the data outgrew the initial map");

        try (Store s = Store.open(dir)) {
            assertEquals(BATCHED + ONE_COMMIT + 1, StoreStats.of(s).chunks(), "and one put after the reopen");
            for (int i = 0; i < BATCHED + ONE_COMMIT; i += 97) {
                assertArrayEquals(chunk(i), s.get(ChunkId.hash(chunk(i))), "chunk " + i);
            }
        }
    }

    /** Runs in the child JVM. */
    public static final class Child {
        public static void main(String[] args) {
            Path dir = Path.of(args[0]);
            System.out.println("initial map " + StoreIndex.INITIAL_MAP);
            try (Store s = Store.init(dir, Store.DEFAULT_BLOCK_SIZE)) {
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
                System.out.println("grown map " + s.index().mapSize());
                if (StoreStats.of(s).chunks() != BATCHED + ONE_COMMIT) {
                    throw new IllegalStateException("lost chunks: " + StoreStats.of(s).chunks());
                }
            }
            try (Store s = Store.open(dir)) { // a reopen maps at least the file's size
                for (int i = 0; i < BATCHED + ONE_COMMIT; i++) {
                    if (!java.util.Arrays.equals(chunk(i), s.get(ChunkId.hash(chunk(i))))) {
                        throw new IllegalStateException("chunk " + i + " reads wrong");
                    }
                }
                s.put(chunk(-1));
                s.commit(txn -> null);
            }
            System.out.println("ok");
        }
    }
}
