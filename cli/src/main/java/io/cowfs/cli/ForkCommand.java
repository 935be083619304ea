package io.cowfs.cli;

import io.cowfs.blockstore.run.MountControl;
import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.view.Views;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "fork", mixinStandardHelpOptions = true,
        description = {"Create a writable view of a snapshot or of a view.",
                "O(1) for a snapshot, whatever the tree size; a view is first frozen, which costs what changed in it."})
final class ForkCommand extends Base {
    @Parameters(index = "0", paramLabel = "SOURCE", completionCandidates = StoreNames.class, description = "snapshot or view to fork")
    String source;

    @Option(names = "--name", required = true, description = "name of the new view")
    String name;

    @Override
    public Integer call() {
        try (Store store = storeOptions.open()) {
            Catalog catalog = new Catalog(store);
            CatalogEntry src = catalog.get(source);
            catalog.checkFree(name);
            long t0 = System.nanoTime();
            if (src.isView()) {
                try (Store.Lease lease = store.lease()) { // the chunks the freeze writes, until the view names them
                    Views.create(store, catalog, name, MountControl.freeze(store, src), source, src);
                }
            } else { // one commit, which checks that the snapshot is still there (Catalog.requireUnchanged)
                Views.create(store, catalog, name, src.root(), source, src);
            }
            out().printf(Locale.ROOT, "forked view '%s' from %s '%s' in %.1f ms%n", name,
                    src.isView() ? "view" : "snapshot", source, (System.nanoTime() - t0) / 1e6);
            return 0;
        }
    }
}
