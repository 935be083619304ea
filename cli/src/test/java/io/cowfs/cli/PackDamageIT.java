package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.Packs;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotReader;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damaged pack files and a damaged index: reads of what is damaged give EIO through a mount,
 * everything else reads fine, verify/fsck exit 5 and name the damage; nothing hangs (every read
 * through a mount runs under timeout(1)) and nothing crashes.
 *
 * <p>Layout: snapshot 'base' (pack 1) holds keep1.bin, keep2.txt, dir/keep3.bin; view 'v' of it
 * wrote ok.bin and then hit.bin (5 blocks), alone in pack 2, in that order.
 */
class PackDamageIT {
    @TempDir
    Path tmp;

    private static final int KB = 1024;
    private final Map<String, byte[]> baseFiles = new LinkedHashMap<>();
    private final byte[] ok = Fx.random(51, 128 * KB);
    private final byte[] hit = Fx.random(52, 5 * 64 * KB);
    private Path src;

    @BeforeEach
    void tree() throws Exception {
        Cowfs.assumeFuse();
        baseFiles.put("keep1.bin", Fx.random(53, 200 * KB));
        baseFiles.put("keep2.txt", "keep\n".repeat(3000).getBytes());
        baseFiles.put("dir/keep3.bin", Fx.random(54, 100 * KB));
        src = tmp.resolve("src");
        Fx.writeTree(src, baseFiles);
    }

    private Path setUp(Cowfs c) throws Exception {
        c.run("import", src.toString(), "--name", "base").ok();
        List<Path> basePacks = Fx.packs(c.store);
        c.run("fork", "base", "--name", "v").ok();
        Fx.inView(c.store, "v", v -> v.put("ok.bin", ok).put("hit.bin", hit));
        List<Path> all = new ArrayList<>(Fx.packs(c.store));
        all.removeAll(basePacks);
        assertEquals(1, all.size(), "the view's data is in one pack of its own: " + all);
        return all.get(0);
    }

    /** sha256sum of a file through a mount, under a timeout (124: it hung). */
    private static Cowfs.Result sum(Path file) throws Exception {
        return Cowfs.shRc(file.getParent(), "timeout 30 sha256sum '" + file + "'");
    }

    /** The file reads whole through a mount and has want's bytes. */
    static void readsFine(Path file, byte[] want) throws Exception {
        Cowfs.Result r = sum(file);
        assertEquals(0, r.rc(), "reading " + file + ": " + r.out());
        assertTrue(r.out().startsWith(Fx.sha256(want)), file + " read wrong bytes: " + r.out());
    }

    /** Reading the file through a mount fails with EIO, at once (not a hang, not wrong bytes). */
    static void readFailsWithEio(Path file) throws Exception {
        Cowfs.Result r = sum(file);
        assertNotEquals(124, r.rc(), "reading " + file + " hung");
        assertNotEquals(0, r.rc(), "reading a damaged file must fail, not return bytes: " + r.out());
        assertTrue(r.out().contains("Input/output error"), "EIO expected: " + r.out());
    }

    private void baseReadsFine(Path root) throws Exception {
        for (var e : baseFiles.entrySet()) {
            readsFine(root.resolve(e.getKey()), e.getValue());
        }
    }

    @Test
    void flippedByteInAPackPayload() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            Path pack = setUp(c);
            Fx.Record rec = Fx.recordOf(c.store, hit, 2);
            assertEquals(pack, rec.pack());
            Fx.flipByte(pack, rec.payload() + rec.storedLen() / 2);
            ChunkId bad = ChunkId.hash(hit, 2 * 64 * KB, 64 * KB);

