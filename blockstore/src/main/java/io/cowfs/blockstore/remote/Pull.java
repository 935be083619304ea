package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.gc.ObjectGraph;
import io.cowfs.blockstore.remote.RemoteLayout.Entry;
import io.cowfs.blockstore.remote.RemoteLayout.Manifest;
import io.cowfs.blockstore.remote.RemoteLayout.PackIndex;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.RemoteChunksTable;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code cowfs pull}: makes a remote snapshot a local one (docs/REMOTE.md, "Pull"). The tree
 * objects always come over, whole tree packs at a time; file data too for a full pull, or, for a
 * lazy pull, only its whereabouts (the rchunks table), fetched by {@link LazySource} on first
 * read. The catalog entry is added last, in the same transaction as the rchunks entries, under
 * a lease (gc keeps what the pull committed before it).
 */
public final class Pull {
    /** Neighbouring records closer than this are fetched by one range request. */
    static final long GAP = 1 << 20;

    private final Store store;
    private final Remote remote;
    private final int threads;
    private final Transfer.Progress progress;
    private final AtomicLong movedBytes = new AtomicLong();
    private final AtomicLong movedChunks = new AtomicLong();
    private final AtomicLong objects = new AtomicLong();

    public Pull(Store store, Remote remote, int threads, Transfer.Progress progress) {
        this.store = store;
        this.remote = remote;
        this.threads = Math.max(1, threads);
        this.progress = progress;
    }

    public Transfer.Result pull(String name, String as, boolean lazy) {
        long t0 = System.nanoTime();
        long r0 = remote.objects().requests();
        String local = as == null ? name : as;
        Catalog catalog = new Catalog(store);
        Catalog.checkName(local);
        remote.requireMarker();
        Manifest m = remote.manifest(name);
        CatalogEntry have = catalog.find(local);
        if (have != null) {
            if (!have.isView() && have.root().equals(m.root())) {
                return result(name, local, true, lazy, m.chunks(), 0, t0, r0);
            }
            throw new StoreException.CatalogException("the name '" + local + "' is taken in this store (pull under another name: --as NEW)");
        }
        try (Store.Lease lease = store.lease()) {
            Map<ChunkId, PackIndex> indexes;
            try {
                indexes = remote.snapshotIndexes(m, threads);
            } catch (RemoteException.Missing e) {
                throw new RemoteException("remote " + remote.describe() + " is incomplete: " + e.getMessage() + ", needed by snapshot " + name
                        + " (see: cowfs verify --remote " + remote.config().name() + ")");
            }
            objects.addAndGet(indexes.size());
            Map<ChunkId, Remote.Located> where = new HashMap<>();
            for (PackIndex i : indexes.values()) {
                for (Entry e : i.entries()) {
                    where.putIfAbsent(e.id(), new Remote.Located(i.pack(), i.tree(), e));
                }
            }
            // tree objects: whole tree packs (a snapshot's structure is read in full by any use of it)
            Map<ChunkId, List<Entry>> treeWant = new LinkedHashMap<>();
            for (PackIndex i : indexes.values()) {
                if (i.tree()) {
                    List<Entry> want = missing(i.entries());
                    if (!want.isEmpty()) {
                        treeWant.put(i.pack(), want);
                    }
                }
            }
            long treeBytes = 0;
            for (List<Entry> es : treeWant.values()) {
                treeBytes += RemoteLayout.bytes(es);
            }
            progress.total(treeBytes);
            fetch(treeWant, indexes);
            // walk the tree (fetching any tree object a data pack holds), collecting missing data
            List<ChunkId> kept = new ArrayList<>();
            List<ChunkId> absent = walk(m.root(), where, name, kept);
            if (inlineLists) { // older builds cannot read such inodes: they must refuse this store
                store.requireFormat(Store.FORMAT_INLINE_LISTS);
            }
            long absentBytes = 0;
            Map<ChunkId, List<Entry>> dataWant = new LinkedHashMap<>();
            for (ChunkId id : absent) {
                Remote.Located l = where.get(id);
                dataWant.computeIfAbsent(l.pack(), k -> new ArrayList<>()).add(l.entry());
                absentBytes += PackRecord.HEADER + l.entry().storedLen();
            }
            CatalogEntry entry = new CatalogEntry(local, CatalogEntry.Kind.SNAPSHOT, m.root(), 0, "",
                    m.createdMillis() > 0 ? m.createdMillis() : System.currentTimeMillis(),
                    "pulled from " + remote.config().name() + ":" + name + (m.source().isEmpty() ? "" : " (" + m.source() + ")"));
            if (lazy) {
                if (!absent.isEmpty()) {
                    store.requireFormat(Store.FORMAT_REMOTE_CHUNKS);
                }
                store.commitFetched(List.of(), txn -> {
                    stillThere(txn, kept);
                    for (ChunkId id : absent) {
                        Remote.Located l = where.get(id);
                        store.index().rchunks.put(txn, id, new RemoteChunksTable.Ref(remote.config().name(), l.pack(),
                                l.entry().offset(), l.entry().storedLen(), l.entry().rawLen()));
                    }
                    catalog.add(txn, entry);
                });
                return result(name, local, false, true, m.chunks(), absent.size(), t0, r0);
            }
            progress.total(treeBytes + absentBytes);
            fetch(dataWant, indexes);
            store.commitFetched(List.of(), txn -> {
                stillThere(txn, kept);
                catalog.add(txn, entry);
            });
            return result(name, local, false, false, m.chunks(), 0, t0, r0);
        }
    }

