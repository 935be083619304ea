package io.cowfs.blockstore.view;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.gc.GarbageCollector;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.tree.Importer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fork (or a snapshot of a view) reads its source's entry, then names the root it read in a
 * commit of its own. If the source is removed and a gc sweeps between the two, the commit must
 * fail instead of naming chunks that are gone; a lease does not keep them (it keeps only chunks
 * stamped after it), so the commit checks the source's entry in its own transaction
 * (Catalog.requireUnchanged). Real LMDB index and packs, the real gc.
 */
class ForkRaceTest {
    @TempDir
    Path tmp;

    private CatalogEntry importBase(Store store, Catalog catalog) throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        byte[] b = new byte[3 * Store.DEFAULT_BLOCK_SIZE];
        new Random(5).nextBytes(b);
        Files.write(src.resolve("f"), b);
        try (Store.Lease lease = store.lease()) {
            Importer.Result r = new Importer(store, false, Importer.Progress.NONE, w -> {
            }).run(src);
            return catalog.addSnapshot("base", r.root(), "", src.toString());
        }
    }

    private static void removeAndCollect(Store store, Catalog catalog, String name) {
        store.index().write(txn -> catalog.remove(txn, name));
        assertTrue(new GarbageCollector(store).run(n -> {
        }).chunksDeleted() > 0, "the gc collected the source's chunks");
    }

    @Test
    void aForkOfASnapshotRemovedAndCollectedMeanwhileFailsAndCreatesNothing() throws Exception {
        try (Store store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE)) {
            Catalog catalog = new Catalog(store);
            CatalogEntry src = importBase(store, catalog);
            CatalogEntry read = catalog.get("base"); // what fork read
            removeAndCollect(store, catalog, "base");
            StoreException e = assertThrows(StoreException.NotFoundException.class,
                    () -> Views.create(store, catalog, "v", read.root(), "base", read));
            assertTrue(e.getMessage().contains("'base' was removed or replaced"), e.getMessage());
            assertNull(catalog.find("v"), "no view naming collected chunks");
            assertEquals(src, read);
        }
    }

    @Test
    void aForkOfASnapshotReplacedByAnotherOfTheSameNameFails() throws Exception {
        try (Store store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE)) {
            Catalog catalog = new Catalog(store);
            CatalogEntry read = importBase(store, catalog);
            store.index().write(txn -> catalog.remove(txn, "base"));
            Files.writeString(tmp.resolve("src/g"), "another tree");
            importBase(store, catalog); // same name, another root
            assertThrows(StoreException.NotFoundException.class, () -> Views.create(store, catalog, "v", read.root(), "base", read));
            assertNull(catalog.find("v"));
        }
    }

    @Test
    void aSnapshotOfAViewRemovedAndCollectedMeanwhileFailsAndCreatesNothing() throws Exception {
        try (Store store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE)) {
            Catalog catalog = new Catalog(store);
            CatalogEntry base = importBase(store, catalog);
            CatalogEntry view = Views.create(store, catalog, "v", base.root(), "base", base);
            store.index().write(txn -> catalog.remove(txn, "base")); // the view alone keeps the base now
            Path other = Files.createDirectories(tmp.resolve("other"));
            Files.writeString(other.resolve("g"), "written after the base");
            try (Store.Lease lease = store.lease()) { // a later commit of chunks: the base's are older than the lease taken next
                catalog.addSnapshot("other", new Importer(store, false, Importer.Progress.NONE, w -> {
                }).run(other).root(), "", other.toString());
            }
            try (Store.Lease lease = store.lease()) {
                var root = Views.freeze(store, view); // unchanged view: its base root
                removeAndCollect(store, catalog, "v");
                assertThrows(StoreException.NotFoundException.class, () -> catalog.addSnapshot("s", root, "v", "", view));
            }
            assertNull(catalog.find("s"));
        }
    }

    @Test
    void aForkWhoseSourceIsUnchangedIsCreated() throws Exception {
        try (Store store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE)) {
            Catalog catalog = new Catalog(store);
            CatalogEntry base = importBase(store, catalog);
            CatalogEntry v = Views.create(store, catalog, "v", base.root(), "base", base);
            assertEquals(v, catalog.find("v"));
            assertEquals(base.root(), v.root());
            assertEquals(0, new GarbageCollector(store).run(n -> {
            }).chunksDeleted(), "the view keeps its base");
        }
    }
}
