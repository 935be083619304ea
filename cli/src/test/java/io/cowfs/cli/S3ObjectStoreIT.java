package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.remote.ObjectStore.ObjectInfo;
import io.cowfs.blockstore.remote.RemoteException;
import io.cowfs.blockstore.remote.RemoteUrl;
import io.cowfs.blockstore.remote.S3ObjectStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** S3ObjectStore against a real S3-compatible server (s3proxy on 127.0.0.1, one per test). */
class S3ObjectStoreIT {
    @TempDir
    Path tmp;

    private static S3ObjectStore open(S3Local s3, String url) {
        return S3ObjectStore.create(RemoteUrl.parse(url), s3.env());
    }

    @Test
    void putGetRangeHeadDelete() throws Exception {
        try (S3Local s3 = S3Local.start(tmp); S3ObjectStore st = open(s3, s3.url("pfx/sub"))) {
            byte[] big = Fx.random(1, 1 << 20);
            long before = st.requests();
            long t0 = System.currentTimeMillis();
            st.put("packs/ab/big.pack", big);
            st.put("empty", new byte[0]);
            assertTrue(st.requests() >= before + 2, "every request counts: " + st.requests());
            // the objects are under the prefix on the server
            assertTrue(Files.isRegularFile(s3.data().resolve("cowfs/pfx/sub/packs/ab/big.pack")));

            assertArrayEquals(big, st.get("packs/ab/big.pack"));
            assertArrayEquals(new byte[0], st.get("empty"));
            assertArrayEquals(Arrays.copyOfRange(big, 1000, 5096), st.getRange("packs/ab/big.pack", 1000, 4096));
            // a range past the end gives what there is; one starting at or after the end, nothing
            assertArrayEquals(Arrays.copyOfRange(big, big.length - 10, big.length), st.getRange("packs/ab/big.pack", big.length - 10, 4096));
            assertArrayEquals(new byte[0], st.getRange("packs/ab/big.pack", big.length, 10));
            assertArrayEquals(new byte[0], st.getRange("packs/ab/big.pack", big.length + 5000, 10));
            assertArrayEquals(new byte[0], st.getRange("packs/ab/big.pack", 0, 0));

            ObjectInfo h = st.head("packs/ab/big.pack");
            assertNotNull(h);
            assertEquals("packs/ab/big.pack", h.key());
            assertEquals(big.length, h.size());
            // second-granular on the server
            assertTrue(Math.abs(h.lastModifiedMillis() - t0) < 60_000, "modification time " + h.lastModifiedMillis() + " vs " + t0);
            assertNull(st.head("packs/none"));

            RemoteException.Missing missing = assertThrows(RemoteException.Missing.class, () -> st.get("packs/none"));
            assertEquals("packs/none", missing.key());
            assertThrows(RemoteException.Missing.class, () -> st.getRange("packs/none", 0, 10));

            assertEquals(List.of("empty", "packs/ab/big.pack"), st.list("").stream().map(ObjectInfo::key).toList());
            assertEquals(List.of("packs/ab/big.pack"), st.list("packs/").stream().map(ObjectInfo::key).toList());
            assertEquals(List.of(), st.list("nothing/"));

            st.put("empty", "replaced".getBytes());
            assertEquals("replaced", new String(st.get("empty")));
            st.delete("empty");
            assertNull(st.head("empty"));
            st.delete("empty"); // deleting a missing object is not an error

            // the same bucket without a prefix sees the full keys; the description names no secret
            try (S3ObjectStore whole = open(s3, s3.url(""))) {
                assertEquals(List.of("pfx/sub/packs/ab/big.pack"), whole.list("").stream().map(ObjectInfo::key).toList());
                assertTrue(whole.describe().contains("s3://cowfs") && whole.describe().contains(s3.endpoint().toString()), whole.describe());
                assertFalse(whole.describe().contains(s3.env().get("AWS_SECRET_ACCESS_KEY")));
            }
        }
    }