    /**
     * Chunks the pull found in the store already are not stamped by it (only what it commits is
     * kept by its lease): a gc that ran meanwhile (after an rm of the snapshot that had them) may
     * have collected them. Checked in the transaction that adds the name, so the name never
     * refers to a chunk that is gone.
     */
    private void stillThere(org.lmdbjava.Txn<byte[]> txn, List<ChunkId> local) {
        for (ChunkId id : local) {
            if (store.index().chunks.location(txn, id) == null) {
                throw new StoreException("a gc running meanwhile removed chunks this pull relied on (" + id.shortHex()
                        + "); run the pull again");
            }
        }
    }

    private Transfer.Result result(String name, String local, boolean already, boolean lazy, long chunks, long left, long t0, long r0) {
        return new Transfer.Result(name, local, already, lazy, chunks, movedChunks.get(), movedBytes.get(), objects.get(), left,
                remote.objects().requests() - r0, (System.nanoTime() - t0) / 1e9);
    }

    private List<Entry> missing(List<Entry> entries) {
        List<Entry> out = new ArrayList<>();
        store.index().read(txn -> {
            for (Entry e : entries) {
                if (store.index().chunks.location(txn, e.id()) == null) {
                    out.add(e);
                }
            }
            return null;
        });
        return out;
    }

    /** Set by {@link #walk} when the snapshot has inodes holding their block list (format 6). */
    private boolean inlineLists;

    /**
     * The snapshot's data chunks this store lacks, in walk order. A tree object it lacks is fetched
     * on the way (by a range request); one the remote's packs do not hold either fails the pull.
     * Sets {@link #inlineLists}.
     */
    private List<ChunkId> walk(ChunkId root, Map<ChunkId, Remote.Located> where, String name, List<ChunkId> local) {
        List<ChunkId> absent = new ArrayList<>();
        java.util.Set<ChunkId> seen = new java.util.HashSet<>();
        long floor = store.index().read(store::currentGen); // chunks stamped after the lease was taken are kept by it
        java.util.Set<ChunkId> inodePages = new java.util.HashSet<>();
        new ObjectGraph(store).snapshot(root, (kind, id, from) -> {
            if (kind == ObjectGraph.Kind.INODE_PAGE) {
                inodePages.add(id);
            } else if (kind == ObjectGraph.Kind.BLOCK && inodePages.contains(from)) {
                inlineLists = true; // named by an inode, not a page: a format-6 tree
            }
            if (!seen.add(id)) {
                return ObjectGraph.Step.SKIP;
            }
            ChunkLocation here = store.locate(id);
            if (here != null && here.gen() < floor) {
                local.add(id); // older than this pull's lease: not kept by it
            }
            if (here == null) {
                Remote.Located l = where.get(id);
                if (l == null) {
                    throw new RemoteException("remote " + remote.describe() + " is incomplete: chunk " + id.shortHex()
                            + " of snapshot " + name + " is in none of its packs (see: cowfs verify --remote " + remote.config().name() + ")");
                }
                if (kind == ObjectGraph.Kind.BLOCK) {
                    absent.add(id);
                } else {
                    fetch(Map.of(l.pack(), List.of(l.entry())), Map.of());
                }
            }
            return ObjectGraph.Step.WALK;
        });
        return absent;
    }

