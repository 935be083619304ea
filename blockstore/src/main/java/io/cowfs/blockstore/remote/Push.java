package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.gc.ObjectGraph;
import io.cowfs.blockstore.remote.RemoteLayout.Condemned;
import io.cowfs.blockstore.remote.RemoteLayout.Entry;
import io.cowfs.blockstore.remote.RemoteLayout.Manifest;
import io.cowfs.blockstore.remote.RemoteLayout.PackIndex;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code cowfs push}: uploads what a remote lacks of a snapshot, then its manifest (docs/REMOTE.md,
 * "Push"). The snapshot's chunks are walked in tree order; a chunk some indexed, uncondemned pack
 * on the remote holds already is not sent again; the others are copied record by record (checked,
 * never re-compressed) into pack objects of about packBytes, tree objects and file data in
 * separate packs, each pack uploaded before its index, on threads threads. The manifest goes last,
 * so a reader never sees a snapshot whose objects are missing; a push killed before it leaves
 * packs that the next push reuses (their index objects say what they hold) or that gc removes.
 */
public final class Push {
    private final Store store;
    private final Remote remote;
    private final int threads;
    private final long packBytes;
    private final Transfer.Progress progress;
    private final AtomicLong uploadedBytes = new AtomicLong();
    private final AtomicLong uploadedObjects = new AtomicLong();
    private final AtomicLong uploadedChunks = new AtomicLong();

    public Push(Store store, Remote remote, int threads, long packBytes, Transfer.Progress progress) {
        this.store = store;
        this.remote = remote;
        this.threads = Math.max(1, threads);
        this.packBytes = Math.max(64 << 10, packBytes);
        this.progress = progress;
    }

    public Transfer.Result push(String name) {
        long t0 = System.nanoTime();
        long r0 = remote.objects().requests();
        CatalogEntry e = new Catalog(store).get(name);
        if (e.isView()) {
            throw new StoreException.InvalidRequestException("'" + name + "' is a view; push takes a snapshot (make one: cowfs snapshot " + name + " NEW)");
        }
        remote.checkMarker(true);
        Manifest there = remote.findManifest(name);
        Set<ChunkId> present = remote.packNames(); // a pack lost on the remote is sent again (push repairs)
        if (there != null) {
            if (!there.root().equals(e.root())) {
                throw new StoreException.CatalogException("remote " + remote.describe() + " has another snapshot named '" + name
                        + "' (delete it there first: cowfs remote delete " + remote.config().name() + " " + name + ")");
            }
            if (present.containsAll(there.packs())) {
                return result(name, true, there.chunks(), t0, r0);
            }
        }

        Map<ChunkId, Boolean> chunks = walk(e.root()); // id -> is a tree object
        Set<ChunkId> manifestPacks = new LinkedHashSet<>();
        long bytes = 0;
        Set<ChunkId> condemnedSeen = new HashSet<>();
        for (int round = 0; ; round++) {
            if (round > 0) {
                present = remote.packNames(); // this push's own packs of the rounds before are there too
            }
            Condemned condemned = Condemned.read(remote.objects());
            condemnedSeen.addAll(condemned.packs());
            Set<ChunkId> skip = new HashSet<>(condemnedSeen);
            for (ChunkId p : remote.indexedPacks()) {
                if (!present.contains(p)) {
                    skip.add(p); // an index whose pack is gone
                }
            }
            Map<ChunkId, Remote.Located> there2 = remote.chunkIndex(skip, threads);
            manifestPacks.clear();
            bytes = 0;
            List<ChunkId> send = new ArrayList<>();
            for (Map.Entry<ChunkId, Boolean> c : chunks.entrySet()) {
                Remote.Located l = there2.get(c.getKey());
                if (l != null) {
                    manifestPacks.add(l.pack());
                    bytes += PackRecord.HEADER + l.entry().storedLen();
                } else {
                    send.add(c.getKey());
                }
            }
            bytes += upload(send, chunks, manifestPacks);
            // gc may have condemned a pack this push reuses while it ran (send those chunks again), or
            // condemned and then deleted it (then the condemned list no longer names it: the
            // listing of packs, made after this read, shows it missing). docs/REMOTE.md, gc.
            Set<ChunkId> now = Condemned.read(remote.objects()).packs();
            Set<ChunkId> listed = remote.packNames();
            if (now.stream().noneMatch(manifestPacks::contains) && listed.containsAll(manifestPacks)) {
                break;
            }
            if (round == 2) {
                throw new RemoteException("remote " + remote.describe() + ": a concurrent gc keeps condemning packs this push needs; push again later");
            }
            condemnedSeen.addAll(now);
            for (ChunkId p : manifestPacks) {
                if (!listed.contains(p)) {
                    condemnedSeen.add(p); // deleted by a gc while this push ran
                }
            }
        }

        // the packs' indexes in one object, for lazy pulls: those a recent snapshot's sindex holds
        // already are left to it (a second push of a similar tree then adds a small sindex)
        String base = sindexBase(name, manifestPacks);
        Set<ChunkId> own = new LinkedHashSet<>(manifestPacks);
        if (!base.isEmpty()) {
            own.removeAll(remote.manifest(base).packs());
        }
        Manifest m = new Manifest(name, e.root(), e.createdMillis(), sourceOf(e), chunks.size(), bytes, manifestPacks, base);
        Manifest race = remote.findManifest(name);
        if (race != null && !race.root().equals(e.root()) && (there == null || !there.root().equals(race.root()))) {
            throw new StoreException.CatalogException("remote " + remote.describe() + " got another snapshot named '" + name + "' while this push ran");
        }
        byte[] sindex = RemoteLayout.encodeSnapshotIndex(remote.packIndexes(own, threads).values()); // missing or stale: only slower
        remote.objects().put(RemoteLayout.snapshotIndexKey(name), sindex);
        remote.objects().put(RemoteLayout.snapshotKey(name), m.encode());
        uploadedObjects.addAndGet(2);
        uploadedBytes.addAndGet(sindex.length);
        return result(name, false, chunks.size(), t0, r0);
    }

