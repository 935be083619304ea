package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.Packs;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * fsck walks all names at once, reading each shared page once; a damaged object must still be
 * reported for every name that needs it, and only for those. Layout: snapshots 's1' and 's2'
 * both hold shared.bin and dir/ (s2 has one file more), 's3' holds neither; view 'v1' is a fork
 * of s1, view 'v3' a fork of s3 that wrote a copy of shared.bin (so only its delta needs those
 * blocks). s1 is walked first, so every other name meets the damage only through pages s1's
 * walk already read.
 */
class FsckAttributionTest {
    @TempDir
    Path tmp;

    private static final int KB = 1024;
    private final byte[] shared = Fx.random(61, 300 * KB); // 5 blocks: a list page of its own (up to 4 live in the inode)
    private Cowfs c;

    @BeforeEach
    void store() throws Exception {
        Map<String, byte[]> one = new LinkedHashMap<>();
        one.put("shared.bin", shared);
        one.put("dir/common.txt", "common\n".repeat(100).getBytes());
        one.put("dir/sub/deep.bin", Fx.random(62, 70 * KB));
        Fx.writeTree(tmp.resolve("src1"), one);
        Map<String, byte[]> two = new LinkedHashMap<>(one);
        two.put("zz-only-in-s2.txt", "two\n".getBytes());
        Fx.writeTree(tmp.resolve("src2"), two);
        Fx.writeTree(tmp.resolve("src3"), Map.of("other.bin", Fx.random(63, 100 * KB), "dir2/x.txt", "x\n".getBytes()));
        c = new Cowfs(tmp);
        c.run("import", tmp.resolve("src1").toString(), "--name", "s1").ok();
        c.run("import", tmp.resolve("src2").toString(), "--name", "s2").ok();
        c.run("import", tmp.resolve("src3").toString(), "--name", "s3").ok();
        c.run("fork", "s1", "--name", "v1").ok();
        c.run("fork", "s3", "--name", "v3").ok();
        Fx.inView(c.store, "v3", v -> v.put("copy-of-shared.bin", shared));
        c.run("fsck").ok();
    }

    @Test
    void aMissingBlockIsNamedForEveryNameThatNeedsIt() throws Exception {
        ChunkId block = ChunkId.hash(shared, 64 * KB, 64 * KB);
        unindex(block);

        Cowfs.Result f = c.run("fsck", "--json").fails(Main.EXIT_DAMAGED);
        assertEquals(List.of("s1", "s2", "v1", "v3"), named(f, "needs chunk " + block.hex() + " which the index lacks"), f.out());
        assertEquals(4, problems(f).size(), f.out());
        c.run("fsck").fails(Main.EXIT_DAMAGED); // the text report too

        // the record is still in its pack: --repair indexes it again, once (for the first name)
        Cowfs.Result r = c.run("fsck", "--repair", "--json").ok();
        assertEquals(List.of("s1"), named(r, "needs chunk " + block.hex()), r.out());
        assertTrue(problemNodes(r).get(0).get("repaired").asBoolean(), r.out());
        c.run("fsck").ok();
        assertEquals(Fx.hashTree(tmp.resolve("src2")), Fx.exported(c, "s2"));
    }

    @Test
    void anUnreadableBlockListPageStopsTheWalkOfEveryNameThatNeedsIt() throws Exception {
        ChunkId page;
        try (Store s = Store.open(c.store)) {
            SnapshotReader r = new SnapshotReader(s, new Catalog(s).get("s1").root());
            Inode file = r.inode(r.dir(r.inode(1)).get("shared.bin").ino());
            page = file.blockPages.get(0);
        }
        unindex(page);

        Cowfs.Result f = c.run("fsck", "--json").fails(Main.EXIT_DAMAGED);
        assertEquals(List.of("s1", "s2", "v1"), named(f, "cannot be walked"), f.out());
        assertTrue(problems(f).stream().filter(p -> p.contains("cannot be walked")).allMatch(p -> p.contains(page.shortHex())), f.out());
        assertEquals(List.of("s1", "s2", "v1"), named(f, "needs chunk " + page.hex()), f.out());
        // v3's copy lists its blocks in its delta; s3 shares nothing with shared.bin
        assertEquals(6, problems(f).size(), f.out());
    }

    @Test
    void anUnreadableDirectoryObjectIsNamedForEveryNameThatNeedsIt() throws Exception {
        ChunkId dir;
        ChunkLocation loc;
        try (Store s = Store.open(c.store)) {
            Catalog cat = new Catalog(s);
            dir = dirObject(s, cat.get("s1").root(), "dir");
            assertEquals(dir, dirObject(s, cat.get("s2").root(), "dir"), "s1 and s2 share the directory object of dir/");
            loc = s.locate(dir);
        }
        Fx.flipByte(c.store.resolve("packs").resolve(Packs.fileName(loc.pack())), loc.offset() + PackRecord.HEADER + loc.storedLen() - 1);

        Cowfs.Result f = c.run("fsck", "--json").fails(Main.EXIT_DAMAGED);
        assertEquals(List.of("s1", "s2", "v1"), named(f, "has an unreadable directory object"), f.out());
        assertTrue(problems(f).stream().allMatch(p -> p.contains(dir.shortHex())), f.out());
        assertEquals(3, problems(f).size(), f.out());
    }

    private static ChunkId dirObject(Store s, ChunkId root, String name) {
        SnapshotReader r = new SnapshotReader(s, root);
        return r.inode(r.dir(r.inode(1)).get(name).ino()).dirObject;
    }

    /** Deletes a chunk's index entry; its record stays in the pack. */
    private void unindex(ChunkId id) {
        try (Store s = Store.open(c.store)) {
            s.index().write(txn -> {
                assertTrue(s.index().chunks.delete(txn, id.bytes()), "indexed: " + id.hex());
                return null;
            });
        }
    }

    private static List<String> problems(Cowfs.Result r) {
        List<String> out = new ArrayList<>();
        for (JsonNode p : Fx.json(r).get("problems")) {
            out.add(p.get("problem").asText());
        }
        return out;
    }

    private static List<JsonNode> problemNodes(Cowfs.Result r) {
        List<JsonNode> out = new ArrayList<>();
        Fx.json(r).get("problems").forEach(out::add);
        return out;
    }

    /** The names (first quoted word) of the problems that contain fragment, in report order. */
    private static List<String> named(Cowfs.Result r, String fragment) {
        Pattern name = Pattern.compile("'([^']+)'");
        List<String> out = new ArrayList<>();
        for (String p : problems(r)) {
            if (p.contains(fragment)) {
                Matcher m = name.matcher(p);
                assertTrue(m.find(), p);
                out.add(m.group(1));
            }
        }
        return out;
    }
}
