package io.cowfs.blockstore.gc;

import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.tree.BlockList;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotRoot;
import io.cowfs.blockstore.view.ViewDelta;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.lmdbjava.Txn;

/**
 * fsck's walk: what each catalog name reaches that the index lacks or that does not decode, over
 * the graph {@link Reachability} walks (roots, inode pages, block-list pages, directory objects,
 * blocks; a view's delta). Every root, inode page and block-list page is read once for all names
 * and remembers the findings of everything below it, almost always {@link Findings#NONE}; a name's
 * findings are the union of its pages' findings. So the check costs one walk of the union of all
 * names, not one walk per name, and every problem is still attributed to every name that needs the
 * bad object.
 *
 * <p>A name's findings are exactly what a walk of that name alone would meet (a fresh visited set,
 * as gc walks): the chunks the index lacks and the directory objects that do not decode, in walk
 * order, up to the first object that cannot be read, whose error stops the walk (that object counts
 * as met, what lies after it is not reached). The first error in walk order is the same with or
 * without the per-name visited set: an object met again was met, and read fine, the first time.
 */
final class ReachCheck {
    /**
     * What a subtree or a name lacks.
     *
     * @param missing chunks the index snapshot lacks
     * @param badDirs indexed directory objects that failed to decode
     * @param error   why the walk stopped early (an unreadable root, page or view delta), or null
     */
    record Findings(List<ChunkId> missing, List<ChunkId> badDirs, String error) {
        static final Findings NONE = new Findings(List.of(), List.of(), null);
    }

    private final Store store;
    private final Set<ChunkId> indexed;
    private final Map<ChunkId, Findings> pages = new HashMap<>(); // roots, inode pages, block-list pages
    private final Map<ChunkId, Boolean> dirDecodes = new HashMap<>();

    /** indexed: the chunk ids of the index snapshot taken in the same read transaction. */
    ReachCheck(Store store, Set<ChunkId> indexed) {
        this.store = store;
        this.indexed = indexed;
    }

    /** Everything a catalog entry needs: a snapshot's tree, or a view's base tree plus its delta. */
    Findings entry(Txn<byte[]> txn, CatalogEntry e) {
        Acc acc = new Acc();
        if (!acc.add(root(e.root())) || !e.isView()) {
            return acc.done();
        }
        ViewDelta.State s;
        try {
            s = new ViewDelta(store.index()).load(txn, e.viewId());
        } catch (StoreException ex) {
            acc.fail(ex.getMessage());
            return acc.done();
        }
        for (Inode n : s.inodes.values()) {
            if (n != null && !inode(n, acc)) {
                return acc.done();
            }
        }
        for (var m : s.blocks.values()) {
            for (ChunkId b : m.values()) {
                if (b != null) {
                    acc.chunk(b);
                }
            }
        }
        return acc.done();
    }

    private Findings root(ChunkId root) {
        Findings f = pages.get(root);
        if (f != null) {
            return f;
        }
        Acc acc = new Acc();
        acc.chunk(root);
        SnapshotRoot r = read(root, acc, SnapshotRoot::decode);
        if (r != null) {
            for (ChunkId page : r.inodePages()) {
                if (!acc.add(inodePage(page))) {
                    break;
                }
            }
        }
        return remember(root, acc);
    }

    private Findings inodePage(ChunkId page) {
        Findings f = pages.get(page);
        if (f != null) {
            return f;
        }
        Acc acc = new Acc();
        acc.chunk(page);
        Inode[] inodes = read(page, acc, SnapshotRoot::decodePage);
        if (inodes != null) {
            for (Inode n : inodes) {
                if (n != null && !inode(n, acc)) {
                    break;
                }
            }
        }
        return remember(page, acc);
    }

    /** Adds one inode's directory object and block-list pages; false if the walk stops here. */
    private boolean inode(Inode n, Acc acc) {
        if (n.dirObject != null) {
            acc.dir(n.dirObject);
        }
        for (ChunkId lp : n.blockPages) {
            if (!acc.add(blockPage(lp))) {
                return false;
            }
        }
        return true;
    }

    private Findings blockPage(ChunkId lp) {
        Findings f = pages.get(lp);
        if (f != null) {
            return f;
        }
        Acc acc = new Acc();
        acc.chunk(lp);
        ChunkId[] blocks = read(lp, acc, BlockList::decodePage);
        if (blocks != null) {
            for (ChunkId b : blocks) {
                if (b != null) {
                    acc.chunk(b);
                }
            }
        }
        return remember(lp, acc);
    }

    private Findings remember(ChunkId id, Acc acc) {
        Findings f = acc.done();
        pages.put(id, f);
        return f;
    }

    /** Reads and decodes one object; null (and the error in acc) if it cannot be. */
    private <T> T read(ChunkId id, Acc acc, Function<byte[], T> decode) {
        try {
            return decode.apply(store.get(id));
        } catch (StoreException ex) {
            acc.fail(ex.getMessage());
            return null;
        }
    }

    /** Findings gathered in walk order; sets only once something is found. */
    private final class Acc {
        private LinkedHashSet<ChunkId> missing;
        private LinkedHashSet<ChunkId> badDirs;
        private String error;

        void chunk(ChunkId id) {
            if (!indexed.contains(id)) {
                if (missing == null) {
                    missing = new LinkedHashSet<>();
                }
                missing.add(id);
            }
        }

        /** A directory object: the walk does not need it, but a listing needs it whole. */
        void dir(ChunkId id) {
            if (!indexed.contains(id)) {
                chunk(id); // missing, not unreadable
                return;
            }
            boolean fine = dirDecodes.computeIfAbsent(id, d -> {
                try {
                    DirObject.decode(store.get(d));
                    return true;
                } catch (StoreException ex) {
                    return false;
                }
            });
            if (!fine) {
                if (badDirs == null) {
                    badDirs = new LinkedHashSet<>();
                }
                badDirs.add(id);
            }
        }

        void fail(String why) {
            error = why;
        }

        /** Adds a subtree's findings; false if it stopped the walk. */
        boolean add(Findings f) {
            if (f == Findings.NONE) {
                return true;
            }
            if (!f.missing().isEmpty()) {
                if (missing == null) {
                    missing = new LinkedHashSet<>();
                }
                missing.addAll(f.missing());
            }
            if (!f.badDirs().isEmpty()) {
                if (badDirs == null) {
                    badDirs = new LinkedHashSet<>();
                }
                badDirs.addAll(f.badDirs());
            }
            if (f.error() != null) {
                error = f.error();
                return false;
            }
            return true;
        }

        Findings done() {
            if (missing == null && badDirs == null && error == null) {
                return Findings.NONE;
            }
            return new Findings(missing == null ? List.of() : List.copyOf(missing),
                    badDirs == null ? List.of() : List.copyOf(badDirs), error);
        }
    }
}
