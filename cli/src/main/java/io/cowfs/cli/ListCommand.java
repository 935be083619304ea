package io.cowfs.cli;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.SnapshotRoot;
import io.cowfs.blockstore.run.MountRecord;
import io.cowfs.blockstore.run.MountRegistry;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "list", mixinStandardHelpOptions = true, description = "List snapshots and views.")
final class ListCommand extends Base {
    static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneId.systemDefault());

    @Option(names = "--json", description = "print JSON")
    boolean json;

    @Override
    public Integer call() throws Exception {
        try (Store store = openToRead()) {
            List<Map<String, Object>> rows = new ArrayList<>();
            Map<Long, MountRecord> mounts = MountRegistry.of(store).live();
            for (CatalogEntry e : new Catalog(store).list()) {
                rows.add(describe(store, e, mounts));
            }
            if (json) {
                printJson(rows);
                return 0;
            }
            out().printf("%-24s %-8s %-20s %9s %10s %-19s %s%n", "NAME", "KIND", "FROM", "FILES", "SIZE", "CREATED", "MOUNTED");
            for (Map<String, Object> r : rows) {
                out().printf("%-24s %-8s %-20s %9d %10s %-19s %s%n", r.get("name"), r.get("kind"),
                        r.get("parent").toString().isEmpty() ? "-" : r.get("parent"), (Long) r.get("files"),
                        bytes((Long) r.get("logicalBytes")), TIME.format(Instant.ofEpochMilli((Long) r.get("createdMillis"))),
                        r.get("mountpoint") == null ? "-" : r.get("mountpoint"));
            }
            return 0;
        }
    }

    static Map<String, Object> describe(Store store, CatalogEntry e, Map<Long, MountRecord> mounts) {
        SnapshotRoot root = SnapshotRoot.decode(store.get(e.root()));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", e.name());
        m.put("kind", e.isView() ? "view" : "snapshot");
        m.put("parent", e.parent());
        m.put("root", e.root().hex());
        long[] fb = e.isView() ? io.cowfs.blockstore.view.Views.filesAndBytes(store, e) : new long[] {root.files(), root.logicalBytes()};
        m.put("files", fb[0]); // a view: its base adjusted by what it changed so far (persisted)
        m.put("logicalBytes", fb[1]);
        m.put("createdMillis", e.createdMillis());
        m.put("created", Instant.ofEpochMilli(e.createdMillis()).toString());
        if (!e.source().isEmpty()) {
            m.put("source", e.source());
        }
        if (e.isView()) {
            MountRecord mi = mounts.get(e.viewId());
            m.put("mounted", mi != null);
            m.put("mountpoint", mi == null ? null : mi.mountpoint());
            m.put("mountPid", mi == null ? null : mi.pid());
        } else {
            List<String> where = mounts.entrySet().stream()
                    .filter(x -> x.getKey() < 0 && x.getValue().name().equals(e.name()))
                    .map(x -> x.getValue().mountpoint()).toList();
            m.put("mounted", !where.isEmpty());
            m.put("mountpoint", where.isEmpty() ? null : String.join(",", where));
        }
        return m;
    }
}
