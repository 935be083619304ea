package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.remote.RemoteLayout.Entry;
import io.cowfs.blockstore.remote.RemoteLayout.Manifest;
import io.cowfs.blockstore.remote.RemoteLayout.PackIndex;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * One opened remote: its object store, and this store's cache of its pack indexes (immutable
 * objects under a pack's random name, which is never reused, so a cached copy is never stale).
 * docs/REMOTE.md.
 *
 * <p>Thread-safety: the object store is; the cache directory is written by rename only.
 */
public final class Remote implements AutoCloseable {
    private final RemoteConfig config;
    private final ObjectStore os;
    private final Path cache;
    private final Store store;

    Remote(RemoteConfig config, ObjectStore os, Path cache, Store store) {
        this.config = config;
        this.os = os;
        this.cache = cache;
        this.store = store;
    }

    public RemoteConfig config() {
        return config;
    }

    public ObjectStore objects() {
        return os;
    }

    public String describe() {
        return config.name() + " (" + config.describe() + ")";
    }

    /**
     * Checks that the remote holds cowfs objects of this store's block size; with create, makes
     * the marker of an empty remote (the first push). A remote of another block size is refused:
     * a snapshot's block lists only mean something at the block size they were cut at.
     */
    public boolean checkMarker(boolean create) {
        byte[] m;
        try {
            m = os.get(RemoteLayout.MARKER);
        } catch (RemoteException.Missing e) {
            if (!create) {
                return false;
            }
            os.put(RemoteLayout.MARKER, RemoteLayout.marker(store.blockSize()));
            return true;
        }
        int bs = RemoteLayout.markerBlockSize(m, describe());
        if (bs != store.blockSize()) {
            throw new StoreException.InvalidRequestException("remote " + describe() + " holds snapshots of block size " + bs
                    + ", this store has " + store.blockSize() + " (use a store of the same block size, or another prefix)");
        }
        return true;
    }

    /** Checks the marker and fails with a clear message if the remote holds no cowfs objects at all. */
    public void requireMarker() {
        if (!checkMarker(false)) {
            throw new StoreException.NotFoundException("remote " + describe() + " holds no cowfs snapshots yet (push one first: cowfs push SNAPSHOT)");
        }
    }

    /** The index of a pack object, from the cache or fetched (and cached). */
    public PackIndex packIndex(ChunkId pack) {
        Path f = cache.resolve("index").resolve(pack.hex());
        try {
            if (Files.exists(f)) {
                try {
                    return PackIndex.decode(pack, Files.readAllBytes(f));
                } catch (RemoteException e) {
                    Files.deleteIfExists(f); // a damaged cached copy: fetch it again
                }
            }
        } catch (IOException e) {
            // unreadable cache: fetch
        }
        byte[] b = os.get(RemoteLayout.indexKey(pack));
        PackIndex idx = PackIndex.decode(pack, b);
        cacheIndex(pack, b);
        return idx;
    }