    /**
     * A recent snapshot (one of the 5 last sindex objects written) whose own sindex is whole (no
     * base of its own) and whose packs are at least half of packs; "" if none.
     */
    private String sindexBase(String name, Set<ChunkId> packs) {
        if (packs.isEmpty()) {
            return "";
        }
        List<ObjectStore.ObjectInfo> recent = new ArrayList<>(remote.objects().list(RemoteLayout.SINDEX));
        recent.sort((a, b) -> Long.compare(b.lastModifiedMillis(), a.lastModifiedMillis()));
        String best = "";
        long bestOverlap = 0;
        for (ObjectStore.ObjectInfo o : recent.subList(0, Math.min(5, recent.size()))) {
            String n = o.key().substring(RemoteLayout.SINDEX.length());
            Manifest bm = n.equals(name) ? null : remote.findManifest(n);
            if (bm == null || !bm.sindexBase().isEmpty()) {
                continue;
            }
            long overlap = bm.packs().stream().filter(packs::contains).count();
            if (overlap > bestOverlap) {
                best = n;
                bestOverlap = overlap;
            }
        }
        return bestOverlap * 2 >= packs.size() ? best : "";
    }

    private static String sourceOf(CatalogEntry e) {
        String s = e.source().isEmpty() ? e.parent() : e.source();
        return s == null ? "" : s;
    }

    private Transfer.Result result(String name, boolean already, long chunks, long t0, long r0) {
        return new Transfer.Result(name, name, already, false, chunks, uploadedChunks.get(), uploadedBytes.get(),
                uploadedObjects.get(), 0, remote.objects().requests() - r0, (System.nanoTime() - t0) / 1e9);
    }

    /** Every chunk of the snapshot, in walk order (a file's blocks in file order), and whether it is a tree object. */
    private Map<ChunkId, Boolean> walk(ChunkId root) {
        Map<ChunkId, Boolean> seen = new LinkedHashMap<>();
        new ObjectGraph(store).snapshot(root, (kind, id, from) -> {
            if (seen.putIfAbsent(id, kind != ObjectGraph.Kind.BLOCK) != null) {
                return ObjectGraph.Step.SKIP;
            }
            return ObjectGraph.Step.WALK;
        });
        return seen;
    }

