package io.cowfs.cli;

import io.cowfs.blockstore.run.MountControl;
import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "snapshot", mixinStandardHelpOptions = true,
        description = {"Freeze a view (mounted or not) into a new immutable snapshot.",
                "It holds every write that returned before the command began; the view stays writable."})
final class SnapshotCommand extends Base {
    @Parameters(index = "0", paramLabel = "VIEW", completionCandidates = StoreNames.class)
    String view;

    @Option(names = "--name", required = true, description = "name of the new snapshot")
    String name;

    @Override
    public Integer call() {
        try (Store store = storeOptions.open()) {
            Catalog catalog = new Catalog(store);
            CatalogEntry v = catalog.get(view);
            if (!v.isView()) {
                throw new StoreException.InvalidRequestException("'" + view + "' is a snapshot already; fork it to get a view");
            }
            catalog.checkFree(name);
            long t0 = System.nanoTime();
            try (Store.Lease lease = store.lease()) {
                ChunkId root = MountControl.freeze(store, v);
                catalog.addSnapshot(name, root, view, "", v);
            }
            out().printf(Locale.ROOT, "snapshot '%s' of view '%s' in %.1f ms%n", name, view, (System.nanoTime() - t0) / 1e6);
            return 0;
        }
    }
}