    @Test
    void concurrentPutsAndListPastOnePage() throws Exception {
        int n = 1003; // S3 lists at most 1000 keys per request
        try (S3Local s3 = S3Local.start(tmp); S3ObjectStore st = open(s3, s3.url("many"))) {
            // every 5th object through 8 threads at once; the others written straight into s3proxy's
            // filesystem backend (a bucket is a directory, an object a file), which lists them the same:
            // 1003 PUTs would take most of this test's time
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<?>> fs = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    int thread = t;
                    fs.add(pool.submit(() -> {
                        for (int i = 5 * thread; i < n; i += 5 * 8) {
                            st.put(String.format("k/%05d", i), ("object " + i).getBytes());
                        }
                    }));
                }
                Path dir = Files.createDirectories(s3.data().resolve("cowfs/many/k"));
                for (int i = 0; i < n; i++) {
                    if (i % 5 != 0) {
                        Files.writeString(dir.resolve(String.format("%05d", i)), "object " + i);
                    }
                }
                for (Future<?> f : fs) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
            long before = st.requests();
            List<ObjectInfo> all = st.list("k/");
            assertEquals(2, st.requests() - before, "two pages, two requests");
            assertEquals(n, all.size());
            for (int i = 0; i < n; i++) {
                assertEquals(String.format("k/%05d", i), all.get(i).key());
                assertEquals(("object " + i).length(), all.get(i).size());
            }
            assertEquals(3, st.list("k/0100").size()); // k/01000..k/01002
            assertEquals(10, st.list("k/0099").size());
            assertEquals("object 775", new String(st.get("k/00775")));
            assertEquals("object 777", new String(st.get("k/00777")));
        }
    }

    @Test
    void aStoppedServerFailsCallsAndTheSameClientWorksAfterARestart() throws Exception {
        try (S3Local s3 = S3Local.start(tmp); S3ObjectStore st = open(s3, s3.url("r"))) {
            st.put("a", "before".getBytes());
            s3.stop();
            long before = st.requests();
            RemoteException e = assertThrows(RemoteException.class, () -> st.get("a"));
            assertFalse(e instanceof RemoteException.Missing);
            String m = e.getMessage();
            assertTrue(m.startsWith("GET a from s3://cowfs/r at " + s3.endpoint() + ": "), m);
            assertTrue(m.contains("(after 5 attempts)"), m);
            assertFalse(m.contains("\n"), "one line: " + m);
            assertEquals(5, st.requests() - before, "every attempt counts");
            assertThrows(RemoteException.class, () -> st.put("b", new byte[1]));

            s3.restart();
            assertEquals("before", new String(st.get("a")));
            st.put("b", "after".getBytes());
            assertEquals("after", new String(st.get("b")));
        }
    }

    @Test
    void badCredentialsFailWithoutShowingTheSecret() throws Exception {
        try (S3Local s3 = S3Local.start(tmp)) {
            Map<String, String> env = new HashMap<>(s3.env());
            String wrong = "wrongsecretwrongsecretwrongsecret0123456";
            env.put("AWS_SECRET_ACCESS_KEY", wrong);
            try (S3ObjectStore st = S3ObjectStore.create(RemoteUrl.parse(s3.url("p")), env)) {
                RemoteException e = assertThrows(RemoteException.class, () -> st.put("x", new byte[10]));
                assertFalse(e instanceof RemoteException.Missing);
                assertTrue(e.getMessage().startsWith("PUT x to s3://cowfs/p"), e.getMessage());
                assertTrue(e.getMessage().contains("403"), e.getMessage());
                assertFalse(e.getMessage().contains(wrong), e.getMessage());
                assertFalse(e.getMessage().contains(s3.env().get("AWS_SECRET_ACCESS_KEY")), e.getMessage());
                assertThrows(RemoteException.class, () -> st.get("x"));
            }
            env.put("AWS_ACCESS_KEY_ID", "NOSUCHKEY");
            try (S3ObjectStore st = S3ObjectStore.create(RemoteUrl.parse(s3.url("p")), env)) {
                RemoteException e = assertThrows(RemoteException.class, () -> st.list(""));
                assertFalse(e.getMessage().contains(wrong), e.getMessage());
            }
        }
    }

    @Test
    void aMissingBucketIsSaidAndEnsureBucketCreatesIt() throws Exception {
        try (S3Local s3 = S3Local.start(tmp); S3ObjectStore st = open(s3, "s3://other-bucket/p")) {
            RemoteException e = assertThrows(RemoteException.class, () -> st.put("x", new byte[1]));
            assertFalse(e instanceof RemoteException.Missing);
            assertTrue(e.getMessage().contains("bucket other-bucket does not exist"), e.getMessage());
            st.ensureBucket();
            st.ensureBucket(); // an existing bucket is fine
            st.put("x", new byte[] {7});
            assertArrayEquals(new byte[] {7}, st.get("x"));
        }
    }

    @Test
    void aNotFoundFromSomethingThatIsNotS3IsNotAMissingObject() throws Exception {
        // a plain web server at a wrong endpoint: its 404 must not read as "no such object"
        com.sun.net.httpserver.HttpServer http = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
        http.createContext("/", x -> {
            x.sendResponseHeaders(404, -1);
            x.close();
        });
        http.start();
        try (S3ObjectStore st = S3ObjectStore.create(RemoteUrl.parse("s3://cowfs/p"), Map.of("AWS_ACCESS_KEY_ID", "k",
                "AWS_SECRET_ACCESS_KEY", "s", "COWFS_S3_ENDPOINT", "http://127.0.0.1:" + http.getAddress().getPort()))) {
            RemoteException e = assertThrows(RemoteException.class, () -> st.head("x"));
            assertFalse(e instanceof RemoteException.Missing);
            assertTrue(e.getMessage().contains("an S3 server?"), e.getMessage());
            e = assertThrows(RemoteException.class, () -> st.get("x"));
            assertFalse(e instanceof RemoteException.Missing, e.getMessage());
        } finally {
            http.stop(0);
        }
    }
}
