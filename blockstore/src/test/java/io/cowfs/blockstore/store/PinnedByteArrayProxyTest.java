package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LMDB puts and gets under constant GC pressure, in a child JVM (a use-after-free would kill it
 * with SIGSEGV, as lmdbjava's own ByteArrayProxy does within seconds in this same loop).
 */
class PinnedByteArrayProxyTest {
    @TempDir
    Path tmp;

    /** The child: a few seconds of verified puts while another thread forces collections. */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            try (StoreIndex index = new StoreIndex(Path.of(args[0]))) {
                Thread gc = new Thread(() -> {
                    while (true) {
                        System.gc();
                        byte[] junk = new byte[1 << 20];
                        junk[0] = 1;
                    }
                });
                gc.setDaemon(true);
                gc.start();
                Random r = new Random(1);
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
                long n = 0;
                while (System.nanoTime() < end) {
                    n += index.write(txn -> {
                        for (int i = 0; i < 200; i++) {
                            byte[] k = new byte[32];
                            r.nextBytes(k);
                            byte[] v = new byte[200];
                            r.nextBytes(v);
                            index.chunks.put(txn, k, v);
                            if (!Arrays.equals(index.chunks.get(txn, k), v)) {
                                throw new AssertionError("value read back differs");
                            }
                        }
                        return 200;
                    });
                }
                System.out.println("ok " + n);
            }
        }
    }

    @Test
    void putsSurviveGarbageCollectionDuringNativeCalls() throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "-XX:+UseSerialGC", "-Xmx64m",
                "-cp", System.getProperty("java.class.path"), Child.class.getName(), tmp.resolve("idx").toString(), "4")
                .redirectErrorStream(true).redirectOutput(tmp.resolve("out.txt").toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child did not finish");
        String out = Files.readString(tmp.resolve("out.txt"));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.startsWith("ok "), out);
    }
}
