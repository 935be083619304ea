package io.cowfs.cli;

import io.cowfs.blockstore.remote.RemoteConfig;
import io.cowfs.blockstore.remote.Remotes;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.Verifier;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "verify", mixinStandardHelpOptions = true,
        description = "Re-read and re-hash every chunk in the store; report each bad one (exit 5 if any).")
final class VerifyCommand extends Base {
    @Option(names = "--json", description = "print JSON")
    boolean json;

    @Option(names = "--remote", paramLabel = "NAME",
            description = "check a remote instead: every object its snapshots need is there and whole (with --deep, read and hash every pack)")
    String remote;

    @Option(names = "--deep", description = "with --remote: download every pack and check its content")
    boolean deep;

    @picocli.CommandLine.Parameters(arity = "0..*", paramLabel = "SNAPSHOT", description = "with --remote: the remote snapshots to check (default: all)")
    List<String> snapshots = List.of();

    /** verify --remote --json, fields in this order. */
    record RemoteReport(String remote, int snapshots, int packs, long chunks, long bytes, List<io.cowfs.blockstore.remote.RemoteVerify.Problem> problems) {
    }

    /** verify --json, fields in this order. */
    record Report(long chunks, long bytes, List<String> indexDamage, List<Bad> problems) {
    }

    /** One damaged chunk in verify --json. */
    record Bad(String chunk, String pack, long offset, String message) {
    }

    @Override
    public Integer call() throws Exception {
        if (remote != null) {
            return verifyRemote();
        }
        if (!snapshots.isEmpty()) {
            throw new io.cowfs.blockstore.store.StoreException.InvalidRequestException("verify checks the whole store; snapshot names go with --remote NAME");
        }
        // every index page walked too, whatever index/checked says (FsckCommand)
        try (Store store = io.cowfs.blockstore.store.IndexCheck.walking(storeOptions::openToRead);
                Progress bar = Progress.count("verify", "chunks")) {
            // a damaged index opens as a salvaged copy: its chunks (and those re-found in packs) are still verified
            List<String> indexDamage = store.index().damage() == null ? List.of() : store.index().salvaged().walk().damage;
            bar.start(Verifier.count(store));
            Verifier.Report r = Verifier.run(store, bar::step);
            bar.close();
            if (json) {
                printJson(new Report(r.chunks(), r.bytes(),
                        indexDamage.stream().map(d -> store.index().dataFile() + ": " + d).toList(),
                        r.problems().stream().map(p -> new Bad(p.id().hex(), p.pack(), p.offset(), p.message())).toList()));
            } else {
                for (String d : indexDamage) {
                    out().println("DAMAGED " + store.index().dataFile() + ": " + d);
                }
                for (Verifier.Problem p : r.problems()) {
                    out().println("BAD " + p.id().hex() + " " + p.pack() + "@" + p.offset() + ": " + p.message());
                }
                out().println("verified " + r.chunks() + " chunks (" + bytes(r.bytes()) + "): "
                        + (r.problems().isEmpty() ? "all good" : r.problems().size() + " bad"));
                long remoteChunks = store.index().read(txn -> {
                    long n = 0;
                    for (var kv : store.index().rchunks.iterate(txn)) {
                        if (store.index().chunks.get(txn, kv.key()) == null) {
                            n++;
                        }
                    }
                    return n;
                });
                if (remoteChunks > 0) {
                    out().println(remoteChunks + " chunks of lazily pulled snapshots are still on their remotes (cowfs verify --remote NAME checks them there)");
                }
            }
            out().flush();
            if (store.index().damage() != null) {
                err().println("cowfs: " + store.index().damage() + (r.problems().isEmpty() ? ""
                        : "; and " + r.problems().size() + " of " + r.chunks() + " chunks are damaged")
                        + " (cowfs fsck --repair rebuilds the index)");
                return Main.EXIT_DAMAGED;
            }
            if (r.problems().isEmpty()) {
                return 0;
            }
            // the report is the result (stdout); the failure itself is said on stderr, like every failure
            List<RemoteConfig> remotes = new Remotes(store).list();
            err().println("cowfs: " + r.problems().size() + " of " + r.chunks() + " chunks are damaged; files using them read as EIO"
                    + (remotes.isEmpty() ? "" : " ('cowfs fsck --repair --from " + (remotes.size() == 1 ? remotes.get(0).name() : "REMOTE")
                    + "' replaces them from a remote that holds them)"));
            return Main.EXIT_DAMAGED;
        }
    }

    private Integer verifyRemote() throws Exception {
        try (Store store = storeOptions.open(); Progress bar = Progress.count("verify " + remote, "packs")) {
            io.cowfs.blockstore.remote.Remotes rs = new io.cowfs.blockstore.remote.Remotes(store);
            try (io.cowfs.blockstore.remote.Remote r = rs.open(rs.get(remote))) {
                io.cowfs.blockstore.remote.RemoteVerify.Result v = new io.cowfs.blockstore.remote.RemoteVerify(r, deep).run(snapshots, PushCommand.progress(bar));
                bar.close();
                if (json) {
                    printJson(new RemoteReport(remote, v.snapshots(), v.packs(), v.chunks(), v.bytes(), v.problems()));
                } else {
                    for (var p : v.problems()) {
                        out().println("BAD " + p.object() + ": " + p.message() + " (needed by " + String.join(", ", p.snapshots()) + ")");
                    }
                    out().println("verified " + v.snapshots() + " snapshots on " + remote + ": " + v.packs() + " packs, " + v.chunks()
                            + " chunks (" + bytes(v.bytes()) + "): " + (v.problems().isEmpty() ? "all good" : v.problems().size() + " bad"));
                }
                out().flush();
                if (!v.problems().isEmpty()) {
                    err().println("cowfs: remote " + remote + ": " + v.problems().size() + " objects missing or damaged; "
                            + "files that need them read as EIO (push the snapshots again to repair it)");
                    return Main.EXIT_DAMAGED;
                }
                return 0;
            }
        }
    }
}
