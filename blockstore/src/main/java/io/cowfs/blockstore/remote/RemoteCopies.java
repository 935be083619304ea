package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.gc.Fsck;
import io.cowfs.blockstore.remote.RemoteLayout.Entry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.PackRecord;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * A remote as a place fsck finds intact copies of damaged or lost chunks ({@code cowfs fsck
 * --repair --from NAME}): which chunks its packs hold comes from their index objects (cached by
 * the store, fetched once otherwise). Copies are fetched as pull fetches chunks: range requests
 * over runs of neighbours in each pack object, several at once, a batch of at most {@link #BATCH}
 * bytes at a time (a lost pack of 64 MiB is a few requests, not one per chunk, and a store that
 * lost much does not have it all in memory at once).
 *
 * <p>Thread-safety: called from one thread (fsck's); the chunk map is made on first use, and the
 * fetch's own threads only fetch bytes.
 */
public final class RemoteCopies implements Fsck.Copies {
    /** Bytes of runs fetched (and held) at once. */
    static final long BATCH = 64L << 20;
    /** A run spans at most this many bytes (one range request). */
    static final long RUN = 16L << 20;

    private final Remote remote;
    private final int threads;
    private Map<ChunkId, Remote.Located> where;
    private long requests;
    private long chunks;
    private long bytes;

    public RemoteCopies(Remote remote, int threads) {
        this.remote = remote;
        this.threads = threads;
    }

    private Map<ChunkId, Remote.Located> where() {
        if (where == null) {
            remote.requireMarker();
            where = remote.chunkIndex(Set.of(), threads);
        }
        return where;
    }

    @Override
    public String describe() {
        return "remote " + remote.config().name();
    }

    @Override
    public boolean has(ChunkId id) {
        return where().containsKey(id);
    }

    @Override
    public void fetch(List<ChunkId> ids, Consumer<Map<ChunkId, byte[]>> stored, BiConsumer<ChunkId, String> failed) {
        Map<ChunkId, List<Entry>> byPack = new HashMap<>();
        for (ChunkId id : ids) {
            Remote.Located l = where().get(id);
            byPack.computeIfAbsent(l.pack(), p -> new ArrayList<>()).add(l.entry());
        }
        List<Run> runs = new ArrayList<>();
        byPack.forEach((pack, es) -> {
            es.sort(Comparator.comparingLong(Entry::offset));
            for (List<Entry> run : Pull.runs(es, Pull.GAP, RUN)) {
                runs.add(new Run(RemoteLayout.packKey(pack), run));
            }
        });
        runs.sort(Comparator.comparing(Run::key).thenComparingLong(Run::from));
        ExecutorService ex = Executors.newFixedThreadPool(Math.max(1, Math.min(threads, runs.size())), Remote.daemon("cowfs-fsck-fetch"));
        try {
            for (int i = 0; i < runs.size(); ) {
                List<Run> batch = new ArrayList<>();
                long held = 0;
                while (i < runs.size() && (batch.isEmpty() || held + runs.get(i).span() <= BATCH)) {
                    held += runs.get(i).span();
                    batch.add(runs.get(i++));
                }
                List<Future<byte[]>> fs = new ArrayList<>();
                for (Run r : batch) {
                    fs.add(ex.submit(() -> remote.objects().getRange(r.key(), r.from(), (int) r.span())));
                }
                Map<ChunkId, byte[]> got = new LinkedHashMap<>();
                for (int k = 0; k < batch.size(); k++) {
                    Run r = batch.get(k);
                    byte[] b;
                    try {
                        b = Remote.join(fs.get(k));
                        requests++;
                    } catch (RuntimeException e) {
                        r.entries().forEach(en -> failed.accept(en.id(), String.valueOf(e.getMessage())));
                        continue;
                    }
                    for (Entry en : r.entries()) {
                        int at = (int) (en.offset() - r.from());
                        int len = PackRecord.HEADER + en.storedLen();
                        if (at + len > b.length) {
                            failed.accept(en.id(), "its pack object " + r.key() + " is shorter than its index says");
                            continue;
                        }
                        got.put(en.id(), java.util.Arrays.copyOfRange(b, at, at + len));
                        chunks++;
                        bytes += len;
                    }
                }
                if (!got.isEmpty()) {
                    stored.accept(got);
                }
            }
        } finally {
            ex.shutdownNow();
        }
    }

    @Override
    public Fsck.Fetched fetched() {
        return new Fsck.Fetched(describe(), chunks, bytes, requests);
    }

    /** Neighbouring records of one pack object, fetched with one range request. */
    private record Run(String key, List<Entry> entries) {
        long from() {
            return entries.get(0).offset();
        }

        long span() {
            return entries.get(entries.size() - 1).end() - from();
        }
    }
}
