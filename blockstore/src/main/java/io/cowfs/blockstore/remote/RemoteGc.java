package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.remote.RemoteLayout.Condemned;
import io.cowfs.blockstore.remote.RemoteLayout.Manifest;
import io.cowfs.blockstore.store.ChunkId;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * {@code cowfs gc --remote}: removes pack objects no snapshot manifest names, in two phases a
 * grace period apart (docs/REMOTE.md, "gc and concurrent pushes"):
 *
 * <ol>
 * <li>a run condemns the packs that no manifest names and that are older than the grace period
 *     (a running push's new packs are younger), writing their list with the time to gc/condemned;
 * <li>a later run, at least the grace period after that time, deletes the condemned packs that
 *     still no manifest names (index object first, then the pack), and condemns anew.
 * </ol>
 *
 * A push treats condemned packs as absent (it uploads their chunks again) and checks the list once
 * more just before it writes its manifest, so a manifest written after a pack was condemned never
 * names it, and one written before is seen by the deleting run, which then keeps the pack.
 * Times are the object store's own (LastModified of an object this run writes), never the local
 * clock, so machines with skewed clocks agree. One gc at a time per remote (docs/REMOTE.md).
 * Every run also deletes what killed pushes left half-written (a {@code file://} remote's
 * temporary files) once older than the grace period.
 */
public final class RemoteGc {
    /**
     * One run.
     *
     * @param snapshots      manifests read
     * @param packs          pack objects listed
     * @param referenced     packs some manifest names
     * @param deleted        packs deleted now (phase 2)
     * @param deletedBytes   their bytes
     * @param condemned      packs condemned now (deleted by a run after the grace period)
     * @param condemnedBytes their bytes
     * @param rescued        condemned packs a manifest named meanwhile (kept)
     * @param dueMillis      when the condemned packs may be deleted (server time), 0 if none
     * @param unfinished     half-written objects of killed pushes deleted now, with their bytes
     */
    public record Result(int snapshots, int packs, int referenced, int deleted, long deletedBytes, int condemned,
                         long condemnedBytes, int rescued, long dueMillis, ObjectStore.Leftovers unfinished) {
    }

    private final Remote remote;
    private final long graceMillis;

    public RemoteGc(Remote remote, long graceMillis) {
        this.remote = remote;
        this.graceMillis = Math.max(0, graceMillis);
    }

    public Result run() {
        ObjectStore os = remote.objects();
        remote.requireMarker();
        long now = serverNow(os);
        ObjectStore.Leftovers unfinished = os.deleteUnfinished(now - graceMillis); // a running push's are younger
        Condemned before = Condemned.read(os);
        // what the manifests need, read after the condemned list: a push that saw the list
        // without its packs condemned has written its manifest before this read, or will see them condemned
        Set<ChunkId> referenced = new HashSet<>();
        Set<String> bases = new HashSet<>(); // sindex objects other manifests build on
        int snapshots = 0;
        for (String n : remote.snapshotNames()) {
            Manifest m = remote.findManifest(n);
            if (m != null) {
                referenced.addAll(m.packs());
                bases.add(m.sindexBase());
                snapshots++;
            }
        }
        Map<ChunkId, ObjectStore.ObjectInfo> packs = RemoteLayout.listed(os, RemoteLayout.PACKS);
        Map<ChunkId, ObjectStore.ObjectInfo> indexes = RemoteLayout.listed(os, RemoteLayout.INDEX);

        int deleted = 0;
        long deletedBytes = 0;
        int rescued = 0;
        Set<ChunkId> gone = new HashSet<>();
        long wait = Math.max(graceMillis, before.graceMillis()); // a shorter grace now does not shorten the one promised
        boolean due = before.timeMillis() > 0 && now - before.timeMillis() >= wait;
        if (due) {
            for (ChunkId p : before.packs()) {
                if (referenced.contains(p)) {
                    rescued++;
                    continue;
                }
                os.delete(RemoteLayout.indexKey(p)); // first: no push loads an index naming a deleted pack
                ObjectStore.ObjectInfo info = packs.get(p);
                os.delete(RemoteLayout.packKey(p));
                gone.add(p);
                deleted++;
                deletedBytes += info == null ? 0 : info.size();
            }
        } else if (before.timeMillis() > 0) {
            // the condemned packs are not due yet: this run changes nothing
            long bytes = 0;
            for (ChunkId p : before.packs()) {
                ObjectStore.ObjectInfo info = packs.get(p);
                bytes += info == null ? 0 : info.size();
            }
            return new Result(snapshots, packs.size(), (int) packs.keySet().stream().filter(referenced::contains).count(),
                    0, 0, before.packs().size(), bytes, 0, before.timeMillis() + wait, unfinished);
        }

        // snapshot index objects whose manifest is gone and that no manifest builds on (deleted; or
        // a push killed before its manifest: only once older than the grace period, a running
        // push writes one first)
        Set<String> names = new HashSet<>(remote.snapshotNames());
        for (ObjectStore.ObjectInfo o : os.list(RemoteLayout.SINDEX)) {
            String n = o.key().substring(RemoteLayout.SINDEX.length());
            if (!names.contains(n) && !bases.contains(n) && now - o.lastModifiedMillis() >= graceMillis) {
                os.delete(o.key());
            }
        }

        Set<ChunkId> condemn = new LinkedHashSet<>();
        long condemnedBytes = 0;
        Set<ChunkId> candidates = new HashSet<>(packs.keySet());
        candidates.addAll(indexes.keySet()); // an index whose pack is gone
        for (ChunkId p : candidates) {
            if (referenced.contains(p) || gone.contains(p)) {
                continue;
            }
            ObjectStore.ObjectInfo info = packs.containsKey(p) ? packs.get(p) : indexes.get(p);
            if (now - info.lastModifiedMillis() < graceMillis) {
                continue; // young: maybe a push that is still running
            }
            condemn.add(p);
            condemnedBytes += packs.containsKey(p) ? packs.get(p).size() : 0;
        }
        if (condemn.isEmpty()) {
            if (before.timeMillis() > 0) {
                os.delete(RemoteLayout.CONDEMNED);
            }
        } else {
            os.put(RemoteLayout.CONDEMNED, new Condemned(now, graceMillis, condemn).encode());
        }
        return new Result(snapshots, packs.size() - gone.size(), (int) packs.keySet().stream().filter(referenced::contains).count(),
                deleted, deletedBytes, condemn.size(), condemnedBytes, rescued, condemn.isEmpty() ? 0 : now + graceMillis, unfinished);
    }

    /** The object store's clock: the modification time of an object written now. */
    static long serverNow(ObjectStore os) {
        String key = "gc/clock";
        os.put(key, Long.toString(System.currentTimeMillis()).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        ObjectStore.ObjectInfo i = os.head(key);
        return i == null ? System.currentTimeMillis() : i.lastModifiedMillis();
    }
}
