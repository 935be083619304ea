package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Remotes against a real S3-compatible server (s3proxy on 127.0.0.1, {@link S3Local}): push,
 * full and lazy pull, a lazily pulled snapshot mounted with a cold cache, a push killed and
 * resumed, the server stopped in the middle of reads, a missing object, two stores pushing at
 * once, and gc of a remote. Every cowfs command runs as its own process with the server's
 * credentials in its environment, as a user runs it (credentials never reach the store).
 */
class RemoteIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** A tree of small files plus two multi-block files, with some content repeated. */
    static Path tree(Path dir) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Cowfs.sh(dir, """
                set -e
                for d in $(seq 1 12); do
                  mkdir -p src/d$d
                  for f in $(seq 1 25); do printf 'file %s of dir %s\\n%s\\n' $f $d "$(seq 1 $((f * 40)))" > src/d$d/f$f.txt; done
                done
                head -c 3000000 /dev/urandom > big1.bin
                head -c 2500000 /dev/urandom > big2.bin
                ln -s d1/f1.txt src/link
                """);
        return dir;
    }

    /** Runs cowfs in its own JVM against store, with the server's credentials in the environment. */
    static Cowfs.Result cow(S3Local s3, Path store, String... args) throws IOException, InterruptedException {
        return cowWith(s3, store, List.of(), args);
    }

    static Cowfs.Result cowWith(S3Local s3, Path store, List<String> jvm, String... args) throws IOException, InterruptedException {
        Process p = start(s3, store, jvm, args);
        return finish(p, args);
    }

    static Process start(S3Local s3, Path store, List<String> jvm, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "--add-opens=java.base/java.nio=ALL-UNNAMED",
                "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED"));
        cmd.addAll(jvm);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), args[0], "--store=" + store));
        cmd.addAll(List.of(args).subList(1, args.length));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(s3.env());
        pb.environment().put("LC_ALL", "C.UTF-8");
        pb.environment().put("CI", "true");
        pb.environment().remove("COWFS_STORE");
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        return pb.start();
    }

    static Cowfs.Result finish(Process p, String... args) throws IOException, InterruptedException {
        // both streams are small: read one, then the other
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("cowfs " + String.join(" ", args) + " hung");
        }
        return new Cowfs.Result(p.exitValue(), out, err);
    }

    static JsonNode json(Cowfs.Result r) throws IOException {
        return JSON.readTree(r.ok().out());
    }

    static Path newStore(S3Local s3, Path dir, String prefix) throws IOException, InterruptedException {
        Path store = dir.resolve("store");
        cow(s3, store, "init").ok();
        cow(s3, store, "remote", "add", "origin", s3.url(prefix)).ok();
        return store;
    }

    /** Chunks still on remotes, as verify reports them (0 when all are local). */
    static long remoteChunks(S3Local s3, Path store) throws IOException, InterruptedException {
        String out = cow(s3, store, "verify").ok().out();
        for (String l : out.split("\n")) {
            if (l.contains("still on their remotes")) {
                return Long.parseLong(l.substring(0, l.indexOf(' ')));
            }
        }
        return 0;
    }

    @Test
    void pushThenPullFullAndAgainOnlyWhatChanged() throws Exception {
        Cowfs.assumeFuse();
        Path data = tree(tmp.resolve("data"));
        try (S3Local s3 = S3Local.start(tmp)) {
            Path a = newStore(s3, tmp.resolve("a"), "team");
            cow(s3, a, "import", data.toString(), "--name", "v1").ok();
            JsonNode p1 = json(cow(s3, a, "push", "v1", "--json"));
            assertFalse(p1.get("already").asBoolean());
            long first = p1.get("uploadedBytes").asLong();
            assertTrue(first > 5_000_000, "the random files are uploaded: " + p1);
            assertTrue(p1.get("objects").asLong() >= 3, "packs, their indexes and the manifest: " + p1);
            assertTrue(p1.get("objects").asLong() < p1.get("chunks").asLong(), "chunks go in packs, not one object each: " + p1);
            // pushing it again sends nothing
            assertTrue(json(cow(s3, a, "push", "v1", "--json")).get("already").asBoolean());

            // ten files change: the second push sends only their blocks (and the tree pages above them)
            Cowfs.sh(data, "for d in 1 2 3 4 5 6 7 8 9 10; do echo changed >> src/d$d/f3.txt; done");
            cow(s3, a, "import", data.toString(), "--name", "v2").ok();
            JsonNode p2 = json(cow(s3, a, "push", "v2", "--json"));
            long second = p2.get("uploadedBytes").asLong();
            assertTrue(second > 0 && second < first / 20, "second push uploaded " + second + " bytes, the first " + first);

            String snaps = cow(s3, a, "remote", "snapshots").ok().out();
            assertTrue(snaps.contains("v1") && snaps.contains("v2"), snaps);

            // another store pulls both in full and gets the same trees, checked byte for byte
            Path b = newStore(s3, tmp.resolve("b"), "team");
            JsonNode l1 = json(cow(s3, b, "pull", "v1", "--json"));
            assertTrue(l1.get("downloadedBytes").asLong() > 5_000_000, l1.toString());
            JsonNode l2 = json(cow(s3, b, "pull", "v2", "--json"));
            assertTrue(l2.get("downloadedBytes").asLong() < first / 10, "v2 over v1 downloads only what changed: " + l2);
            assertEquals(0, remoteChunks(s3, b));
            Path out = tmp.resolve("out2");
            cow(s3, b, "export", "v2", out.toString()).ok();
            assertEquals(SourceTree.hashes(data), SourceTree.hashes(out));
            cow(s3, b, "fsck").ok();
            cow(s3, b, "verify", "--remote", "origin").ok();
            // pulling again is a no-op; a taken local name is refused with a way out
            assertTrue(json(cow(s3, b, "pull", "v2", "--json")).get("already").asBoolean());
            cow(s3, b, "fork", "v1", "--name", "taken").ok();
            Cowfs.Result taken = cow(s3, b, "pull", "v2", "--as", "taken");
            taken.fails(Main.EXIT_FAILED);
            assertTrue(taken.err().contains("--as"), taken.err());
        }
    }

    @Test
    void lazyPullMountsWithAColdCacheAndForksWriteLocally() throws Exception {
        Cowfs.assumeFuse();
        Path data = tree(tmp.resolve("data"));
        try (S3Local s3 = S3Local.start(tmp)) {
            Path a = newStore(s3, tmp.resolve("a"), "");
            cow(s3, a, "import", data.toString(), "--name", "base").ok();
            cow(s3, a, "push", "base").ok();

            Path b = newStore(s3, tmp.resolve("b"), "");
            JsonNode pulled = json(cow(s3, b, "pull", "base", "--lazy", "--json"));
            assertTrue(pulled.get("lazy").asBoolean());
            long left = pulled.get("remoteChunks").asLong();
            assertTrue(left > 80, "file data stays on the remote: " + pulled);
            assertTrue(pulled.get("downloadedBytes").asLong() < 1_000_000, "a lazy pull fetches the tree only: " + pulled);
            assertTrue(pulled.get("requests").asLong() <= 8, "the snapshot's index object, not one per pack: " + pulled);
            assertEquals(left, remoteChunks(s3, b));
            cow(s3, b, "fsck").ok(); // chunks on the remote are not missing

            Path mp = Files.createTempDirectory(tmp, "mp");
            try {
                cow(s3, b, "mount", "base", mp.toString()).ok();
                // the tree is there before any data is read
                assertEquals(Cowfs.sh(data, "find . | sort"), Cowfs.sh(mp, "find . | sort"));
                assertTrue(remoteChunks(s3, b) >= left - 2, "listing fetched no file data");
                // every byte reads back as pushed (fetched on first read, with read-ahead)
                assertEquals(SourceTree.hashes(data), SourceTree.hashes(mp));
                assertEquals(0, remoteChunks(s3, b), "everything read is now in the local store");
            } finally {
                Cowfs.unmountHard(mp);
            }
            cow(s3, b, "verify").ok();

            // a fork of a lazily pulled snapshot, pulled afresh into a third store: writes stay local
            Path c = newStore(s3, tmp.resolve("c"), "");
            cow(s3, c, "pull", "base", "--lazy").ok();
            cow(s3, c, "fork", "base", "--name", "work").ok();
            Path mv = Files.createTempDirectory(tmp, "mv");
            long objectsBefore;
            try (Stream<Path> s = Files.walk(s3.data())) {
                objectsBefore = s.count();
            }
            try {
                cow(s3, c, "mount", "work", mv.toString()).ok();
                Cowfs.sh(mv, "echo local >> src/d1/f1.txt && cp big1.bin big1.copy && rm src/d2/f2.txt");
                assertEquals(Cowfs.sh(data, "md5sum big1.bin | cut -c1-32"), Cowfs.sh(mv, "md5sum big1.copy | cut -c1-32"));
            } finally {
                Cowfs.unmountHard(mv);
            }
            cow(s3, c, "snapshot", "work", "--name", "work-1").ok();
            Path out = tmp.resolve("out");
            cow(s3, c, "export", "work-1", out.toString()).ok();
            assertTrue(Files.readString(out.resolve("src/d1/f1.txt")).endsWith("local\n"));
            assertFalse(Files.exists(out.resolve("src/d2/f2.txt")));
            cow(s3, c, "fsck").ok();
            long objectsAfter;
            try (Stream<Path> s = Files.walk(s3.data())) {
                objectsAfter = s.count();
            }
            assertEquals(objectsBefore, objectsAfter, "nothing was written to the remote");
        }
    }

    @Test
    void aKilledPushIsResumedWithoutSendingAgainWhatArrived() throws Exception {
        Path data = tree(tmp.resolve("data"));
        Cowfs.sh(data, "head -c 8000000 /dev/urandom > big3.bin");
        try (S3Local s3 = S3Local.start(tmp)) {
            Path a = newStore(s3, tmp.resolve("a"), "p");
            cow(s3, a, "import", data.toString(), "--name", "s").ok();
            cow(s3, a, "remote", "add", "whole", s3.url("whole")).ok();
            long full = json(cow(s3, a, "push", "s", "--remote", "whole", "--json")).get("uploadedBytes").asLong();
            // small packs, one upload at a time: the push is killed after some packs arrived
            List<String> slow = List.of("-Dcowfs.remote.packBytes=262144");
            Process p = start(s3, a, slow, "push", "s", "--remote", "origin", "--threads", "1");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (indexedPackBytes(s3, "p") < 4_000_000 && p.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            p.destroyForcibly().waitFor();
            long arrived = indexedPackBytes(s3, "p");
            assertTrue(arrived >= 4_000_000, "packs arrived before the kill: " + arrived);
            String snaps = cow(s3, a, "remote", "snapshots", "origin", "--json").ok().out();
            assertEquals("[ ]", snaps.strip(), "no snapshot is visible before its push completes");

            JsonNode resumed = json(cowWith(s3, a, slow, "push", "s", "--remote", "origin", "--json"));
            assertFalse(resumed.get("already").asBoolean());
            long sent = resumed.get("uploadedBytes").asLong();
            assertTrue(sent < full - arrived + 1_000_000, "the resumed push sent " + sent + " bytes; a whole push sends " + full
                    + ", and " + arrived + " had arrived");
            Path b = newStore(s3, tmp.resolve("b"), "p");
            cow(s3, b, "pull", "s").ok();
            Path out = tmp.resolve("out");
            cow(s3, b, "export", "s", out.toString()).ok();
            assertEquals(SourceTree.hashes(data), SourceTree.hashes(out));
            cow(s3, b, "verify", "--remote", "origin", "--deep").ok();
        }
    }

    /** Bytes of the pack objects under prefix that have their index object (those a push finished). */
    static long indexedPackBytes(S3Local s3, String prefix) throws IOException {
        Path packs = s3.data().resolve(S3Local.BUCKET).resolve(prefix).resolve("packs");
        Path index = packs.resolveSibling("index");
        if (!Files.isDirectory(packs)) {
            return 0;
        }
        long n = 0;
        try (Stream<Path> s = Files.list(packs)) {
            for (Path f : s.toList()) {
                if (Files.exists(index.resolve(f.getFileName()))) {
                    n += Files.size(f);
                }
            }
        }
        return n;
    }

    /** Pack objects the server holds (its filesystem backend keeps one file per object). */
    static long packObjects(S3Local s3) throws IOException {
        if (!Files.exists(s3.data())) {
            return 0;
        }
        try (Stream<Path> s = Files.walk(s3.data())) {
            return s.filter(f -> f.getParent() != null && f.getParent().getFileName().toString().equals("packs") && Files.isRegularFile(f)).count();
        }
    }

    @Test
    void serverStoppedMidReadIsEioForThatFileAndTheMountRecovers() throws Exception {
        Cowfs.assumeFuse();
        Path data = tree(tmp.resolve("data"));
        try (S3Local s3 = S3Local.start(tmp)) {
            Path a = newStore(s3, tmp.resolve("a"), "x");
            cow(s3, a, "import", data.toString(), "--name", "s").ok();
            cow(s3, a, "push", "s").ok();
            Path b = newStore(s3, tmp.resolve("b"), "x");
            cow(s3, b, "pull", "s", "--lazy").ok();
            Path mp = Files.createTempDirectory(tmp, "mp");
            try {
                cow(s3, b, "mount", "s", mp.toString()).ok();
                String md5 = Cowfs.sh(data, "md5sum big1.bin | cut -c1-32");
                assertEquals(md5, Cowfs.sh(mp, "md5sum big1.bin | cut -c1-32"));
                s3.stop();
                Cowfs.Result failed = Cowfs.shRc(mp, "cat big2.bin > /dev/null");
                assertNotEquals(0, failed.rc());
                assertTrue(failed.out().contains("Input/output error"), failed.out());
                // the mount lives on: the tree lists, what was fetched reads
                assertEquals(Cowfs.sh(data, "ls src/d3 | sort"), Cowfs.sh(mp, "ls src/d3 | sort"));
                assertEquals(md5, Cowfs.sh(mp, "md5sum big1.bin | cut -c1-32"));
                s3.restart();
                assertEquals(Cowfs.sh(data, "md5sum big2.bin | cut -c1-32"), Cowfs.sh(mp, "md5sum big2.bin | cut -c1-32"));
            } finally {
                Cowfs.unmountHard(mp);
            }
        }
    }

    @Test
    void aMissingObjectIsEioForTheFilesThatNeedItAndVerifyNamesIt() throws Exception {
        Cowfs.assumeFuse();
        Path data = tmp.resolve("data");
        Cowfs.sh(tmp, "mkdir -p data && head -c 700000 /dev/urandom > data/one.bin && head -c 700000 /dev/urandom > data/two.bin");
        try (S3Local s3 = S3Local.start(tmp)) {
            Path a = newStore(s3, tmp.resolve("a"), "m");
            // one file per push: each file's data is in packs of its own
            cow(s3, a, "import", data.toString(), "--name", "s1").ok();
            List<Path> before = packs(s3);
            Cowfs.sh(data, "head -c 700000 /dev/urandom > three.bin");
            cow(s3, a, "push", "s1").ok();
            List<Path> first = packs(s3);
            cow(s3, a, "import", data.toString(), "--name", "s2").ok();
            cow(s3, a, "push", "s2").ok();
            List<Path> added = packs(s3);
            added.removeAll(first);
            assertTrue(before.isEmpty() && !added.isEmpty());
            // the data pack s2 added holds three.bin only; delete it on the server
            Path lost = null;
            for (Path p : added) {
                if (Files.size(p) > 600_000) {
                    lost = p;
                }
            }
            Files.delete(lost);
            Cowfs.Result v = cow(s3, a, "verify", "--remote", "origin");
            v.fails(Main.EXIT_DAMAGED);
            assertTrue(v.out().contains("packs/" + lost.getFileName()) && v.out().contains("missing"), v.out());
            assertTrue(v.out().contains("s2"), "names the snapshot that needs it: " + v.out());
            assertFalse(v.out().contains("s1)"), v.out());

            Path b = newStore(s3, tmp.resolve("b"), "m");
            cow(s3, b, "pull", "s2", "--lazy").ok();
            Path mp = Files.createTempDirectory(tmp, "mp");
            try {
                cow(s3, b, "mount", "s2", mp.toString()).ok();
                assertEquals(Cowfs.sh(data, "md5sum one.bin two.bin"), Cowfs.sh(mp, "md5sum one.bin two.bin"));
                Cowfs.Result r = Cowfs.shRc(mp, "cat three.bin > /dev/null");
                assertNotEquals(0, r.rc());
                assertTrue(r.out().contains("Input/output error"), r.out());
                assertEquals(Cowfs.sh(data, "md5sum one.bin"), Cowfs.sh(mp, "md5sum one.bin"));
            } finally {
                Cowfs.unmountHard(mp);
            }
            // a full pull of a snapshot whose object is gone fails and adds no snapshot
            Path c = newStore(s3, tmp.resolve("c"), "m");
            Cowfs.Result full = cow(s3, c, "pull", "s2");
            full.fails(Main.EXIT_FAILED);
            assertTrue(full.err().contains("missing"), full.err());
            assertFalse(cow(s3, c, "list").ok().out().contains("s2"));
            // pushing again repairs the remote
            cow(s3, a, "push", "s2").ok();
            cow(s3, a, "verify", "--remote", "origin").ok();
            cow(s3, c, "pull", "s2").ok();
        }
    }

    static List<Path> packs(S3Local s3) throws IOException {
        if (!Files.exists(s3.data())) {
            return new ArrayList<>();
        }
        try (Stream<Path> s = Files.walk(s3.data())) {
            return new ArrayList<>(s.filter(f -> f.getParent() != null && f.getParent().getFileName().toString().equals("packs")
                    && Files.isRegularFile(f)).sorted().toList());
        }
    }

    @Test
    void twoStoresPushToOneRemoteAtOnce() throws Exception {
        Path data = tree(tmp.resolve("data"));
        try (S3Local s3 = S3Local.start(tmp)) {
            Path a = newStore(s3, tmp.resolve("a"), "shared");
            Path b = newStore(s3, tmp.resolve("b"), "shared");
            cow(s3, a, "import", data.toString(), "--name", "from-a").ok();
            Cowfs.sh(data, "echo b >> src/d4/f4.txt && head -c 1000000 /dev/urandom > only-b.bin");
            cow(s3, b, "import", data.toString(), "--name", "from-b").ok();
            List<String> small = List.of("-Dcowfs.remote.packBytes=262144");
            Process pa = start(s3, a, small, "push", "from-a");
            Process pb = start(s3, b, small, "push", "from-b");
            finish(pa, "push", "from-a").ok();
            finish(pb, "push", "from-b").ok();
            cow(s3, a, "verify", "--remote", "origin", "--deep").ok();
            Path c = newStore(s3, tmp.resolve("c"), "shared");
            cow(s3, c, "pull", "from-a").ok();
            cow(s3, c, "pull", "from-b").ok();
            Path out = tmp.resolve("out");
            cow(s3, c, "export", "from-b", out.toString()).ok();
            assertEquals(SourceTree.hashes(data), SourceTree.hashes(out));
            cow(s3, c, "fsck").ok();
        }
    }

    @Test
    void gcOfARemoteDeletesOnlyWhatNoSnapshotNeedsInTwoPhases() throws Exception {
        Path data = tmp.resolve("data");
        Cowfs.sh(tmp, "mkdir -p data && head -c 900000 /dev/urandom > data/shared.bin");
        try (S3Local s3 = S3Local.start(tmp)) {
            Path a = newStore(s3, tmp.resolve("a"), "g");
            cow(s3, a, "import", data.toString(), "--name", "base").ok();
            cow(s3, a, "push", "base").ok();
            // old adds a file: its push makes packs of its own (gc deletes whole packs)
            Cowfs.sh(data, "head -c 900000 /dev/urandom > old.bin");
            cow(s3, a, "import", data.toString(), "--name", "old").ok();
            cow(s3, a, "push", "old").ok();
            Files.delete(data.resolve("old.bin"));
            Cowfs.sh(data, "head -c 900000 /dev/urandom > new.bin");
            cow(s3, a, "import", data.toString(), "--name", "new").ok();
            cow(s3, a, "push", "new").ok();
            long bytesBefore = bytesOf(packs(s3));

            // nothing is condemned while every pack is needed
            JsonNode g0 = json(cow(s3, a, "gc", "--remote", "origin", "--grace", "0", "--json"));
            assertEquals(0, g0.get("condemned").asInt(), g0.toString());
            cow(s3, a, "remote", "delete", "origin", "old").ok();
            // a young pack is never condemned (it may be a running push's)
            JsonNode young = json(cow(s3, a, "gc", "--remote", "origin", "--grace", "1h", "--json"));
            assertEquals(0, young.get("condemned").asInt() + young.get("deleted").asInt(), young.toString());
            // phase 1 condemns old's own packs and deletes nothing
            JsonNode g1 = json(cow(s3, a, "gc", "--remote", "origin", "--grace", "0", "--json"));
            assertTrue(g1.get("condemned").asInt() > 0 && g1.get("deleted").asInt() == 0, g1.toString());
            assertEquals(bytesBefore, bytesOf(packs(s3)));
            // a push that needs a condemned pack's chunks again sends them anew
            JsonNode again = json(cow(s3, a, "push", "old", "--json"));
            assertTrue(again.get("uploadedBytes").asLong() > 800_000, again.toString());
            // phase 2: the condemned packs are deleted; old's chunks are safe in its new packs
            JsonNode g2 = json(cow(s3, a, "gc", "--remote", "origin", "--grace", "0", "--json"));
            assertEquals(g1.get("condemned").asInt(), g2.get("deleted").asInt(), g2.toString());
            cow(s3, a, "verify", "--remote", "origin", "--deep").ok();
            Path b = newStore(s3, tmp.resolve("b"), "g");
            cow(s3, b, "pull", "old").ok();
            cow(s3, b, "pull", "new").ok();
            cow(s3, b, "verify").ok();

            // now old goes for good: two runs later its bytes are gone from the server
            cow(s3, a, "remote", "delete", "origin", "old").ok();
            cow(s3, a, "gc", "--remote", "origin", "--grace", "0").ok();
            cow(s3, a, "gc", "--remote", "origin", "--grace", "0").ok();
            long bytesAfter = bytesOf(packs(s3));
            assertTrue(bytesAfter < bytesBefore - 800_000, "old.bin's pack is gone: " + bytesBefore + " -> " + bytesAfter);
            cow(s3, a, "verify", "--remote", "origin", "--deep").ok();
            Path c = newStore(s3, tmp.resolve("c"), "g");
            cow(s3, c, "pull", "new").ok();
            Path out = tmp.resolve("out");
            cow(s3, c, "export", "new", out.toString()).ok();
            assertEquals(SourceTree.hashes(data), SourceTree.hashes(out));
        }
    }

    static long bytesOf(List<Path> files) throws IOException {
        long n = 0;
        for (Path f : files) {
            n += Files.size(f);
        }
        return n;
    }

    @Test
    void badInputGetsAClearErrorAndChangesNothing() throws Exception {
        try (S3Local s3 = S3Local.start(tmp)) {
            Path a = newStore(s3, tmp.resolve("a"), "bad");
            Cowfs.Result url = cow(s3, a, "remote", "add", "x", "http://example.com/b");
            url.fails(Main.EXIT_USAGE);
            assertTrue(url.err().contains("s3://"), url.err());
            cow(s3, a, "remote", "add", "origin", s3.url("other")).fails(Main.EXIT_FAILED);
            cow(s3, a, "push", "nothing-here").fails(Main.EXIT_NOT_FOUND);
            Cowfs.Result pull = cow(s3, a, "pull", "nothing-here");
            pull.fails(Main.EXIT_NOT_FOUND);
            assertTrue(pull.err().contains("push one first") || pull.err().contains("no snapshot"), pull.err());
            cow(s3, a, "pull", "x", "--remote", "nosuch").fails(Main.EXIT_NOT_FOUND);
            cow(s3, a, "gc", "--remote", "origin", "--grace", "soon").fails(Main.EXIT_USAGE);
            // wrong credentials: a one-line error that does not show the secret
            Map<String, String> env = new java.util.HashMap<>(s3.env());
            String secret = env.get("AWS_SECRET_ACCESS_KEY");
            Process p;
            {
                List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "--add-opens=java.base/java.nio=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                        Main.class.getName(), "remote", "snapshots", "--store=" + a);
                ProcessBuilder pb = new ProcessBuilder(cmd);
                pb.environment().putAll(env);
                pb.environment().put("AWS_SECRET_ACCESS_KEY", "not-" + secret);
                p = pb.start();
            }
            Cowfs.Result denied = finish(p, "remote", "snapshots");
            denied.fails(Main.EXIT_FAILED);
            assertFalse(denied.err().contains(secret), denied.err());
            assertEquals(1, denied.err().strip().lines().count(), denied.err());
            assertFalse(Files.readString(a.resolve("remotes/origin.properties")).contains(secret), "no credential in the store");
            cow(s3, a, "fsck").ok();
        }
    }
}