    /** Uploads the chunks in send as new packs (tree and data apart); adds them to packs; returns their bytes. */
    private long upload(List<ChunkId> send, Map<ChunkId, Boolean> kinds, Set<ChunkId> packs) {
        if (send.isEmpty()) {
            progress.total(0);
            return 0;
        }
        long total = 0;
        for (ChunkId id : send) {
            ChunkLocation l = store.locate(id);
            total += PackRecord.HEADER + (l == null ? 0 : l.storedLen());
        }
        progress.total(total);
        ExecutorService ex = Executors.newFixedThreadPool(threads, Remote.daemon("cowfs-push"));
        Semaphore inFlight = new Semaphore(threads + 1); // packs built but not uploaded: memory stays ~(threads + 2) packs
        List<Future<?>> done = new ArrayList<>();
        Builder tree = new Builder(true);
        Builder data = new Builder(false);
        long sent = 0;
        try {
            for (ChunkId id : send) {
                byte[] rec = store.readRecord(id);
                Builder b = kinds.get(id) ? tree : data;
                b.add(id, rec);
                sent += rec.length;
                if (b.size() >= packBytes) {
                    done.add(submit(ex, inFlight, b.finish(), packs));
                    failFast(done);
                }
            }
            for (Builder b : List.of(tree, data)) {
                if (!b.isEmpty()) {
                    done.add(submit(ex, inFlight, b.finish(), packs));
                }
            }
            for (Future<?> f : done) {
                Remote.join(f);
            }
        } finally {
            ex.shutdownNow();
        }
        return sent;
    }

    private void failFast(List<Future<?>> done) {
        for (Future<?> f : done) {
            if (f.isDone()) {
                Remote.join(f);
            }
        }
    }

    /** A pack ready to upload: its bytes and its index. */
    private record Built(byte[] bytes, PackIndex index) {
    }

    private Future<?> submit(ExecutorService ex, Semaphore inFlight, Built b, Set<ChunkId> packs) {
        try {
            inFlight.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RemoteException("interrupted", e);
        }
        packs.add(b.index().pack());
        return ex.submit(() -> {
            try {
                ObjectStore os = remote.objects();
                os.put(RemoteLayout.packKey(b.index().pack()), b.bytes());
                byte[] idx = b.index().encode();
                os.put(RemoteLayout.indexKey(b.index().pack()), idx); // after the pack: an index names only a whole pack
                remote.cacheIndex(b.index().pack(), idx);
                uploadedBytes.addAndGet(b.bytes().length + idx.length);
                uploadedObjects.addAndGet(2);
                uploadedChunks.addAndGet(b.index().entries().size());
                progress.step(b.bytes().length);
            } finally {
                inFlight.release();
            }
        });
    }

    /** Collects records into one pack object. */
    private static final class Builder {
        private final boolean tree;
        private ByteArrayOutputStream buf;
        private List<Entry> entries;

        Builder(boolean tree) {
            this.tree = tree;
            reset();
        }

        private void reset() {
            buf = new ByteArrayOutputStream(1 << 20);
            buf.writeBytes(PackRecord.FILE_MAGIC);
            entries = new ArrayList<>();
        }

        void add(ChunkId id, byte[] rec) {
            java.nio.ByteBuffer h = java.nio.ByteBuffer.wrap(rec);
            PackRecord r = PackRecord.decodeHeader(h);
            entries.add(new Entry(id, buf.size(), r.storedLen(), r.rawLen()));
            buf.writeBytes(rec);
        }

        long size() {
            return buf.size();
        }

        boolean isEmpty() {
            return entries.isEmpty();
        }

        Built finish() {
            byte[] b = buf.toByteArray();
            Built out = new Built(b, new PackIndex(RemoteLayout.newPackName(), tree, b.length, ChunkId.hash(b), entries));
            reset();
            return out;
        }
    }
}
