package io.cowfs.cli;

import io.cowfs.blockstore.remote.Push;
import io.cowfs.blockstore.remote.Remote;
import io.cowfs.blockstore.remote.Remotes;
import io.cowfs.blockstore.remote.Transfer;
import io.cowfs.blockstore.store.Store;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "push", mixinStandardHelpOptions = true,
        description = {"Upload snapshots to a remote: only the chunks it lacks, in packs, then each snapshot's manifest.",
                "A push that was interrupted is completed by running it again (what arrived is not sent again)."})
final class PushCommand extends Base {
    @Parameters(arity = "1..*", paramLabel = "SNAPSHOT")
    List<String> names;

    @Option(names = "--remote", paramLabel = "NAME", description = "the remote (default: the only one)")
    String remote;

    @Option(names = "--threads", paramLabel = "N", description = "parallel uploads (default: ${DEFAULT-VALUE})")
    int threads = 8;

    @Option(names = "--json", description = "print JSON (one object per snapshot, in a list)")
    boolean json;

    /** push --json: one snapshot's push, fields in this order. */
    record Report(String snapshot, String remote, boolean already, long chunks, long uploadedChunks, long uploadedBytes,
                  long objects, long requests, double seconds) {
    }

    static long packBytes() {
        return io.cowfs.blockstore.Config.fromSystemProperties().remotePackBytes();
    }

    @Override
    public Integer call() throws Exception {
        try (Store store = storeOptions.open()) {
            Remotes rs = new Remotes(store);
            try (Remote r = rs.open(rs.resolve(remote))) {
                List<Report> reports = new ArrayList<>();
                for (String n : names) {
                    Transfer.Result t;
                    try (Progress bar = Progress.bytes("push " + n)) {
                        t = new Push(store, r, threads, packBytes(), progress(bar)).push(n);
                    }
                    Report rep = new Report(n, r.config().name(), t.already(), t.chunks(), t.movedChunks(), t.movedBytes(),
                            t.objects(), t.requests(), t.seconds());
                    reports.add(rep);
                    if (!json) {
                        out().println(t.already() ? "push " + n + ": already on " + r.config().name()
                                : String.format(Locale.ROOT, "push %s: %d of %d chunks uploaded (%s in %d objects, %d requests) in %.2f s",
                                        n, t.movedChunks(), t.chunks(), bytes(t.movedBytes()), t.objects(), t.requests(), t.seconds()));
                        out().flush();
                    }
                }
                if (json) {
                    printJson(reports.size() == 1 ? reports.get(0) : reports);
                }
                return 0;
            }
        }
    }

    static Transfer.Progress progress(Progress bar) {
        return new Transfer.Progress() {
            @Override
            public void total(long bytes) {
                bar.start(bytes);
            }

            @Override
            public void step(long bytes) {
                bar.step(bytes);
            }
        };
    }
}
