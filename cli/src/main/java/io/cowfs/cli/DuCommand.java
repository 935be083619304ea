package io.cowfs.cli;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.gc.Usage;
import io.cowfs.blockstore.store.Store;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "du", mixinStandardHelpOptions = true,
        description = {"Exact space per snapshot and view, and what removing each would free.",
                "Columns: logical size, stored bytes it shares with other names, and stored bytes only it holds",
                "(what 'rm NAME' + 'gc' would free)."})
final class DuCommand extends Base {
    @Parameters(arity = "0..*", paramLabel = "NAME", completionCandidates = StoreNames.class, description = "names to show (default: all)")
    List<String> names;

    @Option(names = "--json", description = "print JSON")
    boolean json;

    /** du --json: one name's numbers, fields in this order. */
    record Row(String name, String kind, long files, long logicalBytes, long referencedBytes, long sharedBytes,
               long exclusiveBytes, long chunks) {
    }

    @Override
    public Integer call() throws Exception {
        try (Store store = openToRead()) {
            Catalog catalog = new Catalog(store);
            if (names != null) {
                names.forEach(catalog::get);
            }
            List<Usage.Row> rows = new Usage(store).compute().stream()
                    .filter(r -> names == null || names.contains(r.name())).toList();
            if (json) {
                printJson(rows.stream().map(r -> new Row(r.name(), r.view() ? "view" : "snapshot", r.files(), r.logicalBytes(),
                        r.referencedBytes(), r.sharedBytes(), r.exclusiveBytes(), r.chunks())).toList());
                return 0;
            }
            out().printf("%-24s %-8s %9s %11s %11s %11s %11s%n", "NAME", "KIND", "FILES", "LOGICAL", "STORED", "SHARED", "EXCLUSIVE");
            for (Usage.Row r : rows) {
                out().printf("%-24s %-8s %9d %11s %11s %11s %11s%n", r.name(), r.view() ? "view" : "snapshot", r.files(),
                        bytes(r.logicalBytes()), bytes(r.referencedBytes()), bytes(r.sharedBytes()), bytes(r.exclusiveBytes()));
            }
            return 0;
        }
    }
}
