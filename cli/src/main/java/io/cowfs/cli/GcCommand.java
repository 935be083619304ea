package io.cowfs.cli;

import io.cowfs.blockstore.gc.GarbageCollector;
import io.cowfs.blockstore.run.MountControl;
import io.cowfs.blockstore.store.Store;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "gc", mixinStandardHelpOptions = true,
        description = {"Reclaim chunks that no snapshot or view refers to and give their space back to the host.",
                "Safe while views are mounted and written, while imports run, and after crashes."})
final class GcCommand extends Base {
    @Option(names = "--json", description = "print JSON")
    boolean json;

    /** gc --json: a run's result, fields in this order. */
    record Report(long chunksDeleted, long storedBytesDeleted, long packsDeleted, long packsRewritten, long packBytesBefore,
                  long packBytesAfter, long freedBytes, long millis, long packsSkippedNoSpace, long packsLeftPending) {
    }

    @Override
    public Integer call() throws Exception {
        try (Store store = storeOptions.open(); Progress bar = Progress.count("gc", "steps")) {
            MountControl.rollOverWritableMounts(store); // docs/GC.md, "Long-lived writable mounts"
            GarbageCollector gc = new GarbageCollector(store);
            bar.start(gc.workUnits());
            GarbageCollector.Result r = gc.run(bar::step);
            bar.close();
            if (json) {
                printJson(new Report(r.chunksDeleted(), r.storedBytesDeleted(), r.packsDeleted(), r.packsRewritten(),
                        r.packBytesBefore(), r.packBytesAfter(), r.freedBytes(), r.millis(), r.packsSkippedNoSpace(),
                        r.packsLeftPending()));
            } else {
                out().printf(Locale.ROOT, "gc: %d unreferenced chunks (%s) removed; %d packs deleted, %d rewritten; "
                                + "packs %s -> %s, freed %s in %.2f s%n",
                        r.chunksDeleted(), bytes(r.storedBytesDeleted()), r.packsDeleted(), r.packsRewritten(),
                        bytes(r.packBytesBefore()), bytes(r.packBytesAfter()), bytes(r.freedBytes()), r.millis() / 1000.0);
                if (r.packsLeftPending() > 0) {
                    out().println("gc: " + r.packsLeftPending() + " pack(s) left for now: they may hold records a running "
                            + "import or mount has not committed yet");
                }
            }
            if (r.packsSkippedNoSpace() > 0) {
                err().println("cowfs: gc: " + r.packsSkippedNoSpace() + " pack(s) not compacted: no space left for the copy "
                        + "(free some space and run gc again)");
            }
            return 0;
        }
    }
}