    /** Remembers a pack index this process wrote or fetched (best effort: the cache is only a cache). */
    void cacheIndex(ChunkId pack, byte[] b) {
        Path dir = cache.resolve("index");
        Path f = dir.resolve(pack.hex());
        try {
            store.access().createDirectories(dir);
            Path tmp = dir.resolve(pack.hex() + "." + ProcessHandle.current().pid() + "." + Thread.currentThread().getId() + ".tmp");
            store.access().write(tmp, b);
            Files.move(tmp, f, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            // not cached: fetched again next time
        }
    }

    /**
     * The indexes of a snapshot's packs: from the cache where every one is there, else from the
     * snapshot's index object (one request; each index is checked and cached), else pack by pack.
     */
    public Map<ChunkId, PackIndex> snapshotIndexes(RemoteLayout.Manifest m, int threads) {
        Map<ChunkId, PackIndex> out = new HashMap<>();
        java.util.Set<ChunkId> left = new java.util.LinkedHashSet<>();
        for (ChunkId p : m.packs()) {
            if (!Files.exists(cache.resolve("index").resolve(p.hex()))) {
                left.add(p);
            }
        }
        // the snapshot's own sindex, then its base's, take what they hold of the packs not cached
        for (String n : m.sindexBase().isEmpty() ? List.of(m.name()) : List.of(m.name(), m.sindexBase())) {
            if (left.isEmpty()) {
                break;
            }
            try {
                for (PackIndex i : RemoteLayout.decodeSnapshotIndex(n, os.get(RemoteLayout.snapshotIndexKey(n)))) {
                    if (left.remove(i.pack())) {
                        out.put(i.pack(), i);
                        cacheIndex(i.pack(), i.encode());
                    }
                }
            } catch (RemoteException e) {
                // missing (an older cowfs pushed it, or the base was deleted) or damaged: the packs' own indexes
            }
        }
        java.util.Set<ChunkId> rest = new java.util.LinkedHashSet<>(m.packs());
        rest.removeAll(out.keySet());
        out.putAll(packIndexes(rest, threads)); // cached ones from disk, the others one request each
        return out;
    }

    /** The indexes of packs, fetched on threads threads where not cached. */
    public Map<ChunkId, PackIndex> packIndexes(Collection<ChunkId> packs, int threads) {
        Map<ChunkId, PackIndex> out = new HashMap<>();
        ExecutorService ex = Executors.newFixedThreadPool(Math.max(1, Math.min(threads, packs.size())), daemon("cowfs-index"));
        try {
            List<Future<PackIndex>> fs = new ArrayList<>();
            for (ChunkId p : packs) {
                fs.add(ex.submit(() -> packIndex(p)));
            }
            for (Future<PackIndex> f : fs) {
                PackIndex i = join(f);
                out.put(i.pack(), i);
            }
        } finally {
            ex.shutdownNow();
        }
        return out;
    }

    /** The packs that have an index object on the remote (those a push finished). */
    public List<ChunkId> indexedPacks() {
        return new ArrayList<>(RemoteLayout.listed(os, RemoteLayout.INDEX).keySet());
    }

    /** The pack objects on the remote. */
    public java.util.Set<ChunkId> packNames() {
        return new java.util.HashSet<>(RemoteLayout.listed(os, RemoteLayout.PACKS).keySet());
    }

    /** Where a chunk is on the remote: its pack and record there. */
    public record Located(ChunkId pack, boolean tree, Entry entry) {
    }

    /** Every chunk of every indexed pack (skipping packs in exclude), with where it is. */
    public Map<ChunkId, Located> chunkIndex(java.util.Set<ChunkId> exclude, int threads) {
        List<ChunkId> packs = new ArrayList<>(indexedPacks());
        packs.removeAll(exclude);
        Map<ChunkId, Located> out = new HashMap<>();
        for (PackIndex i : packIndexes(packs, threads).values()) {
            for (Entry e : i.entries()) {
                out.putIfAbsent(e.id(), new Located(i.pack(), i.tree(), e));
            }
        }
        return out;
    }

    /** The manifest of a remote snapshot, or null if there is none of that name. */
    public Manifest findManifest(String name) {
        try {
            return Manifest.decode(name, os.get(RemoteLayout.snapshotKey(name)));
        } catch (RemoteException.Missing e) {
            return null;
        }
    }

    public Manifest manifest(String name) {
        Manifest m = findManifest(name);
        if (m == null) {
            throw new StoreException.NotFoundException("remote " + describe() + " has no snapshot named '" + name
                    + "' (see: cowfs remote snapshots " + config.name() + ")");
        }
        return m;
    }

    /** The names of the remote's snapshots, sorted. */
    public List<String> snapshotNames() {
        List<String> out = new ArrayList<>();
        for (ObjectStore.ObjectInfo o : os.list(RemoteLayout.SNAPSHOTS)) {
            String n = o.key().substring(RemoteLayout.SNAPSHOTS.length());
            if (!n.isEmpty() && !n.contains("/")) {
                out.add(n);
            }
        }
        return out;
    }

    static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    /** The result of f; its failure rethrown as it was (a StoreException stays one). */
    static <T> T join(Future<T> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RemoteException("interrupted", e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) {
                throw r;
            }
            if (c instanceof Error err) {
                throw err;
            }
            throw new RemoteException(String.valueOf(c.getMessage()), c);
        }
    }

    @Override
    public void close() {
        os.close();
    }
}
