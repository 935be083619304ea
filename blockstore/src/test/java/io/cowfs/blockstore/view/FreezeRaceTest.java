package io.cowfs.blockstore.view;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.tree.Importer;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotReader;
import io.cowfs.blockstore.tree.SnapshotRoot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A freeze of a view that its mount goes on writing: the mount stores a block again after the
 * freeze read the view's delta, and a gc collects the block's old chunk before the freeze reads
 * it. The freeze reads the delta again and freezes the view as it is now; a chunk that the view
 * still names and that is gone fails as before.
 */
class FreezeRaceTest {
    static final int BS = Store.DEFAULT_BLOCK_SIZE;

    @TempDir
    Path tmp;

    @AfterEach
    void noHook() {
        Views.afterLoad = () -> {
        };
    }

    private static byte[] random(long seed) {
        byte[] b = new byte[BS];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void aChunkCollectedAfterTheDeltaWasReadIsFrozenAsTheViewIsNow() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Files.write(src.resolve("f"), random(1));
        try (Store store = Store.init(tmp.resolve("store"), BS)) {
            CatalogEntry v;
            try (Store.Lease lease = store.lease()) {
                Importer.Result r = new Importer(store, false, Importer.Progress.NONE, w -> {
                }).run(src);
                v = Views.create(store, new Catalog(store), "v", r.root(), "base");
            }
            SnapshotReader base = new SnapshotReader(store, v.root());
            long ino = base.dir(base.inode(SnapshotRoot.ROOT_INO)).get("f").ino();
            Inode f = base.inode(ino);
            ViewDelta delta = new ViewDelta(store.index());
            byte[] first = random(2);
            byte[] second = random(3);
            ChunkId old = store.put(first, 0, BS, true, false); // not in this process's cache: the mount wrote it
            store.commit(txn -> {
                delta.putInode(txn, v.viewId(), f);
                delta.putBlock(txn, v.viewId(), ino, 0, old);
                return null;
            });
            int[] loads = {0};
            Views.afterLoad = () -> {
                if (loads[0]++ == 0) { // the mount writes the block again, then a gc sweeps the old chunk
                    ChunkId now = store.put(second, 0, BS, true, false);
                    store.commit(txn -> {
                        delta.putBlock(txn, v.viewId(), ino, 0, now);
                        return null;
                    });
                    store.index().write(txn -> store.index().chunks.delete(txn, old.bytes()));
                }
            };
            ChunkId frozen = Views.freeze(store, v);
            assertEquals(2, loads[0], "read the delta again");
            SnapshotReader snap = new SnapshotReader(store, frozen);
            assertArrayEquals(second, store.get(snap.block(snap.inode(ino), 0)), "the view as it is now");

            // a chunk the view still names is really missing: the freeze fails, as before
            loads[0] = 1;
            store.index().write(txn -> store.index().chunks.delete(txn, ChunkId.hash(second).bytes()));
            assertThrows(StoreException.ChunkMissingException.class, () -> Views.freeze(store, v));
            assertEquals(3, loads[0], "not frozen again: the delta read after the error is the same");
        }
    }
}
