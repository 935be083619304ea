package io.cowfs.cli;

import static io.cowfs.cli.PackDamageIT.readFailsWithEio;
import static io.cowfs.cli.PackDamageIT.readsFine;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cowfs fsck --repair --from REMOTE}: chunks damaged in the local packs (a payload that no
 * longer hashes to its id, a record header that no longer matches) are replaced by the copies a
 * remote holds, checked first, while a mount of the snapshot stays up; what the remote lacks, or
 * holds damaged too, stays a problem and changes nothing. Through a real mount and a file://
 * remote.
 */
class RemoteHealIT {
    @TempDir
    Path tmp;

    private static final int KB = 1024;
    private final Map<String, byte[]> files = new LinkedHashMap<>();
    private Path src;

    @BeforeEach
    void tree() throws Exception {
        Cowfs.assumeFuse();
        files.put("a.bin", Fx.random(61, 5 * 64 * KB));
        files.put("b.bin", Fx.random(62, 3 * 64 * KB));
        files.put("c.txt", "c\n".repeat(500).getBytes());
        src = tmp.resolve("src");
        Fx.writeTree(src, files);
    }

    /** base imported from src and pushed to origin, a file:// remote in tmp. */
    private Path pushed(Cowfs c) throws Exception {
        c.run("import", src.toString(), "--name", "base").ok();
        Path remote = tmp.resolve("remote");
        c.run("remote", "add", "origin", "file://" + remote).ok();
        c.run("push", "base").ok();
        return remote;
    }

    private static long count(String text, String part) {
        return text.lines().filter(l -> l.contains(part)).count();
    }