            try (Cowfs.Mounted m = c.mount("v")) {
                readFailsWithEio(m.dir.resolve("hit.bin"));
                // the blocks before the damaged one still read
                Cowfs.Result head = Cowfs.shRc(m.dir, "timeout 30 dd if=hit.bin bs=64k count=2 status=none | sha256sum");
                assertTrue(head.out().startsWith(Fx.sha256(java.util.Arrays.copyOf(hit, 128 * KB))), head.out());
                readsFine(m.dir.resolve("ok.bin"), ok);
                baseReadsFine(m.dir);
                assertEquals(0, Cowfs.shRc(m.dir, "timeout 30 ls -lR").rc(), "listing works");
                assertTrue(Cowfs.isMounted(m.dir), "the mount survives EIO");
                readFailsWithEio(m.dir.resolve("hit.bin")); // again: no wrong bytes from a cache
            }
            Cowfs.Result v = damaged(c.run("verify"));
            assertTrue(v.out().contains(bad.hex()), "verify names the chunk: " + v.out());
            assertTrue(v.out().contains(pack.getFileName().toString()), "verify names the pack: " + v.out());
            assertTrue(v.out().contains("1 bad"), v.out());
            // fsck checks structure (headers, objects); the data re-hash is verify's: it must not crash
            Cowfs.Result f = c.run("fsck");
            assertTrue(f.rc() == 0 || f.rc() == Main.EXIT_DAMAGED, f.err());
            // export of the damaged view fails with one line naming the chunk, never writes wrong bytes silently
            Path out = tmp.resolve("out");
            Cowfs.Result e = c.run("export", "v", out.toString());
            assertEquals(Main.EXIT_FAILED, e.rc(), e.err());
            assertTrue(e.err().contains(bad.shortHex()), e.err());
            // snapshots that do not need the chunk are whole; removing the view and gc leave a clean store
            assertEquals(Fx.hashTree(src), Fx.exported(c, "base"));
            c.run("rm", "v").ok();
            c.run("gc").ok();
            c.run("verify").ok();
            c.run("fsck").ok();
        }
    }

    @Test
    void truncatedPack() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            Path pack = setUp(c);
            Fx.Record rec = Fx.recordOf(c.store, hit, 3);
            try (RandomAccessFile f = new RandomAccessFile(pack.toFile(), "rw")) {
                f.setLength(rec.payload() + 100); // cuts block 3 of hit.bin, and block 4 after it
            }
            try (Cowfs.Mounted m = c.mount("v")) {
                readFailsWithEio(m.dir.resolve("hit.bin"));
                readsFine(m.dir.resolve("ok.bin"), ok); // same pack, before the cut
                baseReadsFine(m.dir);
            }
            Cowfs.Result v = damaged(c.run("verify"));
            // block 3 of hit.bin, and whatever the flush wrote after it: blocks are hashed in
            // parallel, so the order of records in the pack is not fixed and block 3 may be the
            // last one (this asked for two once, and failed now and then)
            java.util.regex.Matcher bad = java.util.regex.Pattern.compile("(\\d+) bad").matcher(v.out());
            assertTrue(bad.find() && Integer.parseInt(bad.group(1)) >= 1, v.out());
            assertTrue(v.out().contains("truncated"), v.out());
            Cowfs.Result f = c.run("fsck").fails(Main.EXIT_DAMAGED);
            assertTrue(f.out().contains("truncated") && f.out().contains(pack.getFileName().toString()), f.out());
            // nothing to repair it from: --repair says so and the problem remains
            Cowfs.Result r = c.run("fsck", "--repair").fails(Main.EXIT_DAMAGED);
            assertTrue(r.out().contains("no other copy"), r.out());
            // gc leaves the damaged pack alone and breaks nothing else
            c.run("gc").ok();
            try (Cowfs.Mounted m = c.mount("base")) {
                baseReadsFine(m.dir);
            }
            c.run("rm", "v").ok();
            c.run("gc").ok();
            c.run("fsck").ok();
            c.run("verify").ok();
        }
    }

    /** A directory object of the snapshot is damaged: listing that directory fails, the rest works. */
    @Test
    void damagedDirectoryObject() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            setUp(c);
            ChunkId dirObj;
            ChunkLocation loc;
            try (Store s = Store.open(c.store)) {
                SnapshotReader r = new SnapshotReader(s, new Catalog(s).get("base").root());
                Inode root = r.inode(1);
                Inode dir = r.inode(r.dir(root).get("dir").ino());
                dirObj = dir.dirObject;
                loc = s.locate(dirObj);
            }
            Fx.flipByte(c.store.resolve("packs").resolve(Packs.fileName(loc.pack())), loc.offset() + PackRecord.HEADER + loc.storedLen() - 1);
            try (Cowfs.Mounted m = c.mount("base")) {
                Cowfs.Result ls = Cowfs.shRc(m.dir, "timeout 30 ls dir");
                assertNotEquals(124, ls.rc(), "ls hung");
                assertNotEquals(0, ls.rc(), ls.out());
                assertTrue(ls.out().contains("Input/output error"), ls.out());
                readsFine(m.dir.resolve("keep1.bin"), baseFiles.get("keep1.bin"));
                readsFine(m.dir.resolve("keep2.txt"), baseFiles.get("keep2.txt"));
            }
            Cowfs.Result f = c.run("fsck").fails(Main.EXIT_DAMAGED);
            assertTrue(f.out().contains("'base'") && f.out().contains(dirObj.shortHex()), "fsck names the name and the chunk: " + f.out());
            assertTrue(f.out().contains("'v'"), "the view on top is damaged too: " + f.out());
            Cowfs.Result v = damaged(c.run("verify"));
            assertTrue(v.out().contains(dirObj.hex()), v.out());
            // gc needs no directory object to know what is reachable: it runs and keeps the damaged one
            c.run("gc").ok();
            assertTrue(c.run("fsck").out().contains(dirObj.shortHex()), "the damage is still there to see");
        }
    }

    /** Exit 5 (damage found); the report itself is on stdout. */
    private static Cowfs.Result damaged(Cowfs.Result r) {
        assertEquals(Main.EXIT_DAMAGED, r.rc(), () -> "expected exit 5; stdout:\n" + r.out() + "\nstderr:\n" + r.err());
        return r;
    }

    // ------------------------------------------------------------------ the index (LMDB)

    /**
     * A damaged LMDB meta page: liblmdb would trust its page size and read past its map, so cowfs
     * checks both meta pages before LMDB opens the file and salvages from the sound one. Each
     * command runs in its own process: reading commands work (with one warning line), writing
     * ones and verify/fsck fail with exit 5 and one line, and fsck --repair rebuilds the index.
     */
    @Test
    void damagedIndexMetaPage() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            setUp(c);
        }
        Path store = tmp.resolve("store");
        Path data = store.resolve("index").resolve("data.mdb");
        for (int i = 16; i < 24; i++) {
            Fx.flipByte(data, i); // meta page 0: magic and version
        }
        for (String cmd : List.of("list", "verify", "fsck", "gc")) {
            Cowfs.Result r = Fx.javaMain(cmd, "--store=" + store);
            assertNotEquals(124, r.rc(), cmd + " hung");
            assertEquals(cmd.equals("list") ? 0 : Main.EXIT_DAMAGED, r.rc(), cmd + " (rc " + r.rc() + "): " + r.err());
            List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
            assertEquals(1, lines.size(), cmd + ": one line: " + r.err());
            assertTrue(lines.get(0).contains("data.mdb") && lines.get(0).contains("damaged"), cmd + ": " + lines.get(0));
        }
        Cowfs.Result f = Fx.javaMain("fsck", "--store=" + store);
        assertTrue(f.out().contains("meta page 0"), "fsck names the damaged page: " + f.out());
        Cowfs.Result rep = Fx.javaMain("fsck", "--repair", "--store=" + store);
        assertEquals(0, rep.rc(), rep.out() + rep.err());
        Cowfs.Result after = Fx.javaMain("fsck", "--store=" + store);
        assertEquals(0, after.rc(), after.out() + after.err());
        Cowfs.Result list = Fx.javaMain("list", "--store=" + store);
        assertEquals(0, list.rc());
        assertTrue(list.err().isBlank(), "no warning once repaired: " + list.err());
    }
}
