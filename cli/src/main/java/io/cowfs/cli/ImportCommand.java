package io.cowfs.cli;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.Importer;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "import", mixinStandardHelpOptions = true,
        description = "Snapshot a directory tree into the store (deduplicated, compressed).")
final class ImportCommand extends Base {
    @Parameters(index = "0", paramLabel = "SRC_DIR", description = "directory to snapshot (symlinks are stored, never followed)")
    Path src;

    @Option(names = "--name", required = true, description = "name of the new snapshot")
    String name;

    @Option(names = "--skip-unreadable", description = "skip files and directories that cannot be read or whose names are not UTF-8, with a warning (default: fail, storing nothing)")
    boolean skipUnreadable;

    @Option(names = "--json", description = "print the summary as JSON")
    boolean json;

    /** import --json, fields in this order. */
    record Report(String name, String root, long files, long directories, long symlinks, long otherNodes, long logicalBytes,
                  long newChunks, long newRawBytes, long newStoredBytes, double seconds, List<String> warnings) {
    }

    @Override
    public Integer call() throws Exception {
        try (Store store = storeOptions.open()) {
            Catalog catalog = new Catalog(store);
            catalog.checkFree(name);
            if (!java.nio.file.Files.exists(src, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                // exit 3 (not found), like an unknown name or store
                throw new java.nio.file.NoSuchFileException(src.toAbsolutePath().toString(), null, "no such directory to import");
            }
            Importer.Result r;
            try (Store.Lease lease = store.lease(); Progress bar = Progress.bytes("import")) {
                Importer imp = new Importer(store, skipUnreadable, new Importer.Progress() {
                    @Override
                    public void total(long bytes, long files) {
                        bar.start(bytes);
                    }

                    @Override
                    public void advance(long bytes) {
                        bar.step(bytes);
                    }
                }, w -> err().println("cowfs: warning: " + w));
                r = imp.run(src.toAbsolutePath());
                bar.close();
                catalog.addSnapshot(name, r.root(), "", src.toAbsolutePath().toString());
            }
            double secs = r.elapsedNanos() / 1e9;
            double dedup = r.newRawBytes() == 0 ? Double.POSITIVE_INFINITY : (double) r.logicalBytes() / r.newRawBytes();
            double comp = r.newStoredBytes() == 0 ? Double.NaN : (double) r.newRawBytes() / r.newStoredBytes();
            if (json) {
                printJson(new Report(name, r.root().hex(), r.files(), r.dirs(), r.symlinks(), r.others(), r.logicalBytes(),
                        r.newChunks(), r.newRawBytes(), r.newStoredBytes(), secs, r.warnings()));
            } else {
                out().printf(Locale.ROOT, "imported '%s': %d files, %d dirs, %d symlinks, %d other; %s logical%n",
                        name, r.files(), r.dirs(), r.symlinks(), r.others(), bytes(r.logicalBytes()));
                out().printf(Locale.ROOT, "new data: %d chunks, %s raw -> %s stored (dedup %s, compression %s) in %.2f s (%.1f MB/s, %.0f files/s)%n",
                        r.newChunks(), bytes(r.newRawBytes()), bytes(r.newStoredBytes()), ratio(dedup), ratio(comp),
                        secs, r.logicalBytes() / 1e6 / Math.max(secs, 1e-9), r.files() / Math.max(secs, 1e-9));
                if (!r.warnings().isEmpty()) {
                    out().println(r.warnings().size() + " warning(s), see above");
                }
            }
            return 0;
        }
    }
}
