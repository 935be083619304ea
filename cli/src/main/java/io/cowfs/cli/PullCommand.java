package io.cowfs.cli;

import io.cowfs.blockstore.remote.Pull;
import io.cowfs.blockstore.remote.Remote;
import io.cowfs.blockstore.remote.Remotes;
import io.cowfs.blockstore.remote.Transfer;
import io.cowfs.blockstore.store.Store;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "pull", mixinStandardHelpOptions = true,
        description = {"Make a remote snapshot a local one.",
                "Downloads what the store lacks, or with --lazy only its tree (file data is then fetched on first",
                "read, by mounts and every other command, and kept in the store)."})
final class PullCommand extends Base {
    @Parameters(index = "0", paramLabel = "SNAPSHOT")
    String name;

    @Option(names = "--remote", paramLabel = "NAME", description = "the remote (default: the only one)")
    String remote;

    @Option(names = "--as", paramLabel = "NAME", description = "the local name (default: the remote snapshot's)")
    String as;

    @Option(names = "--lazy", description = "fetch the tree now and file data on first read")
    boolean lazy;

    @Option(names = "--threads", paramLabel = "N", description = "parallel downloads (default: ${DEFAULT-VALUE})")
    int threads = 8;

    @Option(names = "--json", description = "print JSON")
    boolean json;

    /** pull --json, fields in this order. */
    record Report(String snapshot, String local, String remote, boolean already, boolean lazy, long chunks,
                  long downloadedChunks, long downloadedBytes, long remoteChunks, long objects, long requests, double seconds) {
    }

    @Override
    public Integer call() throws Exception {
        try (Store store = storeOptions.open()) {
            Remotes rs = new Remotes(store);
            try (Remote r = rs.open(rs.resolve(remote))) {
                Transfer.Result t;
                try (Progress bar = Progress.bytes("pull " + name)) {
                    t = new Pull(store, r, threads, PushCommand.progress(bar)).pull(name, as, lazy);
                }
                if (json) {
                    printJson(new Report(t.snapshot(), t.local(), r.config().name(), t.already(), t.lazy(), t.chunks(), t.movedChunks(),
                            t.movedBytes(), t.remoteChunks(), t.objects(), t.requests(), t.seconds()));
                } else if (t.already()) {
                    out().println("pull " + name + ": already here as " + t.local());
                } else {
                    out().println(String.format(Locale.ROOT, "pull %s: %d chunks downloaded (%s, %d requests)%s in %.2f s -> snapshot %s",
                            name, t.movedChunks(), bytes(t.movedBytes()), t.requests(),
                            t.lazy() ? ", " + t.remoteChunks() + " left on " + r.config().name() + " until read" : "", t.seconds(), t.local()));
                }
                return 0;
            }
        }
    }
}
