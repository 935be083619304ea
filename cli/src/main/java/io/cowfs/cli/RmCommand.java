package io.cowfs.cli;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.view.ViewDelta;
import io.cowfs.fusefs.mount.MountRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "rm", mixinStandardHelpOptions = true,
        description = {"Remove snapshots and views (their space is reclaimed by 'cowfs gc').",
                "Views and snapshots made from a removed snapshot keep everything they need.",
                "A mounted view is refused unless --force, which unmounts it first."})
final class RmCommand extends Base {
    @Parameters(arity = "1..*", paramLabel = "NAME")
    List<String> names;

    @Option(names = {"-f", "--force"}, description = "unmount mounted views first")
    boolean force;

    @Override
    public Integer call() throws Exception {
        try (Store store = storeOptions.open()) {
            Catalog catalog = new Catalog(store);
            List<CatalogEntry> entries = new ArrayList<>();
            for (String n : names) {
                entries.add(catalog.get(n)); // all names must exist before anything is removed
            }
            for (CatalogEntry e : entries) {
                if (!e.isView()) {
                    continue;
                }
                MountRegistry.MountInfo m = MountRegistry.find(store, e.viewId());
                if (m == null) {
                    continue;
                }
                if (!force) {
                    throw new StoreException.BusyException("view '" + e.name() + "' is mounted at " + m.mountpoint()
                            + "; unmount it (cowfs umount " + m.mountpoint() + ") or use --force");
                }
                int rc = Cli.run(spec, "umount", m.mountpoint());
                if (rc != 0 || MountRegistry.find(store, e.viewId()) != null) {
                    throw new StoreException.BusyException("could not unmount view '" + e.name() + "' at " + m.mountpoint());
                }
            }
            ViewDelta delta = new ViewDelta(store.index());
            store.index().write(txn -> {
                for (CatalogEntry e : entries) {
                    if (catalog.find(txn, e.name()) == null) {
                        continue; // removed concurrently
                    }
                    catalog.remove(txn, e.name());
                    if (e.isView()) {
                        delta.drop(txn, e.viewId());
                    }
                }
                return null;
            });
            for (CatalogEntry e : entries) {
                Path run = store.dir().resolve("run");
                java.nio.file.Files.deleteIfExists(run.resolve(e.name() + ".log"));
                if (e.isView()) {
                    java.nio.file.Files.deleteIfExists(run.resolve("view-" + e.viewId() + ".lock"));
                }
                out().println("removed " + (e.isView() ? "view" : "snapshot") + " '" + e.name() + "'");
            }
            out().println("run 'cowfs gc' to reclaim space");
            return 0;
        }
    }
}
