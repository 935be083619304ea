package io.cowfs.blockstore.tree;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.gc.ObjectGraph;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Format 6: a block list of 1 to {@link BlockList#INLINE} entries is kept in the inode, so a
 * small file is one chunk. Longer lists, empty files and stores of format 5 keep pages; the
 * object graph (gc, verify, push, pull) names inline blocks; the encoding round-trips and a
 * malformed one is refused.
 */
class InlineBlockListTest {
    static final int BS = 4096;

    @TempDir
    Path tmp;

    private static byte[] random(int seed, int len) {
        byte[] b = new byte[len];
        new Random(seed).nextBytes(b);
        return b;
    }

    private Path tree() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Files.write(src.resolve("one"), random(1, 10));
        byte[] holey = new byte[4 * BS]; // data, hole, data, data: 4 entries
        System.arraycopy(random(2, BS), 0, holey, 0, BS);
        System.arraycopy(random(3, 2 * BS), 0, holey, 2 * BS, 2 * BS);
        Files.write(src.resolve("holey"), holey);
        Files.write(src.resolve("five"), random(4, 5 * BS));
        Files.write(src.resolve("empty"), new byte[0]);
        return src;
    }

    /** Imports src as snapshot name, committed as the CLI commits it. */
    private static ChunkId commit(Store store, Path src, String name) {
        try (Store.Lease lease = store.lease()) {
            ChunkId root = new Importer(store, false, Importer.Progress.NONE, w -> {
            }).run(src).root();
            new io.cowfs.blockstore.catalog.Catalog(store).addSnapshot(name, root, "", src.toString());
            return root;
        }
    }

    private static Inode inode(SnapshotReader r, String name) {
        return r.inode(r.dir(r.inode(1)).get(name).ino());
    }

    @Test
    void shortListsLiveInTheInodeAndEveryToolSeesTheirBlocks() throws Exception {
        Path src = tree();
        try (Store store = Store.init(tmp.resolve("store"), BS)) {
            assertTrue(store.format() >= Store.FORMAT_INLINE_LISTS, "a new store has inline lists: " + store.format());
            ChunkId root = new Importer(store, false, Importer.Progress.NONE, w -> {
            }).run(src).root();
            SnapshotReader r = new SnapshotReader(store, root);
            Inode one = inode(r, "one");
            Inode holey = inode(r, "holey");
            assertEquals(1, one.inlineBlocks.length);
            assertTrue(one.blockPages.isEmpty());
            assertEquals(4, holey.inlineBlocks.length);
            assertNull(holey.inlineBlocks[1], "a hole");
            assertNull(r.block(holey, 1));
            assertNotNull(r.block(holey, 3));
            assertNull(r.block(holey, 4), "past the list");
            assertNull(inode(r, "five").inlineBlocks);
            assertEquals(1, inode(r, "five").blockPages.size());
            assertNull(inode(r, "empty").inlineBlocks);
            assertArrayEquals(random(1, 10), store.get(r.block(one, 0)));

            // the object graph names every block, inline or listed, so gc keeps them
            Set<ChunkId> blocks = new HashSet<>();
            int[] pages = {0};
            new ObjectGraph(store).snapshot(root, (kind, id, from) -> {
                if (kind == ObjectGraph.Kind.BLOCK) {
                    blocks.add(id);
                } else if (kind == ObjectGraph.Kind.BLOCK_PAGE) {
                    pages[0]++;
                }
                return ObjectGraph.Step.WALK;
            });
            assertTrue(blocks.contains(r.block(one, 0)));
            assertTrue(blocks.contains(r.block(holey, 0)) && blocks.contains(r.block(holey, 3)));
            assertTrue(blocks.contains(r.block(inode(r, "five"), 4)));
            assertEquals(1, pages[0], "one page object: the five-block file's");

            // encoding round trip, and copies do not share the array
            Inode back = Inode.decode(holey.ino, holey.encode());
            assertArrayEquals(holey.inlineBlocks, back.inlineBlocks);
            assertEquals(holey.listHash(), back.listHash());
            Inode copy = holey.copy();
            copy.inlineBlocks[0] = null;
            assertNotNull(holey.inlineBlocks[0]);

            // a malformed inline list (here: 5 entries) is refused, not misread
            byte[] enc = holey.encode();
            Inode bad = holey.copy();
            bad.inlineBlocks = new ChunkId[] {null, null, null, null, null};
            assertThrows(StoreException.class, () -> Inode.decode(1, bad.encode()));
            assertTrue(enc.length < bad.encode().length + 200);
        }
    }

    @Test
    void aFormat5StoreWritesPagesUntilUpgraded() throws Exception {
        Path src = tree();
        Path dir = tmp.resolve("store");
        Store.init(dir, BS).close();
        Path props = dir.resolve(Store.FORMAT_FILE);
        Files.writeString(props, Files.readString(props).replace("format=" + Store.FORMAT, "format=5"));
        ChunkId before;
        try (Store store = Store.open(dir)) {
            assertEquals(5, store.format());
            before = commit(store, src, "before");
            SnapshotReader r = new SnapshotReader(store, before);
            assertNull(inode(r, "one").inlineBlocks, "an older build must still read this store");
            assertEquals(1, inode(r, "one").blockPages.size());
            assertEquals(5, store.upgrade());
        }
        try (Store store = Store.open(dir)) {
            assertEquals(Store.FORMAT, store.format());
            ChunkId after = commit(store, src, "after");
            SnapshotReader old = new SnapshotReader(store, before);
            SnapshotReader now = new SnapshotReader(store, after);
            assertNotNull(inode(now, "one").inlineBlocks);
            assertEquals(old.block(inode(old, "holey"), 3), now.block(inode(now, "holey"), 3), "the same chunk, listed either way");
        }
    }
}
