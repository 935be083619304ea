package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkSource;
import io.cowfs.blockstore.store.RemoteChunksTable.Ref;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The chunks of lazily pulled snapshots, fetched from their remote on first read and cached in
 * the store (docs/REMOTE.md, "Lazy pull"). A read of a chunk the store lacks looks it up in
 * rchunks, fetches its record by one range request, checks it, appends it to this process's pack
 * and commits it (dropping the rchunks entry). Read-ahead ({@link #willNeed}) fetches runs of
 * neighbouring records of one pack by one request on background threads.
 *
 * <p>Failures (the server down, a missing pack object) fail the read that needed the chunk with
 * a RemoteException: EIO for that file in a mount, which goes on serving everything else; the
 * next read tries the remote again.
 *
 * <p>Thread-safety: {@code inflight} (a concurrent map) makes sure one chunk is fetched by one
 * request at a time; a reader that finds its chunk in flight waits for that fetch, whose future is
 * always completed (with the bytes, an error, or Dropped: then the reader fetches it itself).
 * {@code remotes} and {@code indexes} are concurrent maps (indexes is a cache: cleared when full,
 * any thread may refill it); the store's own locks guard what fetches append and commit.
 */
public final class LazySource implements ChunkSource {
    /** Records closer than this in one pack are fetched by one request (read-ahead). */
    private static final long GAP = 256 << 10;
    /** The most one read-ahead request spans. */
    private static final long RUN = 8L << 20;

    private final Store store;
    private final Map<String, Remote> remotes = new ConcurrentHashMap<>();
    private final Map<ChunkId, CompletableFuture<byte[]>> inflight = new ConcurrentHashMap<>();
    /** Read-ahead threads, made on first use (double-checked under this object's lock). */
    private volatile ExecutorService ahead;
    private volatile boolean closed;
    /** Pack indexes of recent misses (remote/pack -> index), for {@link #neighbours}. */
    private final Map<String, RemoteLayout.PackIndex> indexes = new ConcurrentHashMap<>();
    /** How far past a missed record a fetch reaches into its pack (cowfs.remote.fetchWindow, bytes). */
    private final long window;
    /** Requests and bytes this process fetched (stats, benchmarks). */
    public final AtomicLong requests = new AtomicLong();
    public final AtomicLong bytes = new AtomicLong();

    private LazySource(Store store) {
        this.store = store;
        this.window = store.config().remoteFetchWindow();
    }

    /** Makes store fetch chunks of lazily pulled snapshots from their remotes (every process that reads data calls it). */
    public static LazySource attach(Store store) {
        if (store.chunkSource() instanceof LazySource l) {
            return l;
        }
        LazySource l = new LazySource(store);
        store.chunkSource(l);
        return l;
    }

    /**
     * For a process about to serve reads (a mount) of a store that has chunks on remotes: opens
     * those remotes and makes one request to each on a background thread, so the object store
     * client (the AWS SDK loads some thousand classes) and its connection are ready before the
     * first read needs them. Measured: the first byte of a lazily pulled file 1.25 s without this.
     */
    public void warmUp() {
        boolean any = store.index().read(txn -> store.index().rchunks.iterate(txn).iterator().hasNext());
        if (!any) {
            return;
        }
        Thread t = new Thread(() -> {
            for (RemoteConfig c : new Remotes(store).list()) {
                try {
                    remote(c.name()).objects().head(RemoteLayout.MARKER);
                } catch (RuntimeException e) {
                    // the first read that needs it reports the error
                }
            }
        }, "cowfs-remote-warm-up");
        t.setDaemon(true);
        t.start();
    }

    private Remote remote(String name) {
        return remotes.computeIfAbsent(name, n -> {
            Remotes rs = new Remotes(store);
            return rs.open(rs.get(n));
        });
    }

    @Override
    public byte[] fetch(ChunkId id) {
        for (int attempt = 0; ; attempt++) {
            try {
                return fetchOnce(id);
            } catch (Dropped d) {
                // the read-ahead that had it was dropped (queue full, closing): fetch it here
                if (attempt >= 3 || closed) {
                    throw new RemoteException("fetch of chunk " + id.shortHex() + " was dropped (the mount is closing)");
                }
            }
        }
    }

    private byte[] fetchOnce(ChunkId id) {
        CompletableFuture<byte[]> f = inflight.get(id);
        if (f != null) {
            return join(f);
        }
        Ref ref = store.index().read(txn -> store.index().rchunks.ref(txn, id));
        if (ref == null) {
            return null;
        }
        CompletableFuture<byte[]> mine = new CompletableFuture<>();
        f = inflight.putIfAbsent(id, mine);
        if (f != null) {
            return join(f);
        }
        Map<ChunkId, Ref> run = new LinkedHashMap<>();
        Map<ChunkId, CompletableFuture<byte[]>> futures = new HashMap<>();
        run.put(id, ref);
        futures.put(id, mine);
        try {
            neighbours(ref, run, futures);
        } catch (RuntimeException e) {
            // no index at hand (or a damaged one): fetch the one chunk
        }
        fetchRun(ref.remote(), ref.pack(), run, futures, true);
        return join(mine);
    }

    /**
     * Adds to run the records that follow ref's in its pack, within {@link #window} bytes, that
     * this store still lacks and nobody is fetching: push writes a tree's file data in walk order,
     * so they are most likely the next files a reader of this directory opens, and one range
     * request of a pack's neighbouring records costs about what a request of one record costs.
     */
    private void neighbours(Ref ref, Map<ChunkId, Ref> run, Map<ChunkId, CompletableFuture<byte[]>> futures) {
        if (window <= 0) {
            return;
        }
        RemoteLayout.PackIndex idx = packIndex(ref.remote(), ref.pack());
        List<RemoteLayout.Entry> es = idx.entries();
        int lo = 0;
        int hi = es.size();
        while (lo < hi) { // first entry at or after ref's offset
            int mid = (lo + hi) >>> 1;
            if (es.get(mid).offset() < ref.offset()) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        long limit = ref.offset() + window;
        List<RemoteLayout.Entry> next = new ArrayList<>();
        for (int i = lo; i < es.size() && es.get(i).end() <= limit; i++) {
            next.add(es.get(i));
        }
        store.index().read(txn -> {
            for (RemoteLayout.Entry e : next) {
                if (!run.containsKey(e.id()) && !inflight.containsKey(e.id())) {
                    Ref r = store.index().rchunks.ref(txn, e.id());
                    if (r != null && r.pack().equals(ref.pack()) && r.remote().equals(ref.remote())) {
                        run.put(e.id(), r);
                    }
                }
            }
            return null;
        });
        for (ChunkId n : new ArrayList<>(run.keySet())) {
            if (futures.containsKey(n)) {
                continue;
            }
            CompletableFuture<byte[]> f = new CompletableFuture<>();
            if (inflight.putIfAbsent(n, f) == null) {
                futures.put(n, f);
            } else {
                run.remove(n);
            }
        }
    }

    /** The index of a pack (from the store's cache of index objects, else the remote), kept for the next miss. */
    private RemoteLayout.PackIndex packIndex(String remoteName, ChunkId pack) {
        String key = remoteName + "/" + pack.hex();
        RemoteLayout.PackIndex idx = indexes.get(key);
        if (idx == null) {
            idx = remote(remoteName).packIndex(pack);
            if (indexes.size() > 256) {
                indexes.clear();
            }
            indexes.put(key, idx);
        }
        return idx;
    }

    @Override
    public void willNeed(List<ChunkId> ids) {
        Map<ChunkId, Ref> refs = new LinkedHashMap<>();
        store.index().read(txn -> {
            for (ChunkId id : ids) {
                if (!inflight.containsKey(id)) {
                    Ref r = store.index().rchunks.ref(txn, id);
                    if (r != null) {
                        refs.put(id, r);
                    }
                }
            }
            return null;
        });
        if (refs.isEmpty()) {
            return;
        }
        // group by remote and pack, then cut into runs of neighbours
        Map<String, List<Map.Entry<ChunkId, Ref>>> byPack = new LinkedHashMap<>();
        for (Map.Entry<ChunkId, Ref> e : refs.entrySet()) {
            byPack.computeIfAbsent(e.getValue().remote() + "/" + e.getValue().pack().hex(), k -> new ArrayList<>()).add(e);
        }
        for (List<Map.Entry<ChunkId, Ref>> group : byPack.values()) {
            group.sort(Comparator.comparingLong(e -> e.getValue().offset()));
            Map<ChunkId, Ref> run = new LinkedHashMap<>();
            long start = 0;
            long end = 0;
            for (Map.Entry<ChunkId, Ref> e : group) {
                Ref r = e.getValue();
                if (!run.isEmpty() && (r.offset() > end + GAP || r.offset() + r.recordLen() - start > RUN)) {
                    submit(run);
                    run = new LinkedHashMap<>();
                }
                if (run.isEmpty()) {
                    start = r.offset();
                }
                run.put(e.getKey(), r);
                end = Math.max(end, r.offset() + r.recordLen());
            }
            submit(run);
        }
    }

    /** Registers the run's chunks as in flight (skipping those another fetch has) and fetches them in the background. */
    private void submit(Map<ChunkId, Ref> run) {
        Map<ChunkId, Ref> mine = new LinkedHashMap<>();
        Map<ChunkId, CompletableFuture<byte[]>> futures = new HashMap<>();
        for (Map.Entry<ChunkId, Ref> e : run.entrySet()) {
            CompletableFuture<byte[]> f = new CompletableFuture<>();
            if (inflight.putIfAbsent(e.getKey(), f) == null) {
                mine.put(e.getKey(), e.getValue());
                futures.put(e.getKey(), f);
            }
        }
        if (mine.isEmpty()) {
            return;
        }
        Ref first = mine.values().iterator().next();
        try {
            executor().execute(() -> fetchRun(first.remote(), first.pack(), mine, futures, true));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // read-ahead queue full (or closing): readers waiting for these fetch them themselves
            drop(futures);
        }
    }

    private ExecutorService executor() {
        ExecutorService e = ahead;
        if (e == null) {
            synchronized (this) {
                if (ahead == null) {
                    ahead = new ThreadPoolExecutor(4, 4, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(64), Remote.daemon("cowfs-lazy-ahead"));
                    ((ThreadPoolExecutor) ahead).allowCoreThreadTimeOut(true);
                }
                e = ahead;
            }
        }
        return e;
    }

    /** Completes futures with Dropped (their waiters fetch for themselves) and forgets them. */
    private void drop(Map<ChunkId, CompletableFuture<byte[]>> futures) {
        for (Map.Entry<ChunkId, CompletableFuture<byte[]>> e : futures.entrySet()) {
            inflight.remove(e.getKey(), e.getValue());
            e.getValue().completeExceptionally(new Dropped());
        }
    }

    /**
     * Fetches the records of run (all in one pack) by one range request, stores and commits those
     * that check out, and completes every future: with the bytes, or with why that record could
     * not be had (a damaged neighbour fails only itself). If the pack is gone from the remote
     * (a re-push or gc there moved the chunks), and relocate, the chunks are looked for in the
     * remote's other packs.
     */
    private void fetchRun(String remoteName, ChunkId pack, Map<ChunkId, Ref> run, Map<ChunkId, CompletableFuture<byte[]>> futures,
                          boolean relocate) {
        Map<ChunkId, byte[]> got = new LinkedHashMap<>();
        try {
            long from = Long.MAX_VALUE;
            long to = 0;
            for (Ref r : run.values()) {
                from = Math.min(from, r.offset());
                to = Math.max(to, r.offset() + r.recordLen());
            }
            String key = RemoteLayout.packKey(pack);
            Remote rem = remote(remoteName);
            byte[] b;
            try {
                b = rem.objects().getRange(key, from, (int) (to - from));
            } catch (RemoteException.Missing e) {
                if (relocate && relocate(remoteName, pack, run, futures)) {
                    return;
                }
                throw new RemoteException("remote " + rem.describe() + ": " + key + " is missing (see: cowfs verify --remote " + remoteName + ")");
            }
            requests.incrementAndGet();
            bytes.addAndGet(b.length);
            for (Map.Entry<ChunkId, Ref> e : run.entrySet()) {
                Ref r = e.getValue();
                long at = r.offset() - from;
                try {
                    if (at + r.recordLen() > b.length) {
                        throw new RemoteException("remote " + rem.describe() + ": " + key + " is shorter than its index says");
                    }
                    got.put(e.getKey(), store.putFetched(e.getKey(), b, (int) at, r.recordLen(), "remote " + remoteName + " " + key));
                } catch (RuntimeException ex) {
                    complete(futures, e.getKey(), null, ex);
                }
            }
        } catch (Throwable t) {
            for (Map.Entry<ChunkId, CompletableFuture<byte[]>> e : futures.entrySet()) {
                if (!got.containsKey(e.getKey())) {
                    complete(futures, e.getKey(), null, t);
                }
            }
        } finally {
            // whatever was stored is committed (a fetched chunk left uncommitted would keep this
            // process's retired packs locked), then its waiters get it
            Throwable failed = null;
            if (!got.isEmpty()) {
                try {
                    store.commitFetched(got.keySet(), txn -> {
                        for (ChunkId id : got.keySet()) {
                            store.index().rchunks.delete(txn, id);
                        }
                    });
                } catch (Throwable t) {
                    failed = t;
                }
            }
            for (Map.Entry<ChunkId, byte[]> e : got.entrySet()) {
                complete(futures, e.getKey(), failed == null ? e.getValue() : null, failed);
            }
        }
    }

    private void complete(Map<ChunkId, CompletableFuture<byte[]>> futures, ChunkId id, byte[] value, Throwable error) {
        CompletableFuture<byte[]> f = futures.get(id);
        inflight.remove(id, f);
        if (error == null) {
            f.complete(value);
        } else {
            f.completeExceptionally(error);
        }
    }

    /**
     * The pack a run's chunks were in is gone from the remote: finds them in the remote's other
     * (indexed, uncondemned) packs, points their rchunks entries there, and fetches them from
     * there. False if some chunk of the run is nowhere on the remote (then nothing changed).
     */
    private boolean relocate(String remoteName, ChunkId gone, Map<ChunkId, Ref> run, Map<ChunkId, CompletableFuture<byte[]>> futures) {
        Remote rem = remote(remoteName);
        java.util.Set<ChunkId> skip = new java.util.HashSet<>(RemoteLayout.Condemned.read(rem.objects()).packs());
        skip.add(gone);
        Map<ChunkId, Remote.Located> all = rem.chunkIndex(skip, 4);
        Map<ChunkId, Map<ChunkId, Ref>> byPack = new LinkedHashMap<>();
        for (ChunkId id : run.keySet()) {
            Remote.Located l = all.get(id);
            if (l == null) {
                return false;
            }
            byPack.computeIfAbsent(l.pack(), k -> new LinkedHashMap<>())
                    .put(id, new Ref(remoteName, l.pack(), l.entry().offset(), l.entry().storedLen(), l.entry().rawLen()));
        }
        store.commitFetched(List.of(), txn -> {
            for (Map<ChunkId, Ref> refs : byPack.values()) {
                for (Map.Entry<ChunkId, Ref> e : refs.entrySet()) {
                    if (store.index().rchunks.ref(txn, e.getKey()) != null) {
                        store.index().rchunks.put(txn, e.getKey(), e.getValue());
                    }
                }
            }
        });
        for (Map.Entry<ChunkId, Map<ChunkId, Ref>> p : byPack.entrySet()) {
            Map<ChunkId, CompletableFuture<byte[]>> fs = new HashMap<>();
            for (ChunkId id : p.getValue().keySet()) {
                fs.put(id, futures.get(id));
            }
            fetchRun(remoteName, p.getKey(), p.getValue(), fs, false);
        }
        return true;
    }

    /** A read-ahead fetch that never ran: whoever waited for it fetches the chunk itself. */
    private static final class Dropped extends RuntimeException {
        Dropped() {
            super("dropped", null, false, false);
        }
    }

    private static byte[] join(CompletableFuture<byte[]> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof Dropped d) {
                throw d;
            }
            if (e.getCause() instanceof StoreException s) {
                throw s;
            }
            throw new RemoteException(String.valueOf(e.getCause()), e.getCause());
        }
    }

    /** Stops read-ahead (waiting for fetches under way), fails what waits for a dropped one, closes the remotes. */
    @Override
    public void close() {
        closed = true;
        ExecutorService e = ahead;
        if (e != null) {
            e.shutdownNow();
            try {
                e.awaitTermination(30, TimeUnit.SECONDS);
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
            }
        }
        drop(new HashMap<>(inflight));
        remotes.values().forEach(Remote::close);
    }
}