    @Test
    void damagedChunksAreReplacedFromTheRemoteWhileTheSnapshotIsMounted() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            pushed(c);
            // a's block 2: a payload byte (only hashing finds it); b's block 1: its record header
            Fx.Record a2 = Fx.recordOf(c.store, files.get("a.bin"), 2);
            Fx.flipByte(a2.pack(), a2.payload() + 100);
            Fx.Record b1 = Fx.recordOf(c.store, files.get("b.bin"), 1);
            Fx.flipByte(b1.pack(), b1.offset() + 2);
            try (Cowfs.Mounted m = c.mount("base")) {
                readFailsWithEio(m.dir.resolve("a.bin"));
                readFailsWithEio(m.dir.resolve("b.bin"));
                readsFine(m.dir.resolve("c.txt"), files.get("c.txt"));

                // fsck alone sees the header only; with --from it hashes everything and finds both on the remote
                c.run("fsck").fails(Main.EXIT_DAMAGED);
                Cowfs.Result v = c.run("verify").fails(Main.EXIT_DAMAGED);
                assertTrue(v.err().contains("'cowfs fsck --repair --from origin' replaces them"), v.err());
                Cowfs.Result look = c.run("fsck", "--from", "origin").fails(Main.EXIT_DAMAGED);
                assertEquals(2, count(look.out(), "PROBLEM (repairable with --repair) chunk "), look.out());
                assertEquals(2, count(look.out(), "an intact copy is on remote origin"), look.out());
                readFailsWithEio(m.dir.resolve("a.bin")); // looking changed nothing

                Cowfs.Result fixed = c.run("fsck", "--repair", "--from", "origin").ok();
                assertEquals(2, count(fixed.out(), "REPAIRED chunk "), fixed.out());
                // the mount that gave EIO reads the new copies, without a remount
                readsFine(m.dir.resolve("a.bin"), files.get("a.bin"));
                readsFine(m.dir.resolve("b.bin"), files.get("b.bin"));
            }
            c.run("verify").ok();
            c.run("fsck").ok();
            c.run("gc").ok();
            c.run("verify").ok();
            c.run("fsck").ok();
            assertEquals(Fx.hashTree(src), Fx.exported(c, "base"));
        }
    }

    @Test
    void whatTheRemoteLacksOrHoldsDamagedStaysAProblem() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            Path remote = pushed(c);
            // a snapshot never pushed: its damage has no other copy
            byte[] d = Fx.random(63, 2 * 64 * KB);
            Path src2 = tmp.resolve("src2");
            Fx.writeTree(src2, Map.of("d.bin", d));
            c.run("import", src2.toString(), "--name", "local").ok();
            Fx.Record d0 = Fx.recordOf(c.store, d, 0);
            Fx.flipByte(d0.pack(), d0.payload() + 10);
            // a's block 0, damaged here and in the remote's pack object (records travel as they are)
            Fx.Record a0 = Fx.recordOf(c.store, files.get("a.bin"), 0);
            byte[] payload = new byte[64];
            try (var ch = java.nio.channels.FileChannel.open(a0.pack())) {
                ch.read(java.nio.ByteBuffer.wrap(payload), a0.payload());
            }
            Path remotePack = null;
            long at = -1;
            try (Stream<Path> s = Files.walk(remote.resolve("packs"))) {
                for (Path p : s.filter(Files::isRegularFile).toList()) {
                    long i = indexOf(Files.readAllBytes(p), payload);
                    if (i >= 0) {
                        remotePack = p;
                        at = i;
                    }
                }
            }
            assertTrue(remotePack != null, "a's block 0 is in none of the remote's packs");
            Fx.flipByte(a0.pack(), a0.payload() + 30);
            Fx.flipByte(remotePack, at + 30);

            Cowfs.Result r = c.run("fsck", "--repair", "--from", "origin").fails(Main.EXIT_DAMAGED);
            assertTrue(r.out().contains("no other copy here or on remote origin"), r.out());
            assertTrue(r.out().contains("the copy on remote origin is damaged too"), r.out());
            assertEquals(0, count(r.out(), "REPAIRED chunk "), r.out());
            // both stay damaged: verify still names them, and the snapshots read as before
            Cowfs.Result v = c.run("verify").fails(Main.EXIT_DAMAGED);
            assertTrue(v.out().contains("2 bad"), v.out());
            try (Cowfs.Mounted m = c.mount("base")) {
                readFailsWithEio(m.dir.resolve("a.bin"));
                readsFine(m.dir.resolve("b.bin"), files.get("b.bin"));
            }

            // bad input: a remote that does not exist, one line and nothing done
            Cowfs.Result none = c.run("fsck", "--repair", "--from", "nosuch").fails(Main.EXIT_NOT_FOUND);
            assertEquals("cowfs: no remote named 'nosuch' (see: cowfs remote list)\n", none.err());
        }
    }

    /**
     * A pack file lost whole (a disk that lost a file): its chunks come back in a few range
     * requests over runs of neighbours, not one per chunk; a remote pack object cut short is a
     * problem named as such, and the chunks it cannot give stay problems.
     */
    @Test
    void aLostPackComesBackInAFewRequests() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            byte[] big = Fx.random(64, 90 * 64 * KB);
            Path src3 = tmp.resolve("src3");
            Fx.writeTree(src3, Map.of("big.bin", big));
            c.run("import", src3.toString(), "--name", "big").ok();
            Path remote = pushed(c);
            c.run("push", "big").ok();
            Fx.Record r0 = Fx.recordOf(c.store, big, 0);
            Path pack = r0.pack();
            Files.copy(pack, tmp.resolve("saved.pack"));
            Files.delete(pack);

            Cowfs.Result look = c.run("fsck", "--from", "origin").fails(Main.EXIT_DAMAGED);
            long lost = count(look.out(), "an intact copy is on remote origin");
            assertTrue(lost >= 90, look.out());
            assertEquals(0, count(look.out(), "fetched "), look.out()); // looking fetches no data

            // the remote's copy of that pack cut short: the records past the cut cannot be had
            Path remotePack = null;
            byte[] first = new byte[64];
            System.arraycopy(Files.readAllBytes(tmp.resolve("saved.pack")), (int) r0.payload() + 100, first, 0, 64);
            try (Stream<Path> s = Files.walk(remote.resolve("packs"))) {
                for (Path p : s.filter(Files::isRegularFile).toList()) {
                    if (indexOf(Files.readAllBytes(p), first) >= 0) {
                        remotePack = p;
                    }
                }
            }
            assertTrue(remotePack != null, "no remote pack holds big.bin");
            Path whole = tmp.resolve("remote-whole.pack");
            Files.copy(remotePack, whole);
            try (var ch = java.nio.channels.FileChannel.open(remotePack, java.nio.file.StandardOpenOption.WRITE)) {
                ch.truncate(ch.size() / 2);
            }
            Cowfs.Result cut = c.run("fsck", "--repair", "--from", "origin").fails(Main.EXIT_DAMAGED);
            assertTrue(cut.out().contains("the copy on remote origin cannot be had: "), cut.out());
            long healedBefore = count(cut.out(), "REPAIRED chunk ");
            assertTrue(healedBefore < lost, cut.out());
            try (Cowfs.Mounted m = c.mount("big")) {
                readFailsWithEio(m.dir.resolve("big.bin"));
            }

            Files.copy(whole, remotePack, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Cowfs.Result fixed = c.run("fsck", "--repair", "--from", "origin", "--json").ok();
            var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(fixed.out());
            var fetched = json.get("fetched");
            assertEquals(1, fetched.size(), fixed.out());
            assertEquals("remote origin", fetched.get(0).get("from").asText());
            long chunks = fetched.get(0).get("chunks").asLong();
            assertEquals(lost - healedBefore, chunks, fixed.out());
            assertTrue(fetched.get(0).get("requests").asLong() <= 2, fixed.out()); // neighbours, one range request each run
            assertTrue(json.get("clean").asBoolean(), fixed.out());
            c.run("verify").ok();
            c.run("fsck").ok();
            try (Cowfs.Mounted m = c.mount("big")) {
                readsFine(m.dir.resolve("big.bin"), big);
            }
        }
    }

    private static long indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
