package io.cowfs.cli;

import io.cowfs.blockstore.run.MountControl;
import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.SnapshotReader;
import io.cowfs.blockstore.tree.TreeDiff;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "diff", mixinStandardHelpOptions = true,
        description = {"Paths that differ between two snapshots or views.",
                "Each line: A added, D removed, M content (or type) modified, m metadata only (mode, owner, mtime, xattrs).",
                "A path holding a control character (a newline, a tab), a backslash or a double quote is printed",
                "in double quotes with C escapes, as git does; --json gives every path as it is."})
final class DiffCommand extends Base {
    @Parameters(index = "0", paramLabel = "A", completionCandidates = StoreNames.class)
    String from;

    @Parameters(index = "1", paramLabel = "B", completionCandidates = StoreNames.class)
    String to;

    @Option(names = "--json", description = "print JSON")
    boolean json;

    /** diff --json: one changed path. */
    record Change(String change, String path, String type) {
    }

    @Override
    public Integer call() throws Exception {
        try (Store store = openToRead()) {
            Catalog catalog = new Catalog(store);
            CatalogEntry a = catalog.get(from);
            CatalogEntry b = catalog.get(to);
            for (CatalogEntry e : List.of(a, b)) {
                if (e.isView()) {
                    store.requireWritable("diffing view '" + e.name() + "' (it is frozen first)");
                }
            }
            List<TreeDiff.Change> changes;
            try (Store.Lease lease = store.lease()) {
                ChunkId ra = a.isView() ? MountControl.freeze(store, a) : a.root();
                ChunkId rb = b.isView() ? MountControl.freeze(store, b) : b.root();
                changes = new TreeDiff(new SnapshotReader(store, ra), new SnapshotReader(store, rb)).run();
            }
            if (json) {
                printJson(changes.stream().map(c -> new Change(c.kind().name().toLowerCase(), c.path(),
                        c.type().name().toLowerCase())).toList());
            } else {
                for (TreeDiff.Change c : changes) {
                    String k = switch (c.kind()) {
                        case ADDED -> "A";
                        case REMOVED -> "D";
                        case MODIFIED -> "M";
                        case METADATA -> "m";
                    };
                    boolean dir = c.type() == io.cowfs.blockstore.tree.FileType.DIRECTORY && !c.path().equals("/");
                    out().println(k + " " + quoted(c.path() + (dir ? "/" : "")));
                }
            }
            return 0;
        }
    }

    /**
     * A path as git prints one: as it is, or, if it holds a control character, a backslash or a
     * double quote, in double quotes with C escapes, so that one line is always one path (a name
     * may hold a newline).
     */
    static String quoted(String path) {
        if (path.chars().noneMatch(ch -> ch < 0x20 || ch == 0x7f || ch == '\\' || ch == '"')) {
            return path;
        }
        StringBuilder b = new StringBuilder("\"");
        for (char ch : path.toCharArray()) {
            switch (ch) {
                case '\n' -> b.append("\\n");
                case '\t' -> b.append("\\t");
                case '\r' -> b.append("\\r");
                case '\\' -> b.append("\\\\");
                case '"' -> b.append("\\\"");
                default -> {
                    if (ch < 0x20 || ch == 0x7f) {
                        b.append(String.format("\\%03o", (int) ch));
                    } else {
                        b.append(ch);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
