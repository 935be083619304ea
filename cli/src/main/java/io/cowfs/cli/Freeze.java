package io.cowfs.cli;

import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.view.Views;
import io.cowfs.fusefs.mount.ControlServer;
import io.cowfs.fusefs.mount.MountRegistry;
import java.io.IOException;

/** Freezing a view, mounted or not: a mounted view is first asked to persist what it holds. */
final class Freeze {
    private Freeze() {
    }

    static ChunkId freeze(Store store, CatalogEntry view) {
        MountRegistry.MountInfo m = MountRegistry.find(store, view.viewId());
        if (m != null) {
            String answer;
            try {
                answer = ControlServer.send(MountRegistry.socketFile(store, view.viewId()), "persist");
            } catch (IOException e) {
                throw new StoreException("view '" + view.name() + "' is mounted at " + m.mountpoint()
                        + " but its mount does not answer (" + e.getMessage() + ")");
            }
            if (!answer.equals("ok")) {
                throw new StoreException("the mount of view '" + view.name() + "' could not persist: " + answer);
            }
        }
        return Views.freeze(store, view);
    }
}
