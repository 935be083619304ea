package io.cowfs.cli;

import io.cowfs.blockstore.remote.Remote;
import io.cowfs.blockstore.remote.RemoteConfig;
import io.cowfs.blockstore.remote.RemoteLayout;
import io.cowfs.blockstore.remote.Remotes;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cowfs remote ...}: the remotes a store pushes to and pulls from (docs/REMOTE.md). */
@Command(name = "remote", mixinStandardHelpOptions = true,
        description = {"Manage remotes: S3-compatible object stores (or directories) that snapshots are pushed to and pulled from.",
                "Credentials come from the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...), never from the store."},
        subcommands = {RemoteCommand.Add.class, RemoteCommand.ListRemotes.class, RemoteCommand.Remove.class,
                RemoteCommand.Snapshots.class, RemoteCommand.Delete.class})
final class RemoteCommand extends Base {
    @Override
    public Integer call() {
        spec.commandLine().usage(err());
        return Main.EXIT_USAGE;
    }

    /** A subcommand of remote: --store may be given before the subcommand's name too (cowfs remote --store DIR add ...). */
    abstract static class Sub extends Base {
        @picocli.CommandLine.ParentCommand
        RemoteCommand parent;

        Store open() {
            return (storeOptions.store == null && parent != null ? parent.storeOptions : storeOptions).open();
        }
    }

    @Command(name = "add", mixinStandardHelpOptions = true, description = "Record a remote: s3://BUCKET[/PREFIX] or file:///DIR.")
    static final class Add extends Sub {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Parameters(index = "1", paramLabel = "URL", description = "s3://BUCKET[/PREFIX], or file:///DIR (a directory, e.g. on NFS)")
        String url;

        @Option(names = "--endpoint", paramLabel = "URL", description = "an S3-compatible server (default: $COWFS_S3_ENDPOINT, else AWS)")
        String endpoint;

        @Option(names = "--region", paramLabel = "R", description = "the region (default: the AWS environment's, else us-east-1)")
        String region;

        @Option(names = "--create-bucket", description = "create the bucket if it does not exist")
        boolean createBucket;

        @Override
        public Integer call() {
            String ep = endpoint;
            if (ep == null && url.startsWith("s3://")) {
                String env = System.getenv("COWFS_S3_ENDPOINT");
                ep = env == null ? "" : env.strip();
            }
            RemoteConfig c = new RemoteConfig(name, url, ep == null ? "" : ep, region == null ? "" : region);
            try (Store store = open()) {
                Remotes rs = new Remotes(store);
                if (rs.find(name) != null) {
                    throw new StoreException.CatalogException("a remote named '" + name + "' exists (see: cowfs remote list)");
                }
                try (Remote r = rs.open(c)) {
                    if (createBucket) {
                        r.objects().ensureBucket();
                    }
                    r.checkMarker(false); // reachable, readable, of our block size (or empty)
                }
                rs.add(c);
                out().println("remote " + name + ": " + c.describe());
                return 0;
            }
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List the remotes of the store.")
    static final class ListRemotes extends Sub {
        @Option(names = "--json", description = "print JSON")
        boolean json;

        record Row(String name, String url, String endpoint, String region) {
        }

        @Override
        public Integer call() throws Exception {
            try (Store store = open()) {
                List<Row> rows = new ArrayList<>();
                for (RemoteConfig c : new Remotes(store).list()) {
                    rows.add(new Row(c.name(), c.url(), c.endpoint(), c.region()));
                }
                if (json) {
                    printJson(rows);
                } else {
                    for (Row r : rows) {
                        out().println(r.name() + "\t" + r.url() + (r.endpoint().isEmpty() ? "" : "\t" + r.endpoint()));
                    }
                }
                return 0;
            }
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true,
            description = "Forget a remote (the objects on it stay); refused while lazily pulled snapshots still need data from it.")
    static final class Remove extends Sub {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Override
        public Integer call() {
            try (Store store = open()) {
                long lazy = store.index().read(txn -> {
                    long n = 0;
                    for (var kv : store.index().rchunks.iterate(txn)) {
                        if (io.cowfs.blockstore.store.RemoteChunksTable.decodeValue(kv.val()).remote().equals(name)
                                && store.index().chunks.get(txn, kv.key()) == null) { // a chunk stored since, another way, is not waiting
                            n++;
                        }
                    }
                    return n;
                });
                if (lazy > 0) {
                    throw new StoreException.BusyException("remote " + name + " still has " + lazy + " chunks of lazily pulled snapshots "
                            + "this store has not fetched (rm those snapshots, or read them all, e.g. cowfs export, first)");
                }
                new Remotes(store).remove(name);
                out().println("remote " + name + " removed");
                return 0;
            }
        }
    }

    @Command(name = "snapshots", mixinStandardHelpOptions = true, description = "List the snapshots on a remote.")
    static final class Snapshots extends Sub {
        @Parameters(index = "0", paramLabel = "NAME", arity = "0..1", description = "the remote (default: the only one)")
        String name;

        @Option(names = "--json", description = "print JSON")
        boolean json;

        record Row(String name, String root, long createdMillis, String created, String source, long chunks, long bytes, int packs) {
        }

        @Override
        public Integer call() throws Exception {
            try (Store store = open()) {
                Remotes rs = new Remotes(store);
                try (Remote r = rs.open(rs.resolve(name))) {
                    List<Row> rows = new ArrayList<>();
                    if (r.checkMarker(false)) {
                        for (String n : r.snapshotNames()) {
                            RemoteLayout.Manifest m = r.findManifest(n);
                            if (m != null) {
                                rows.add(new Row(n, m.root().hex(), m.createdMillis(),
                                        ListCommand.TIME.format(java.time.Instant.ofEpochMilli(m.createdMillis())), m.source(),
                                        m.chunks(), m.bytes(), m.packs().size()));
                            }
                        }
                    }
                    if (json) {
                        printJson(rows);
                    } else {
                        for (Row w : rows) {
                            out().println(w.name() + "\t" + w.created() + "\t" + bytes(w.bytes()) + "\t" + w.source());
                        }
                    }
                    return 0;
                }
            }
        }
    }

    @Command(name = "delete", mixinStandardHelpOptions = true,
            description = {"Delete snapshots from a remote (their manifests).",
                    "Their data goes at a later 'cowfs gc --remote NAME' (two runs a grace period apart)."})
    static final class Delete extends Sub {
        @Parameters(index = "0", paramLabel = "REMOTE")
        String remote;

        @Parameters(index = "1..*", arity = "1..*", paramLabel = "SNAPSHOT")
        List<String> names;

        @Override
        public Integer call() {
            try (Store store = open()) {
                Remotes rs = new Remotes(store);
                try (Remote r = rs.open(rs.get(remote))) {
                    r.requireMarker();
                    for (String n : names) {
                        r.manifest(n); // NotFound if it is not there
                    }
                    for (String n : names) {
                        r.objects().delete(RemoteLayout.snapshotKey(n));
                        r.objects().delete(RemoteLayout.snapshotIndexKey(n)); // after the manifest: a reader never finds a manifest without it
                        out().println("deleted " + n + " from " + remote);
                    }
                    return 0;
                }
            }
        }
    }
}
