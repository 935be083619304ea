package io.cowfs.blockstore.view;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.tree.SnapshotReader;
import java.util.ArrayList;
import java.util.List;

/** Creating views and freezing them into snapshots (the store side of fork and snapshot). */
public final class Views {
    private Views() {
    }

    /** O(1): one catalog entry naming the base root; no tree walk, no delta yet. */
    public static CatalogEntry create(Store store, Catalog catalog, String name, ChunkId baseRoot, String parent) {
        return create(store, catalog, name, baseRoot, parent, null);
    }

    /**
     * As {@link #create(Store, Catalog, String, ChunkId, String)}, for a base read from the catalog
     * entry {@code from} (a fork): the commit checks that {@code from} is still there as read
     * ({@link Catalog#requireUnchanged}), so a fork of a snapshot needs no lease: its one commit
     * is the whole fork.
     */
    public static CatalogEntry create(Store store, Catalog catalog, String name, ChunkId baseRoot, String parent, CatalogEntry from) {
        Catalog.checkName(name);
        return store.commit(txn -> {
            if (from != null) {
                catalog.requireUnchanged(txn, from);
            }
            long id = store.nextId(txn);
            CatalogEntry e = new CatalogEntry(name, CatalogEntry.Kind.VIEW, baseRoot, id, parent, System.currentTimeMillis(), "");
            catalog.add(txn, e);
            return e;
        });
    }

    /**
     * Builds a snapshot root from a view's base and its persisted delta (a mounted view must be
     * asked to persist first). The caller holds a lease until the root is named.
     */
    public static ChunkId freeze(Store store, CatalogEntry view) {
        if (!view.isView()) {
            throw new StoreException.InvalidRequestException("'" + view.name() + "' is a snapshot, not a view");
        }
        ViewDelta.State s = load(store, view);
        for (int attempt = 1; ; attempt++) {
            if (s.inodes.isEmpty() && s.dirents.isEmpty() && s.blocks.isEmpty()) {
                return view.root(); // unchanged: the base itself
            }
            try {
                // A mounted view goes on writing while it is frozen: a block it stores again after
                // the delta was read no longer names its old chunk, and a gc meanwhile may collect
                // that one. The whole chunks the snapshot will name (the freezer does not read
                // them) are stamped now, under the caller's lease, so gc keeps them from here on;
                // one already gone, or a delta link gone before the freezer reads it, means: freeze
                // the view as it is now. The same delta again fails the same way (really missing).
                List<ChunkId> gone = store.stampNow(wholeChunks(s));
                if (!gone.isEmpty()) {
                    throw new StoreException.ChunkMissingException(gone.get(0), "named by view '" + view.name() + "'");
                }
                return Freezer.freeze(store, new SnapshotReader(store, view.root()), s);
            } catch (StoreException.ChunkMissingException e) {
                ViewDelta.State now = load(store, view);
                if (attempt == FREEZE_ATTEMPTS || now.blocks.equals(s.blocks)) {
                    throw e;
                }
                s = now; // the next attempt freezes this one
            }
        }
    }

    /** The view's persisted delta, read in one transaction. */
    private static ViewDelta.State load(Store store, CatalogEntry view) {
        ViewDelta.State s = store.index().read(txn -> new ViewDelta(store.index()).load(txn, view.viewId()));
        afterLoad.run();
        return s;
    }

    /** The whole chunks a delta's blocks name (not its sub-block deltas, which the freezer reads and folds). */
    private static List<ChunkId> wholeChunks(ViewDelta.State s) {
        List<ChunkId> out = new ArrayList<>();
        for (java.util.Map<Long, ChunkId> f : s.blocks.values()) {
            for (ChunkId id : f.values()) {
                if (id != null && !s.deltaBases.containsKey(id)) {
                    out.add(id);
                }
            }
        }
        return out;
    }

    /** Freezes of a view tried in a row while chunks its old delta named keep being collected. */
    static final int FREEZE_ATTEMPTS = 3;

    /** Runs after each read of a view's delta by a freeze: tests put a mount's write and a gc there. */
    static volatile Runnable afterLoad = () -> {
    };

    /** How many regular files a tree holds and their logical bytes. */
    public record Size(long files, long logicalBytes) {
    }

    /** How much a view's delta holds: changed inodes, changed names, overridden blocks. */
    public record DeltaSize(long changedInodes, long changedNames, long changedBlocks) {
    }

    /** Files and logical bytes of a snapshot, or of a view as it is now (base adjusted by the persisted delta). */
    public static Size size(Store store, CatalogEntry view) {
        SnapshotReader base = new SnapshotReader(store, view.root());
        long files = base.root().files();
        long bytes = base.root().logicalBytes();
        if (!view.isView()) {
            return new Size(files, bytes);
        }
        java.util.Map<Long, io.cowfs.blockstore.tree.Inode> changed = new java.util.HashMap<>();
        store.index().read(txn -> new ViewDelta(store.index()).loadInodes(txn, view.viewId(), changed));
        for (var e : changed.entrySet()) {
            io.cowfs.blockstore.tree.Inode before = base.inode(e.getKey());
            io.cowfs.blockstore.tree.Inode now = e.getValue();
            if (before != null && before.type == io.cowfs.blockstore.tree.FileType.REGULAR) {
                files--;
                bytes -= before.size;
            }
            if (now != null && now.nlink > 0 && now.type == io.cowfs.blockstore.tree.FileType.REGULAR) {
                files++;
                bytes += now.size;
            }
        }
        return new Size(files, bytes);
    }

    /** Delta size of a view. */
    public static DeltaSize deltaSize(Store store, CatalogEntry view) {
        ViewDelta.State s = store.index().read(txn -> new ViewDelta(store.index()).load(txn, view.viewId()));
        long names = s.dirents.values().stream().mapToLong(m -> m.size()).sum();
        long blocks = s.blocks.values().stream().mapToLong(m -> m.size()).sum();
        return new DeltaSize(s.inodes.size(), names, blocks);
    }
}
