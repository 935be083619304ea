package io.cowfs.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.LongNode;
import com.fasterxml.jackson.databind.node.NullNode;
import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.view.Views;
import io.cowfs.blockstore.run.MountRecord;
import io.cowfs.blockstore.run.MountRegistry;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "list", mixinStandardHelpOptions = true, description = "List snapshots and views.")
final class ListCommand extends Base {
    static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneId.systemDefault());

    @Option(names = "--json", description = "print JSON")
    boolean json;

    @Option(names = "--names", description = "print the names only, one a line (what shell completion offers)")
    boolean namesOnly;

    /**
     * One name as list and show print it; the JSON fields are the components, in this order.
     * mountPid is a view's only (null while unmounted); the changed* counts are show's, for views.
     * parentRemoved (in JSON only when true): the name it was made from was removed since, or
     * names a later snapshot or view now; text output shows parent as "NAME (removed)".
     */
    record NameInfo(String name, String kind, String parent,
                    @JsonInclude(JsonInclude.Include.NON_DEFAULT) boolean parentRemoved, String root, long files, long logicalBytes,
                    long createdMillis, String created, @JsonInclude(JsonInclude.Include.NON_EMPTY) String source,
                    boolean mounted, String mountpoint, @JsonInclude(JsonInclude.Include.NON_NULL) JsonNode mountPid,
                    @JsonInclude(JsonInclude.Include.NON_NULL) Long changedInodes,
                    @JsonInclude(JsonInclude.Include.NON_NULL) Long changedNames,
                    @JsonInclude(JsonInclude.Include.NON_NULL) Long changedBlocks) {
        NameInfo withDelta(Views.DeltaSize d) {
            return new NameInfo(name, kind, parent, parentRemoved, root, files, logicalBytes, createdMillis, created, source, mounted,
                    mountpoint, mountPid, d.changedInodes(), d.changedNames(), d.changedBlocks());
        }

        /** The parent as text output shows it: "-" for an import, "NAME (removed)" for a removed one. */
        String parentShown() {
            return parent.isEmpty() ? "-" : parentRemoved ? parent + " (removed)" : parent;
        }
    }

    @Override
    public Integer call() throws Exception {
        try (Store store = openToRead()) {
            if (namesOnly) {
                for (CatalogEntry e : new Catalog(store).list()) {
                    out().println(e.name());
                }
                return 0;
            }
            List<NameInfo> rows = new ArrayList<>();
            Map<Long, MountRecord> mounts = MountRegistry.of(store).live();
            List<CatalogEntry> all = new Catalog(store).list();
            Map<String, CatalogEntry> byName = new java.util.HashMap<>();
            all.forEach(e -> byName.put(e.name(), e));
            for (CatalogEntry e : all) {
                rows.add(describe(store, e, byName.get(e.parent()), mounts));
            }
            if (json) {
                printJson(rows);
                return 0;
            }
            out().printf("%-24s %-8s %-20s %9s %10s %-19s %s%n", "NAME", "KIND", "FROM", "FILES", "SIZE", "CREATED", "MOUNTED");
            for (NameInfo r : rows) {
                out().printf("%-24s %-8s %-20s %9d %10s %-19s %s%n", r.name(), r.kind(),
                        r.parentShown(), r.files(),
                        bytes(r.logicalBytes()), TIME.format(Instant.ofEpochMilli(r.createdMillis())),
                        r.mountpoint() == null ? "-" : r.mountpoint());
            }
            return 0;
        }
    }

    /**
     * e as list and show print it; parent is the catalog's entry under e's parent's name, or null.
     * The parent was removed if there is none, or if it is younger than e (the name was taken again).
     */
    static NameInfo describe(Store store, CatalogEntry e, CatalogEntry parent, Map<Long, MountRecord> mounts) {
        boolean parentRemoved = !e.parent().isEmpty() && (parent == null || parent.createdMillis() > e.createdMillis());
        Views.Size size = Views.size(store, e); // a view: its base adjusted by what it changed so far (persisted)
        String mountpoint;
        JsonNode mountPid = null;
        if (e.isView()) {
            MountRecord mi = mounts.get(e.viewId());
            mountpoint = mi == null ? null : mi.mountpoint();
            mountPid = mi == null ? NullNode.instance : LongNode.valueOf(mi.pid());
        } else {
            List<String> where = mounts.values().stream()
                    .filter(m -> !m.writable() && m.name().equals(e.name()))
                    .map(MountRecord::mountpoint).toList();
            mountpoint = where.isEmpty() ? null : String.join(",", where);
        }
        return new NameInfo(e.name(), e.isView() ? "view" : "snapshot", e.parent(), parentRemoved, e.root().hex(), size.files(),
                size.logicalBytes(), e.createdMillis(), Instant.ofEpochMilli(e.createdMillis()).toString(), e.source(),
                mountpoint != null, mountpoint, mountPid, null, null, null);
    }
}
