package io.cowfs.cli;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.view.ViewDelta;
import io.cowfs.blockstore.run.MountRecord;
import io.cowfs.blockstore.run.MountRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "rm", mixinStandardHelpOptions = true,
        description = {"Remove snapshots and views (their space is reclaimed by 'cowfs gc').",
                "Views and snapshots made from a removed snapshot keep everything they need.",
                "A mounted view or snapshot is refused unless --force, which unmounts it first."})
final class RmCommand extends Base {
    @Parameters(arity = "1..*", paramLabel = "NAME", completionCandidates = StoreNames.class)
    List<String> names;

    @Option(names = {"-f", "--force"}, description = "unmount mounted views and snapshots first")
    boolean force;

    @Override
    public Integer call() throws Exception {
        List<CatalogEntry> entries = new ArrayList<>();
        Map<String, String> mounted = new LinkedHashMap<>(); // name -> mountpoint
        try (Store store = storeOptions.open()) {
            Catalog catalog = new Catalog(store);
            for (String n : names) {
                entries.add(catalog.get(n)); // all names must exist before anything is removed
            }
            for (CatalogEntry e : entries) {
                String mp = mountpoint(store, e);
                if (mp != null) {
                    mounted.put(e.name(), mp);
                }
            }
        }
        // The store is closed here: umount runs in this process, and LMDB must not be open twice in one process.
        for (var m : mounted.entrySet()) {
            if (!force) {
                throw new StoreException.BusyException("'" + m.getKey() + "' is mounted at " + m.getValue()
                        + "; unmount it (cowfs umount " + m.getValue() + ") or use --force");
            }
            int rc = Cli.run(spec, "umount", m.getValue());
            if (rc != 0 || Fuse.isMounted(Path.of(m.getValue()))) {
                throw new StoreException.BusyException("could not unmount '" + m.getKey() + "' at " + m.getValue());
            }
        }
        try (Store store = storeOptions.open()) {
            Catalog catalog = new Catalog(store);
            for (CatalogEntry e : entries) {
                String mp = mountpoint(store, e);
                if (mp != null) {
                    throw new StoreException.BusyException("'" + e.name() + "' was mounted again at " + mp + "; nothing removed");
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
            MountRegistry registry = MountRegistry.of(store);
            for (CatalogEntry e : entries) {
                registry.forget(e.name(), e.isView() ? e.viewId() : 0);
            }
        }
        for (CatalogEntry e : entries) {
            out().println("removed " + (e.isView() ? "view" : "snapshot") + " '" + e.name() + "'");
        }
        out().println("run 'cowfs gc' to reclaim space");
        return 0;
    }

    /** Where the entry is mounted by a live process, or null. */
    private static String mountpoint(Store store, CatalogEntry e) {
        MountRegistry registry = MountRegistry.of(store);
        if (e.isView()) {
            MountRecord m = registry.find(e.viewId());
            return m == null ? null : m.mountpoint();
        }
        for (MountRecord m : registry.live().values()) { // snapshot mounts: negative ids
            if (!m.writable() && e.name().equals(m.name())) {
                return m.mountpoint();
            }
        }
        return null;
    }
}
