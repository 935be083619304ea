package io.cowfs.cli;

import io.cowfs.blockstore.run.MountControl;
import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.Exporter;
import io.cowfs.blockstore.tree.SnapshotReader;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Write a snapshot or view back to a host directory.",
                "Contents, holes, symlinks, hardlinks, modes, owners (as root), times and xattrs."})
final class ExportCommand extends Base {
    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = StoreNames.class)
    String name;

    @Parameters(index = "1", paramLabel = "DIR", description = "a new or empty directory")
    Path dir;

    @Override
    public Integer call() throws Exception {
        try (Store store = openToRead()) {
            CatalogEntry e = new Catalog(store).get(name);
            if (e.isView()) {
                store.requireWritable("exporting view '" + name + "' (it is frozen first)");
            }
            try (Store.Lease lease = store.lease(); Progress bar = Progress.bytes("export")) {
                ChunkId root = e.isView() ? MountControl.freeze(store, e) : e.root();
                SnapshotReader snap = new SnapshotReader(store, root);
                bar.start(snap.root().logicalBytes());
                try {
                    new Exporter(snap, bar::step, w -> err().println("cowfs: warning: " + w)).run(dir.toAbsolutePath());
                } catch (Exporter.ExportFailed f) {
                    // one line naming the file; the exit code is the cause's (5 for a damaged index, ...)
                    err().println("cowfs: export of '" + name + "' failed: " + Main.message(f));
                    return Main.exitCode(f.getCause() == null ? f : f.getCause());
                }
            }
            out().println("exported '" + name + "' to " + dir.toAbsolutePath().normalize());
            return 0;
        }
    }
}
