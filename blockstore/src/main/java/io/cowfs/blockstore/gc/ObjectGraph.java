package io.cowfs.blockstore.gc;

import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.tree.BlockList;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotRoot;
import io.cowfs.blockstore.view.SubBlock;
import io.cowfs.blockstore.view.ViewDelta;
import java.util.function.Function;
import java.util.function.Predicate;
import org.lmdbjava.Txn;

/**
 * The one walker of the object graph (docs/FORMAT.md, "Objects"): a snapshot root refers to its
 * inode pages, an inode page to its inodes, an inode to its directory object and block-list pages,
 * a block-list page to its blocks; a view's delta refers to its changed inodes (and through them
 * as above) and its overridden blocks. Depth first, in the order each object lists its references.
 * gc's mark ({@link GarbageCollector}), fsck's check ({@link ReachCheck}) and du ({@link Usage}) are
 * visitors of it: a new kind of reference changes this class only.
 *
 * <p>Only pages (roots, inode pages, block-list pages) are read; directory objects and blocks are
 * leaves (no object a directory names is reached through it: the inode table lists every inode).
 */
public final class ObjectGraph {
    /** What a reached object is. */
    public enum Kind {
        /** A snapshot root ('S'). */
        ROOT,
        /** A page of a snapshot's inode table ('I'). */
        INODE_PAGE,
        /** A directory object ('D'); a leaf. */
        DIR,
        /** A page of a file's block list ('L'). */
        BLOCK_PAGE,
        /** A file's block; a leaf. */
        BLOCK,
        /** A view's delta in the index (never entered; only {@link Visitor#unreadable} names it, with a null id). */
        DELTA;

        /** True for the kinds the walk reads and descends into. */
        public boolean page() {
            return this == ROOT || this == INODE_PAGE || this == BLOCK_PAGE;
        }
    }

    /** A visitor's answer on reaching an object. */
    public enum Step {
        /** Read it (a page) and walk what it refers to; for a leaf, the same as SKIP. */
        WALK,
        /** Do not descend (already seen, or already known). */
        SKIP,
        /** End the whole walk. */
        STOP
    }

    /** What a walk does at each object. */
    public interface Visitor {
        /**
         * id of kind was reached from the page from (null when a catalog entry or a view's delta
         * refers to it directly). Called for every reference, also to objects reached before.
         */
        Step enter(Kind kind, ChunkId id, ChunkId from);

        /**
         * Everything below a page entered with WALK has been walked, or the walk stopped below it,
         * or it could not be read. Returns false to end the whole walk.
         */
        default boolean leave(Kind kind, ChunkId id) {
            return true;
        }

        /**
         * A page entered with WALK, or a view's delta (kind DELTA, id null), cannot be read or
         * decoded. By default the walk fails with it (gc must never guess what it referred to);
         * a visitor that returns goes on with {@link #leave} of that page (a delta ends the walk).
         */
        default void unreadable(Kind kind, ChunkId id, StoreException e) {
            throw e;
        }
    }

    private final Store store;

    public ObjectGraph(Store store) {
        this.store = store;
    }

    /** Everything a catalog entry keeps alive: a snapshot's tree, or a view's base tree plus its delta. False if the walk was ended. */
    public boolean entry(Txn<byte[]> txn, CatalogEntry e, Visitor v) {
        if (!snapshot(e.root(), v)) {
            return false;
        }
        if (!e.isView()) {
            return true;
        }
        ViewDelta.State s;
        try {
            s = new ViewDelta(store.index()).load(txn, e.viewId());
        } catch (StoreException ex) {
            v.unreadable(Kind.DELTA, null, ex);
            return false;
        }
        return delta(s, v);
    }

    /** The tree below a snapshot root. False if the walk was ended. */
    public boolean snapshot(ChunkId root, Visitor v) {
        return page(Kind.ROOT, root, null, v, SnapshotRoot::decode, r -> {
            for (ChunkId page : r.inodePages()) {
                if (!inodePage(page, root, v)) {
                    return false;
                }
            }
            return true;
        });
    }

    /**
     * What a view's delta refers to directly: changed inodes (and below them), overridden blocks,
     * and for each override that is a sub-block delta the deltas of its chain and their base chunk
     * (all named in the vblock value).
     */
    public boolean delta(ViewDelta.State s, Visitor v) {
        for (Inode n : s.inodes.values()) {
            if (n != null && !inode(n, null, v)) {
                return false;
            }
        }
        for (var m : s.blocks.values()) {
            for (ChunkId b : m.values()) {
                if (b != null && v.enter(Kind.BLOCK, b, null) == Step.STOP) {
                    return false;
                }
                // a sub-block delta keeps what it applies to: its chain and base, named by the entry itself, as b
                ChunkId below = b == null ? null : s.deltaBases.get(b);
                for (int links = 0; below != null && links < SubBlock.MAX_CHAIN; links++) {
                    if (v.enter(Kind.BLOCK, below, null) == Step.STOP) {
                        return false;
                    }
                    below = s.deltaBases.get(below);
                }
            }
        }
        return true;
    }

    private boolean inodePage(ChunkId page, ChunkId from, Visitor v) {
        return page(Kind.INODE_PAGE, page, from, v, SnapshotRoot::decodePage, inodes -> {
            for (Inode n : inodes) {
                if (n != null && !inode(n, page, v)) {
                    return false;
                }
            }
            return true;
        });
    }

    /** One inode's references: its directory object, then its block-list pages (or its inline blocks, from its inode page). */
    private boolean inode(Inode n, ChunkId from, Visitor v) {
        if (n.dirObject != null && v.enter(Kind.DIR, n.dirObject, from) == Step.STOP) {
            return false;
        }
        if (n.inlineBlocks != null) {
            for (ChunkId b : n.inlineBlocks) {
                if (b != null && v.enter(Kind.BLOCK, b, from) == Step.STOP) {
                    return false;
                }
            }
        }
        for (ChunkId lp : n.blockPages) {
            if (!blockPage(lp, from, v)) {
                return false;
            }
        }
        return true;
    }

    private boolean blockPage(ChunkId page, ChunkId from, Visitor v) {
        return page(Kind.BLOCK_PAGE, page, from, v, BlockList::decodePage, blocks -> {
            for (ChunkId b : blocks) {
                if (b != null && v.enter(Kind.BLOCK, b, page) == Step.STOP) {
                    return false;
                }
            }
            return true;
        });
    }

    /**
     * One page: asks the visitor, reads and decodes it, walks what it refers to (below returns
     * false if the walk was ended there), and closes it. False if the walk was ended.
     */
    private <T> boolean page(Kind kind, ChunkId id, ChunkId from, Visitor v, Function<byte[], T> decode, Predicate<T> below) {
        Step step = v.enter(kind, id, from);
        if (step != Step.WALK) {
            return step != Step.STOP;
        }
        T decoded = read(kind, id, decode, v);
        boolean go = decoded == null || below.test(decoded);
        return v.leave(kind, id) && go;
    }

    /** Reads and decodes one page; null (after telling the visitor) if it cannot be. */
    private <T> T read(Kind kind, ChunkId id, Function<byte[], T> decode, Visitor v) {
        try {
            return decode.apply(store.get(id));
        } catch (StoreException ex) {
            v.unreadable(kind, id, ex);
            return null;
        }
    }
}
