package io.cowfs.blockstore.gc;

import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.tree.DirObject;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.lmdbjava.Txn;

/**
 * fsck's visitor of the {@link ObjectGraph}: what each catalog name reaches that the index lacks or
 * that does not decode. Every root, inode page and block-list page is read once for all names
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
final class ReachCheck implements ObjectGraph.Visitor {
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
    private final ObjectGraph graph;
    private final Set<ChunkId> indexed;
    private final Map<ChunkId, Findings> pages = new HashMap<>(); // roots, inode pages, block-list pages
    private final Map<ChunkId, Boolean> dirDecodes = new HashMap<>();
    private final Deque<Acc> walking = new ArrayDeque<>(); // the entry's findings, then one per page being walked

    /** indexed: the chunk ids of the index snapshot taken in the same read transaction. */
    ReachCheck(Store store, Set<ChunkId> indexed) {
        this.store = store;
        this.graph = new ObjectGraph(store);
        this.indexed = indexed;
    }

    /** Everything a catalog entry needs: a snapshot's tree, or a view's base tree plus its delta. */
    Findings entry(Txn<byte[]> txn, CatalogEntry e) {
        walking.clear();
        Acc acc = new Acc();
        walking.push(acc);
        graph.entry(txn, e, this);
        return acc.done();
    }

    @Override
    public ObjectGraph.Step enter(ObjectGraph.Kind kind, ChunkId id, ChunkId from) {
        Acc acc = walking.element();
        switch (kind) {
            case DIR -> acc.dir(id);
            case BLOCK -> acc.chunk(id);
            default -> {
                Findings f = pages.get(id);
                if (f != null) {
                    return acc.add(f) ? ObjectGraph.Step.SKIP : ObjectGraph.Step.STOP;
                }
                Acc page = new Acc();
                page.chunk(id);
                walking.push(page);
                return ObjectGraph.Step.WALK;
            }
        }
        return ObjectGraph.Step.SKIP;
    }

    @Override
    public void unreadable(ObjectGraph.Kind kind, ChunkId id, StoreException e) {
        walking.element().fail(e.getMessage());
    }

    /** A page is done: its findings are remembered for every name that reaches it, and added to its parent's. */
    @Override
    public boolean leave(ObjectGraph.Kind kind, ChunkId id) {
        Findings f = walking.pop().done();
        pages.put(id, f);
        return walking.element().add(f);
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
