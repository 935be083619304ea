package io.cowfs.cli;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.view.Views;
import io.cowfs.blockstore.run.MountRegistry;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "show", mixinStandardHelpOptions = true, description = "Show one snapshot or view.")
final class ShowCommand extends Base {
    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = StoreNames.class)
    String name;

    @Option(names = "--json", description = "print JSON")
    boolean json;

    @Override
    public Integer call() throws Exception {
        try (Store store = openToRead()) {
            Catalog catalog = new Catalog(store);
            CatalogEntry e = catalog.get(name);
            CatalogEntry parent = e.parent().isEmpty() ? null : catalog.find(e.parent());
            ListCommand.NameInfo info = ListCommand.describe(store, e, parent, MountRegistry.of(store).live());
            if (e.isView()) {
                info = info.withDelta(Views.deltaSize(store, e));
            }
            if (json) {
                printJson(info);
            } else {
                // the same fields as the JSON, one a line, without the empty ones (a removed parent: "parent: NAME (removed)")
                for (Map.Entry<String, Object> x : jsonFields(info).entrySet()) {
                    if (x.getValue() != null && !x.getKey().equals("createdMillis") && !x.getKey().equals("parentRemoved")) {
                        Object v = x.getKey().equals("logicalBytes") ? x.getValue() + " (" + bytes(info.logicalBytes()) + ")"
                                : x.getKey().equals("parent") && info.parentRemoved() ? info.parentShown() : x.getValue();
                        out().printf("%-15s %s%n", x.getKey() + ":", v);
                    }
                }
            }
            return 0;
        }
    }
}
