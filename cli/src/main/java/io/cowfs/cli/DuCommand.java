package io.cowfs.cli;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.gc.Usage;
import io.cowfs.blockstore.store.Store;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "du", mixinStandardHelpOptions = true,
        description = {"Exact space per snapshot and view: logical size, stored bytes it shares with other names,",
                "and stored bytes only it holds (what 'rm NAME' + 'gc' would free)."})
final class DuCommand extends Base {
    @Parameters(arity = "0..*", paramLabel = "NAME", description = "names to show (default: all)")
    List<String> names;

    @Option(names = "--json", description = "print JSON")
    boolean json;

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
                printJson(rows.stream().map(r -> {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("name", r.name());
                    m.put("kind", r.view() ? "view" : "snapshot");
                    m.put("files", r.files());
                    m.put("logicalBytes", r.logicalBytes());
                    m.put("referencedBytes", r.referencedBytes());
                    m.put("sharedBytes", r.sharedBytes());
                    m.put("exclusiveBytes", r.exclusiveBytes());
                    m.put("chunks", r.chunks());
                    return m;
                }).toList());
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
