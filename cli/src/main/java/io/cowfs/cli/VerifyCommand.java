package io.cowfs.cli;

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

    /** verify --json, fields in this order. */
    record Report(long chunks, long bytes, List<String> indexDamage, List<Bad> problems) {
    }

    /** One damaged chunk in verify --json. */
    record Bad(String chunk, String pack, long offset, String message) {
    }

    @Override
    public Integer call() throws Exception {
        try (Store store = storeOptions.open(); Progress bar = Progress.count("verify", "chunks")) {
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
            err().println("cowfs: " + r.problems().size() + " of " + r.chunks()
                    + " chunks are damaged; files using them read as EIO");
            return Main.EXIT_DAMAGED;
        }
    }
}
