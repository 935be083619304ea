package io.cowfs.blockstore.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.Importer;
import io.cowfs.blockstore.view.Views;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Holds on a view (MountRegistry.hold: gc folding its delta chains, a freeze reading its delta):
 * one at a time, none while it is mounted; a mount or a freeze that meets a hold waits for it
 * instead of failing or reading a delta that gc is rewriting.
 */
class ViewHoldTest {
    @TempDir
    Path tmp;

    private CatalogEntry view(Store store) throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Files.writeString(src.resolve("f"), "f\n");
        try (Store.Lease lease = store.lease()) {
            Importer.Result r = new Importer(store, false, Importer.Progress.NONE, w -> {
            }).run(src);
            return Views.create(store, new Catalog(store), "v", r.root(), "base");
        }
    }

    @Test
    void aHoldExcludesOtherHoldsAndMountsWaitForIt() throws Exception {
        try (Store store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE)) {
            CatalogEntry v = view(store);
            MountRegistry registry = MountRegistry.of(store);
            MountRegistry.Claim hold = registry.hold(v.viewId());
            assertNotNull(hold);
            assertNull(registry.hold(v.viewId()), "one hold at a time");
            long t0 = System.nanoTime();
            CompletableFuture<MountRegistry.Claim> mount = CompletableFuture.supplyAsync(
                    () -> registry.claim(v.viewId(), "v", tmp.resolve("mp")));
            Thread.sleep(300);
            assertTrue(!mount.isDone(), "the mount waits while the view is held");
            hold.close();
            try (MountRegistry.Claim m = mount.get(10, TimeUnit.SECONDS)) {
                assertTrue(System.nanoTime() - t0 >= 250_000_000L);
                assertNotNull(registry.find(v.viewId()), "mounted now");
                assertNull(registry.hold(v.viewId()), "no hold on a mounted view");
            }
            try (MountRegistry.Claim again = registry.hold(v.viewId())) {
                assertNotNull(again, "held again once unmounted");
            }
        }
    }

    /**
     * A hold in the process of a mount of the view is refused and leaves the mount's lock: another
     * process is still refused the view's lock file (gc folding the mounted view's chains, a
     * second mount), until the mount ends. With a POSIX lock the refused hold's close dropped it.
     */
    @Test
    void aHoldRefusedInTheMountsOwnProcessLeavesTheMountsLock() throws Exception {
        io.cowfs.blockstore.OtherProcess.assumePython();
        try (Store store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE)) {
            CatalogEntry v = view(store);
            MountRegistry registry = MountRegistry.of(store);
            Path lock = registry.lockFile(v.viewId());
            try (MountRegistry.Claim mount = registry.claim(v.viewId(), "v", tmp.resolve("mp"))) {
                assertNull(registry.hold(v.viewId()), "held by the mount, in this process too");
                assertEquals(io.cowfs.blockstore.OtherProcess.REFUSED, io.cowfs.blockstore.OtherProcess.lockf(lock), "another process is still refused the mounted view");
                assertNull(registry.hold(v.viewId()), "still held");
            }
            assertEquals(0, io.cowfs.blockstore.OtherProcess.lockf(lock), "granted once the mount ends");
            try (MountRegistry.Claim hold = registry.hold(v.viewId())) {
                assertNotNull(hold);
                assertNull(registry.hold(v.viewId()), "one hold at a time");
                assertEquals(io.cowfs.blockstore.OtherProcess.REFUSED, io.cowfs.blockstore.OtherProcess.lockf(lock), "the refused second hold left the first");
            }
        }
    }

    @Test
    void aFreezeOfAnUnmountedViewWaitsForAHold() throws Exception {
        try (Store store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE)) {
            CatalogEntry v = view(store);
            MountRegistry registry = MountRegistry.of(store);
            MountRegistry.Claim hold = registry.hold(v.viewId());
            long t0 = System.nanoTime();
            CompletableFuture<ChunkId> frozen = CompletableFuture.supplyAsync(() -> MountControl.freeze(store, v));
            Thread.sleep(300);
            assertTrue(!frozen.isDone(), "the freeze waits while the view is held");
            hold.close();
            assertEquals(v.root(), frozen.get(10, TimeUnit.SECONDS), "an unchanged view freezes to its base");
            assertTrue(System.nanoTime() - t0 >= 250_000_000L);
            try (MountRegistry.Claim again = registry.hold(v.viewId())) {
                assertNotNull(again, "the freeze let go of the view");
            }
        }
    }
}