    /**
     * Fetches the records wanted from each pack (a whole pack when most of it is wanted, else
     * range requests over runs of neighbours), checks and stores them, and commits each pack's.
     */
    private void fetch(Map<ChunkId, List<Entry>> want, Map<ChunkId, PackIndex> indexes) {
        if (want.isEmpty()) {
            return;
        }
        ExecutorService ex = Executors.newFixedThreadPool(Math.min(threads, want.size()), Remote.daemon("cowfs-pull"));
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (Map.Entry<ChunkId, List<Entry>> w : want.entrySet()) {
                PackIndex idx = indexes.get(w.getKey());
                fs.add(ex.submit(() -> fetchPack(w.getKey(), w.getValue(), idx)));
            }
            for (Future<?> f : fs) {
                Remote.join(f);
            }
        } finally {
            ex.shutdownNow();
        }
    }

    private void fetchPack(ChunkId pack, List<Entry> wanted, PackIndex idx) {
        List<Entry> es = new ArrayList<>(wanted);
        es.sort(Comparator.comparingLong(Entry::offset));
        String key = RemoteLayout.packKey(pack);
        long wantedBytes = RemoteLayout.bytes(es);
        List<ChunkId> ids = new ArrayList<>();
        if (idx != null && wantedBytes * 2 >= idx.packSize()) {
            byte[] b = get(key, () -> remote.objects().get(key));
            for (Entry e : es) {
                put(e, b, e.offset(), key, ids);
            }
        } else {
            for (List<Entry> run : runs(es, GAP, 16L << 20)) {
                long from = run.get(0).offset();
                long to = run.get(run.size() - 1).end();
                byte[] b = get(key, () -> remote.objects().getRange(key, from, (int) (to - from)));
                for (Entry e : run) {
                    put(e, b, e.offset() - from, key, ids);
                }
            }
        }
        store.commitFetched(ids, txn -> { });
    }

    private byte[] get(String key, java.util.function.Supplier<byte[]> get) {
        try {
            byte[] b = get.get();
            objects.incrementAndGet();
            movedBytes.addAndGet(b.length);
            return b;
        } catch (RemoteException.Missing e) {
            throw new RemoteException("remote " + remote.describe() + " is incomplete: " + key + " is missing (see: cowfs verify --remote "
                    + remote.config().name() + ")");
        }
    }

    private void put(Entry e, byte[] b, long at, String key, List<ChunkId> ids) {
        int len = PackRecord.HEADER + e.storedLen();
        if (at < 0 || at + len > b.length) {
            throw new RemoteException("remote object " + key + " is shorter than its index says");
        }
        store.putFetched(e.id(), b, (int) at, len, "remote " + remote.config().name() + " " + key);
        ids.add(e.id());
        movedChunks.incrementAndGet();
        progress.step(len);
    }

    /** es (sorted by offset) cut into runs whose neighbours are at most gap apart and that span at most max bytes. */
    static List<List<Entry>> runs(List<Entry> es, long gap, long max) {
        List<List<Entry>> out = new ArrayList<>();
        List<Entry> cur = new ArrayList<>();
        for (Entry e : es) {
            if (!cur.isEmpty()) {
                Entry last = cur.get(cur.size() - 1);
                if (e.offset() > last.end() + gap || e.end() - cur.get(0).offset() > max) {
                    out.add(cur);
                    cur = new ArrayList<>();
                }
            }
            cur.add(e);
        }
        if (!cur.isEmpty()) {
            out.add(cur);
        }
        return out;
    }
}
