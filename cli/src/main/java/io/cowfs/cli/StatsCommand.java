package io.cowfs.cli;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreStats;
import io.cowfs.blockstore.tree.SnapshotRoot;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "stats", mixinStandardHelpOptions = true,
        description = "What the store holds and what sharing and compression save.")
final class StatsCommand extends Base {
    @Option(names = "--json", description = "print JSON")
    boolean json;

    /** stats --json, fields in this order; a ratio of nothing is null, not the string "NaN". */
    record Report(String store, int blockSize, int snapshots, int views, long logicalBytes, long chunks, long uniqueRawBytes,
                  long storedBytes, long packFiles, long packBytes, long indexBytes, Double dedupRatio, Double compressionRatio,
                  Double totalSavingRatio) {
    }

    private static Double finite(double r) {
        return Double.isFinite(r) ? r : null;
    }

    @Override
    public Integer call() throws Exception {
        try (Store store = openToRead()) {
            long logical = 0;
            int snapshots = 0;
            int views = 0;
            for (CatalogEntry e : new Catalog(store).list()) {
                logical += io.cowfs.blockstore.view.Views.size(store, e).logicalBytes();
                if (e.isView()) {
                    views++;
                } else {
                    snapshots++;
                }
            }
            StoreStats s = StoreStats.of(store);
            double dedup = s.rawBytes() == 0 ? Double.NaN : (double) logical / s.rawBytes();
            double comp = s.storedBytes() == 0 ? Double.NaN : (double) s.rawBytes() / s.storedBytes();
            double saved = s.packBytes() == 0 ? Double.NaN : (double) logical / s.packBytes();
            if (json) {
                printJson(new Report(store.dir().toString(), store.blockSize(), snapshots, views, logical, s.chunks(),
                        s.rawBytes(), s.storedBytes(), s.packFiles(), s.packBytes(), s.indexBytes(), finite(dedup),
                        finite(comp), finite(saved)));
            } else {
                out().printf(Locale.ROOT, "store:        %s (block size %d KiB)%n", store.dir(), store.blockSize() / 1024);
                out().printf(Locale.ROOT, "names:        %d snapshots, %d views%n", snapshots, views);
                out().printf(Locale.ROOT, "logical:      %s (sum of every snapshot and view)%n", bytes(logical));
                out().printf(Locale.ROOT, "unique data:  %s in %d chunks (dedup %s)%n", bytes(s.rawBytes()), s.chunks(), ratio(dedup));
                out().printf(Locale.ROOT, "stored:       %s compressed (compression %s)%n", bytes(s.storedBytes()), ratio(comp));
                out().printf(Locale.ROOT, "on disk:      %s in %d pack files + %s index (logical/packs %s)%n",
                        bytes(s.packBytes()), s.packFiles(), bytes(s.indexBytes()), ratio(saved));
            }
            return 0;
        }
    }
}
