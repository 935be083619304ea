package io.cowfs.blockstore.gc;

import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.BlockList;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotRoot;
import io.cowfs.blockstore.view.ViewDelta;
import java.util.Set;
import java.util.function.Consumer;
import org.lmdbjava.Txn;

/**
 * Walks the object graph below a snapshot root (root, inode pages, block-list pages, directory
 * objects, blocks) and the direct references of a view's delta. Objects already in
 * {@code visited} are not descended into again, so shared pages are walked once per walk.
 * An unreadable object fails the walk (gc must never guess what it referred to).
 * {@link ReachCheck} (fsck) and {@link Usage} (du) walk the same graph: a new kind of reference
 * changes all three.
 */
public final class Reachability {
    private final Store store;

    public Reachability(Store store) {
        this.store = store;
    }

    /** Visits every chunk reachable from root, each once per visited set. */
    public void snapshot(ChunkId root, Set<ChunkId> visited, Consumer<ChunkId> out) {
        snapshot(root, visited, out, NONE);
    }

    private static final Consumer<ChunkId> NONE = id -> { };

    /**
     * As {@link #snapshot(ChunkId, Set, Consumer)}; dirs also receives each directory object
     * (which the walk itself never needs to read: the inode table lists every inode).
     */
    public void snapshot(ChunkId root, Set<ChunkId> visited, Consumer<ChunkId> out, Consumer<ChunkId> dirs) {
        if (!visited.add(root)) {
            return;
        }
        out.accept(root);
        SnapshotRoot r = SnapshotRoot.decode(store.get(root));
        for (ChunkId page : r.inodePages()) {
            if (!visited.add(page)) {
                continue;
            }
            out.accept(page);
            for (Inode n : SnapshotRoot.decodePage(store.get(page))) {
                if (n != null) {
                    inode(n, visited, out, dirs);
                }
            }
        }
    }

    /** The chunks one inode record refers to (directly and through its block-list pages). */
    public void inode(Inode n, Set<ChunkId> visited, Consumer<ChunkId> out) {
        inode(n, visited, out, NONE);
    }

    private void inode(Inode n, Set<ChunkId> visited, Consumer<ChunkId> out, Consumer<ChunkId> dirs) {
        if (n.dirObject != null && visited.add(n.dirObject)) {
            out.accept(n.dirObject);
            dirs.accept(n.dirObject);
        }
        for (ChunkId lp : n.blockPages) {
            if (!visited.add(lp)) {
                continue;
            }
            out.accept(lp);
            for (ChunkId b : BlockList.decodePage(store.get(lp))) {
                if (b != null && visited.add(b)) {
                    out.accept(b);
                }
            }
        }
    }

    /** Everything a catalog entry keeps alive: a snapshot's tree, or a view's base tree plus its delta. */
    public void entry(Txn<byte[]> txn, CatalogEntry e, Set<ChunkId> visited, Consumer<ChunkId> out) {
        entry(txn, e, visited, out, NONE);
    }

    /** As {@link #entry(Txn, CatalogEntry, Set, Consumer)}, reporting directory objects to dirs too. */
    public void entry(Txn<byte[]> txn, CatalogEntry e, Set<ChunkId> visited, Consumer<ChunkId> out, Consumer<ChunkId> dirs) {
        snapshot(e.root(), visited, out, dirs);
        if (e.isView()) {
            ViewDelta.State s = new ViewDelta(store.index()).load(txn, e.viewId());
            for (Inode n : s.inodes.values()) {
                if (n != null) {
                    inode(n, visited, out, dirs);
                }
            }
            for (var m : s.blocks.values()) {
                for (ChunkId b : m.values()) {
                    if (b != null && visited.add(b)) {
                        out.accept(b);
                    }
                }
            }
        }
    }
}
