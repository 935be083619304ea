package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.remote.RemoteLayout.Entry;
import io.cowfs.blockstore.remote.RemoteLayout.Manifest;
import io.cowfs.blockstore.remote.RemoteLayout.PackIndex;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.PackRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code cowfs verify --remote}: checks that every object a remote snapshot needs is there and
 * whole (docs/REMOTE.md): its manifest, the index of each pack it names, and each pack object
 * (present, and as long as its index says). With deep, every pack is read and every record
 * decoded and hashed. Problems name the object.
 */
public final class RemoteVerify {
    /** One problem: the object's key, the snapshots that need it, what is wrong. */
    public record Problem(String object, List<String> snapshots, String message) {
    }

    /** What was checked and what was found. */
    public record Result(int snapshots, int packs, long chunks, long bytes, List<Problem> problems) {
    }

    private final Remote remote;
    private final boolean deep;

    public RemoteVerify(Remote remote, boolean deep) {
        this.remote = remote;
        this.deep = deep;
    }

    /** Checks the named snapshots (all of the remote's if names is empty). */
    public Result run(List<String> names, Transfer.Progress progress) {
        remote.requireMarker();
        List<String> all = names.isEmpty() ? remote.snapshotNames() : names;
        Map<String, Problem> problems = new java.util.LinkedHashMap<>();
        Map<ChunkId, List<String>> users = new java.util.LinkedHashMap<>();
        for (String n : all) {
            Manifest m;
            try {
                m = remote.findManifest(n);
            } catch (RemoteException e) {
                problems.put(RemoteLayout.snapshotKey(n), new Problem(RemoteLayout.snapshotKey(n), List.of(n), e.getMessage()));
                continue;
            }
            if (m == null) {
                problems.put(RemoteLayout.snapshotKey(n), new Problem(RemoteLayout.snapshotKey(n), List.of(n), "no such snapshot"));
                continue;
            }
            for (ChunkId p : m.packs()) {
                users.computeIfAbsent(p, k -> new ArrayList<>()).add(n);
            }
        }
        Map<ChunkId, ObjectStore.ObjectInfo> listed = RemoteLayout.listed(remote.objects(), RemoteLayout.PACKS);
        java.util.Set<ChunkId> indexed = new java.util.HashSet<>(remote.indexedPacks()); // listed now, not the local cache
        progress.total(users.size());
        long chunks = 0;
        long bytes = 0;
        for (Map.Entry<ChunkId, List<String>> u : users.entrySet()) {
            ChunkId p = u.getKey();
            PackIndex idx;
            try {
                if (!indexed.contains(p)) {
                    throw new RemoteException.Missing(RemoteLayout.indexKey(p), "");
                }
                idx = deep ? PackIndex.decode(p, remote.objects().get(RemoteLayout.indexKey(p))) : remote.packIndex(p);
            } catch (RemoteException.Missing e) {
                add(problems, RemoteLayout.indexKey(p), u.getValue(), "missing");
                idx = null;
            } catch (RemoteException e) {
                add(problems, RemoteLayout.indexKey(p), u.getValue(), e.getMessage());
                idx = null;
            }
            ObjectStore.ObjectInfo info = listed.get(p);
            if (info == null) {
                add(problems, RemoteLayout.packKey(p), u.getValue(), "missing");
            } else if (idx != null && info.size() != idx.packSize()) {
                add(problems, RemoteLayout.packKey(p), u.getValue(), info.size() + " bytes, its index says " + idx.packSize());
            } else if (idx != null && deep) {
                String bad = checkRecords(p, idx);
                if (bad != null) {
                    add(problems, RemoteLayout.packKey(p), u.getValue(), bad);
                }
            }
            if (idx != null) {
                chunks += idx.entries().size();
                bytes += idx.packSize();
            }
            progress.step(1);
        }
        return new Result(all.size(), users.size(), chunks, bytes, new ArrayList<>(problems.values()));
    }

    private static void add(Map<String, Problem> problems, String key, List<String> snapshots, String message) {
        problems.putIfAbsent(key, new Problem(key, snapshots, message));
    }

    /** Reads the pack and checks every record its index names; the first problem, or null. */
    private String checkRecords(ChunkId p, PackIndex idx) {
        byte[] b;
        try {
            b = remote.objects().get(RemoteLayout.packKey(p));
        } catch (RemoteException e) {
            return e.getMessage();
        }
        if (b.length != idx.packSize() || !ChunkId.hash(b).equals(idx.sha())) {
            return "content does not match the SHA-256 its index records";
        }
        for (Entry e : idx.entries()) {
            try {
                byte[] rec = java.util.Arrays.copyOfRange(b, (int) e.offset(), (int) e.end());
                io.cowfs.blockstore.store.PackRecord h = PackRecord.decodeHeader(java.nio.ByteBuffer.wrap(rec));
                if (h == null || !h.matches(e.id(), new ChunkLocation(0, e.offset(), e.storedLen(), e.rawLen(), 0))) {
                    return "record of chunk " + e.id().shortHex() + " at " + e.offset() + " does not match the index";
                }
            } catch (RuntimeException ex) {
                return "record of chunk " + e.id().shortHex() + " at " + e.offset() + ": " + ex.getMessage();
            }
        }
        return null;
    }
}
