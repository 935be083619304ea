package io.cowfs.cli;

import io.cowfs.blockstore.gc.Fsck;
import io.cowfs.blockstore.gc.IndexRepair;
import io.cowfs.blockstore.remote.Remote;
import io.cowfs.blockstore.remote.RemoteCopies;
import io.cowfs.blockstore.remote.Remotes;
import io.cowfs.blockstore.store.Store;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "fsck", mixinStandardHelpOptions = true,
        description = {"Check the store's structure, and repair what can be repaired.",
                "Index against packs, every reachable object present and readable, catalog and view deltas",
                "consistent. Exit 5 if a problem remains. 'verify' re-hashes all data; fsck checks structure and",
                "is faster (with --from it re-hashes too)."})
final class FsckCommand extends Base {
    @Option(names = "--repair", description = "fix what can be fixed without guessing, and say what could not be")
    boolean repair;

    @Option(names = "--from", paramLabel = "REMOTE", split = ",",
            description = {"also re-hash every chunk (as verify does) and look for intact copies of damaged or lost",
                    "chunks on these remotes (repeatable); with --repair, store those copies"})
    List<String> from = new ArrayList<>();

    @Option(names = "--json", description = "print JSON")
    boolean json;

    /** fsck --json, fields in this order. */
    record Report(long chunks, long packs, long names, long orphanRecords, long orphanBytes, boolean clean, List<Finding> problems,
            List<Fetched> fetched) {
    }

    /** What fsck --repair --from fetched from one remote ("remote NAME"), in fsck --json. */
    record Fetched(String from, long chunks, long bytes, long requests) {
    }

    /** One problem in fsck --json. */
    record Finding(String problem, boolean repairable, boolean repaired, boolean harmless) {
    }

    @Override
    public Integer call() throws Exception {
        // a damaged index opens as a salvaged, read-only copy; a store on a read-only filesystem is checked, never repaired
        // fsck walks every index page whatever index/checked says: damage without a write leaves it matching
        Store store = io.cowfs.blockstore.store.IndexCheck.walking(() -> repair ? storeOptions.open() : storeOptions.openToRead());
        try {
            List<Fsck.Problem> indexProblems = new ArrayList<>();
            if (store.index().damage() != null) {
                indexProblems.addAll(IndexRepair.damage(store, repair));
                if (repair) {
                    Store damaged = store;
                    store = null; // closed by the rebuild
                    IndexRepair.Repaired r = IndexRepair.rebuild(damaged, storeOptions::open);
                    store = r.store();
                    indexProblems.addAll(r.problems());
                }
            }
            return report(store, indexProblems);
        } finally {
            if (store != null) {
                store.close();
            }
        }
    }

    private int report(Store store, List<Fsck.Problem> indexProblems) throws Exception {
        Fsck.Report r;
        Remotes rs = new Remotes(store);
        List<Remote> opened = new ArrayList<>();
        try (Progress bar = Progress.count("fsck", "steps")) {
            List<Fsck.Copies> copies = new ArrayList<>();
            for (String name : from) {
                Remote remote = rs.open(rs.get(name));
                opened.add(remote);
                copies.add(new RemoteCopies(remote, 8));
            }
            Fsck fsck = new Fsck(store, repair && store.index().damage() == null, copies);
            bar.start(fsck.steps());
            r = fsck.run(bar::step);
        } finally {
            opened.forEach(Remote::close);
        }
        List<Fsck.Problem> problems = new ArrayList<>(indexProblems);
        problems.addAll(r.problems());
        problems.addAll(IndexRepair.lostViewChanges(store));
        boolean clean = problems.stream().allMatch(p -> p.repaired() || p.harmless());
        if (json) {
            printJson(new Report(r.chunks(), r.packs(), r.names(), r.orphanRecords(), r.orphanBytes(), clean,
                    problems.stream().map(p -> new Finding(p.what(), p.repairable(), p.repaired(), p.harmless())).toList(),
                    r.fetched().stream().map(f -> new Fetched(f.from(), f.chunks(), f.bytes(), f.requests())).toList()));
        } else {
            for (Fsck.Problem p : problems) {
                out().println((p.repaired() ? "REPAIRED " : p.harmless() ? "NOTE (left by a crash; --repair clears it) "
                        : p.repairable() ? "PROBLEM (repairable with --repair) " : "PROBLEM ") + p.what());
            }
            for (Fsck.Fetched f : r.fetched()) {
                out().println("fetched " + f.chunks() + " chunk record(s) (" + bytes(f.bytes()) + ") from " + f.from() + " in " + f.requests() + " request(s)");
            }
            long serious = problems.stream().filter(p -> !p.harmless()).count();
            long notes = problems.size() - serious;
            out().println("checked " + r.names() + " names, " + r.chunks() + " indexed chunks in " + r.packs() + " packs: "
                    + (serious == 0 ? "clean" : serious + " problem(s)" + (clean ? ", all repaired" : ""))
                    + (notes > 0 ? " (" + notes + " crash leftover(s) noted)" : "")
                    + (r.orphanRecords() > 0 ? "; " + r.orphanRecords() + " unreferenced records (" + bytes(r.orphanBytes()) + ") that gc reclaims when it rewrites their packs (under 60 % live: docs/GC.md)" : ""));
        }
        out().flush();
        if (!clean) {
            long left = problems.stream().filter(p -> !p.repaired() && !p.harmless()).count();
            String first = problems.stream().filter(p -> !p.repaired() && !p.harmless()).findFirst().map(Fsck.Problem::what).orElse("");
            err().println("cowfs: the store is damaged: fsck found " + left + " problem(s) that remain, first: " + first);
            return Main.EXIT_DAMAGED;
        }
        return 0;
    }
}
