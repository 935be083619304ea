package io.cowfs.cli;

import io.cowfs.blockstore.gc.GarbageCollector;
import io.cowfs.blockstore.run.MountControl;
import io.cowfs.blockstore.store.Store;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "gc", mixinStandardHelpOptions = true,
        description = {"Reclaim chunks that no snapshot or view refers to and give their space back to the host.",
                "First folds the chained sub-block deltas of views that are not mounted (one delta per block again).",
                "Safe while views are mounted and written, while imports run, and after crashes."})
final class GcCommand extends Base {
    @Option(names = "--json", description = "print JSON")
    boolean json;

    @Option(names = "--remote", paramLabel = "NAME",
            description = "collect a remote's unreferenced packs instead (two runs a grace period apart; docs/REMOTE.md)")
    String remote;

    @Option(names = "--grace", paramLabel = "DURATION", defaultValue = "1h",
            description = "with --remote: how old an unreferenced pack must be to be condemned, and how long a condemned one waits (default: ${DEFAULT-VALUE}; e.g. 30m, 2h, 0)")
    String grace;

    /** gc --remote --json, fields in this order. */
    record RemoteReport(String remote, int snapshots, int packs, int referenced, int deleted, long deletedBytes, int condemned,
                        long condemnedBytes, int rescued, long dueMillis, int unfinished, long unfinishedBytes) {
    }

    /** gc --json: a run's result, fields in this order. */
    record Report(long chunksDeleted, long storedBytesDeleted, long packsDeleted, long packsRewritten, long packBytesBefore,
                  long packBytesAfter, long freedBytes, long millis, long packsSkippedNoSpace, long packsLeftPending,
                  long chainsFolded, long viewsFolded) {
    }

    @Override
    public Integer call() throws Exception {
        if (remote != null) {
            return remoteGc();
        }
        try (Store store = storeOptions.open(); Progress bar = Progress.count("gc", "steps")) {
            MountControl.rollOverWritableMounts(store); // docs/GC.md, "Long-lived writable mounts"
            GarbageCollector gc = new GarbageCollector(store);
            bar.start(gc.workUnits());
            GarbageCollector.Result r = gc.run(bar::step);
            bar.close();
            if (json) {
                printJson(new Report(r.chunksDeleted(), r.storedBytesDeleted(), r.packsDeleted(), r.packsRewritten(),
                        r.packBytesBefore(), r.packBytesAfter(), r.freedBytes(), r.millis(), r.packsSkippedNoSpace(),
                        r.packsLeftPending(), r.chainsFolded(), r.viewsFolded()));
            } else {
                out().printf(Locale.ROOT, "gc: %d unreferenced chunks (%s) removed; %d packs deleted, %d rewritten; "
                                + "packs %s -> %s, %s in %.2f s%n",
                        r.chunksDeleted(), bytes(r.storedBytesDeleted()), r.packsDeleted(), r.packsRewritten(),
                        bytes(r.packBytesBefore()), bytes(r.packBytesAfter()),
                        r.freedBytes() >= 0 ? "freed " + bytes(r.freedBytes()) : "grew by " + bytes(-r.freedBytes())
                                + " (the folded chains are stored; what they replaced is freed as its packs are compacted)",
                        r.millis() / 1000.0);
                if (r.chainsFolded() > 0) {
                    out().println("gc: folded " + r.chainsFolded() + " chains of sub-block deltas in " + r.viewsFolded()
                            + " unmounted view(s), one delta or chunk per block now");
                }
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

    private Integer remoteGc() throws Exception {
        long graceMillis = duration(grace);
        if (graceMillis < 10 * 60_000) {
            err().println("cowfs: warning: a grace period under 10 minutes is safe only while no push to " + remote
                    + " runs (docs/REMOTE.md, gc and concurrent pushes)");
        }
        try (Store store = storeOptions.open()) {
            io.cowfs.blockstore.remote.Remotes rs = new io.cowfs.blockstore.remote.Remotes(store);
            try (io.cowfs.blockstore.remote.Remote r = rs.open(rs.get(remote))) {
                io.cowfs.blockstore.remote.RemoteGc.Result g = new io.cowfs.blockstore.remote.RemoteGc(r, graceMillis).run();
                if (json) {
                    printJson(new RemoteReport(remote, g.snapshots(), g.packs(), g.referenced(), g.deleted(), g.deletedBytes(),
                            g.condemned(), g.condemnedBytes(), g.rescued(), g.dueMillis(), g.unfinished().objects(), g.unfinished().bytes()));
                } else {
                    out().printf(Locale.ROOT, "gc %s: %d snapshots need %d of %d packs; %d packs deleted (%s)%s%n", remote,
                            g.snapshots(), g.referenced(), g.packs(), g.deleted(), bytes(g.deletedBytes()),
                            g.rescued() > 0 ? ", " + g.rescued() + " condemned packs kept (a snapshot needs them again)" : "");
                    if (g.unfinished().objects() > 0) {
                        out().printf(Locale.ROOT, "gc %s: %d half-written objects of interrupted pushes deleted (%s)%n", remote,
                                g.unfinished().objects(), bytes(g.unfinished().bytes()));
                    }
                    if (g.condemned() > 0) {
                        out().printf(Locale.ROOT, "gc %s: %d unreferenced packs (%s) condemned; a gc --remote run after %s deletes them%n",
                                remote, g.condemned(), bytes(g.condemnedBytes()),
                                ListCommand.TIME.format(java.time.Instant.ofEpochMilli(g.dueMillis())));
                    }
                }
                return 0;
            }
        }
    }

    /** A duration: N (seconds), Ns, Nm, Nh, Nd. */
    static long duration(String s) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)([smhd]?)").matcher(s.strip());
        if (!m.matches()) {
            throw new io.cowfs.blockstore.store.StoreException.InvalidRequestException("invalid duration '" + s + "': use e.g. 90s, 30m, 2h, 1d or 0");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "m" -> n * 60_000;
            case "h" -> n * 3_600_000;
            case "d" -> n * 86_400_000;
            default -> n * 1000;
        };
    }
}
