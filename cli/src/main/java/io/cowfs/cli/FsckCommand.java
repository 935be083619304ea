package io.cowfs.cli;

import io.cowfs.blockstore.gc.Fsck;
import io.cowfs.blockstore.store.Store;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "fsck", mixinStandardHelpOptions = true,
        description = {"Check the store's structure: index against packs, every reachable object present and",
                "readable, catalog and view deltas consistent. Exit 5 if a problem remains.",
                "'verify' re-hashes all data; fsck checks structure and is faster."})
final class FsckCommand extends Base {
    @Option(names = "--repair", description = "fix what can be fixed without guessing, and say what could not be")
    boolean repair;

    @Option(names = "--json", description = "print JSON")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Store opened;
        String damaged = java.nio.file.Files.exists(storeOptions.storeDir().resolve(Store.FORMAT_FILE))
                ? io.cowfs.blockstore.store.IndexProbe.check(storeOptions.storeDir()) : null;
        try {
            if (damaged != null) {
                throw new org.lmdbjava.LmdbException(damaged);
            }
            opened = storeOptions.open();
        } catch (org.lmdbjava.LmdbException e) {
            // the store's format record is fine (open checked it first) but LMDB refuses the index
            String what = damaged != null ? damaged : "the index " + storeOptions.storeDir().resolve("index").resolve("data.mdb")
                    + " is damaged and cannot be opened (" + e.getMessage() + ")";
            if (json) {
                printJson(Map.of("clean", false, "problems", java.util.List.of(Map.of("problem", what,
                        "repairable", false, "repaired", false))));
            }
            err().println("cowfs: " + what);
            return Main.EXIT_DAMAGED;
        }
        try (Store store = opened; Progress bar = Progress.count("fsck", "steps")) {
            bar.start(store.packs().list().size());
            Fsck.Report r = new Fsck(store, repair).run(bar::step);
            bar.close();
            if (json) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("chunks", r.chunks());
                m.put("packs", r.packs());
                m.put("names", r.names());
                m.put("orphanRecords", r.orphanRecords());
                m.put("orphanBytes", r.orphanBytes());
                m.put("clean", r.clean());
                m.put("problems", r.problems().stream().map(p -> Map.of("problem", p.what(),
                        "repairable", p.repairable(), "repaired", p.repaired(), "harmless", p.harmless())).toList());
                printJson(m);
            } else {
                for (Fsck.Problem p : r.problems()) {
                    out().println((p.repaired() ? "REPAIRED " : p.harmless() ? "NOTE (left by a crash; --repair clears it) "
                            : p.repairable() ? "PROBLEM (repairable with --repair) " : "PROBLEM ") + p.what());
                }
                long serious = r.problems().stream().filter(p -> !p.harmless()).count();
                long notes = r.problems().size() - serious;
                out().println("checked " + r.names() + " names, " + r.chunks() + " indexed chunks in " + r.packs() + " packs: "
                        + (serious == 0 ? "clean" : serious + " problem(s)" + (r.clean() ? ", all repaired" : ""))
                        + (notes > 0 ? " (" + notes + " crash leftover(s) noted)" : "")
                        + (r.orphanRecords() > 0 ? "; " + r.orphanRecords() + " unreferenced records (" + bytes(r.orphanBytes()) + ") that gc will reclaim" : ""));
            }
            if (!r.clean()) {
                long left = r.problems().stream().filter(p -> !p.repaired() && !p.harmless()).count();
                err().println("cowfs: fsck found " + left + " problem(s) that remain" + (json ? "" : " (listed above)"));
                return Main.EXIT_DAMAGED;
            }
            return 0;
        }
    }
}
