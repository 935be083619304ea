package io.cowfs.blockstore.gc;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.run.MountRegistry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.view.SubBlock;
import io.cowfs.blockstore.view.ViewDelta;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * gc's first step: the chained sub-block deltas (docs/FORMAT.md, "Chained deltas") of every view
 * no process has mounted are folded, each chain into one delta over its whole chunk, or into a
 * whole chunk where more than half of the block's pages differ from it (or a hole, all zeros).
 * A block then costs two chunk reads again, not one per link, and the links are garbage for the
 * sweep that follows. Single deltas stay: a whole chunk would cost up to 16 times the space of a
 * one-page delta (a freeze folds them).
 *
 * <p>A view is folded only while held ({@link MountRegistry#hold}): a mounted view is left alone
 * (its mount holds its overrides in memory, and only it may change them), and a freeze or mount
 * of the view waits meanwhile. Each override is replaced only if it is still the chain that was
 * folded (compare-and-set in the commit), so a view removed meanwhile is not brought back. A chain
 * that cannot be read (a damaged link) is left for verify and fsck to report; a full disk ends
 * the folding, not the gc.
 */
final class ChainFolder {
    /** What a run folded: chains in views, and views left alone because they were mounted. */
    record Folded(long views, long chains, long viewsMounted) {
    }

    /** A chain of a view's block, and what it was folded into (id null: a hole; under: its chain, empty for a whole chunk). */
    private record Fold(long ino, long idx, List<ChunkId> was, ChunkId id, List<ChunkId> under) {
    }

    /**
     * Deltas a chain must have to be folded. A fold stores the chain's pages again, and the links it
     * frees are given back only when their pack is compacted (below 60 % live): folding chains of
     * two cost 30 % more space after gc for little faster reads (13-random-growth.sh, 64 MiB of
     * rewrites: 1.14x -> 1.48x the bytes written).
     */
    static final int MIN_LINKS = 3;

    private final Store store;

    ChainFolder(Store store) {
        this.store = store;
    }

    Folded run() {
        MountRegistry registry = MountRegistry.of(store);
        long views = 0;
        long chains = 0;
        long mounted = 0;
        for (CatalogEntry e : new Catalog(store).list()) {
            if (!e.isView()) {
                continue;
            }
            try (MountRegistry.Claim hold = registry.hold(e.viewId())) {
                if (hold == null) {
                    mounted++;
                    continue;
                }
                long n = fold(e);
                if (n < 0) {
                    break; // the disk is full
                }
                chains += n;
                views += n > 0 ? 1 : 0;
            }
        }
        return new Folded(views, chains, mounted);
    }

    /** Folds the chains of one held view; returns how many, or -1 if the disk filled up. */
    private long fold(CatalogEntry view) {
        ViewDelta delta = new ViewDelta(store.index());
        ViewDelta.State s = store.index().read(txn -> delta.load(txn, view.viewId()));
        List<Fold> folds = new ArrayList<>();
        boolean full = false;
        try (Store.Lease lease = store.lease()) {
            for (Map.Entry<Long, java.util.TreeMap<Long, ChunkId>> f : s.blocks.entrySet()) {
                for (Map.Entry<Long, ChunkId> b : f.getValue().entrySet()) {
                    List<ChunkId> chain = chain(s, b.getValue());
                    if (chain.size() < MIN_LINKS + 1) {
                        continue; // a whole chunk, a hole, or a short chain
                    }
                    try {
                        folds.add(fold(f.getKey(), b.getKey(), chain));
                    } catch (StoreException.StoreFullException ex) {
                        full = true;
                        break;
                    } catch (StoreException ex) {
                        // unreadable: left as it is, for verify and fsck to report
                    }
                }
                if (full) {
                    break;
                }
            }
            if (folds.isEmpty()) {
                return full ? -1 : 0;
            }
            long done = store.commit(txn -> {
                long n = 0;
                for (Fold fd : folds) {
                    if (fd.was().equals(delta.block(txn, view.viewId(), fd.ino(), fd.idx()))) {
                        delta.putBlock(txn, view.viewId(), fd.ino(), fd.idx(), fd.id(), fd.under());
                        n++;
                    }
                }
                return n;
            });
            return full ? -1 : done;
        }
    }

    /** id and what it applies to, down to the whole chunk, as the vblock value names them ([id] for a whole chunk). */
    private static List<ChunkId> chain(ViewDelta.State s, ChunkId id) {
        List<ChunkId> chain = new ArrayList<>();
        for (ChunkId x = id; x != null && chain.size() <= SubBlock.MAX_CHAIN + 1; x = s.deltaBases.get(x)) {
            chain.add(x);
        }
        return chain;
    }

    /** The chain (top first, whole chunk last) as one delta over the whole chunk, or a whole chunk, stored. */
    private Fold fold(long ino, long idx, List<ChunkId> chain) {
        List<SubBlock> links = SubBlock.chain(store::getOnce, chain.get(0));
        SubBlock flat = SubBlock.flatten(links);
        if (flat != null && flat.changedPages() * 2 <= flat.pages().length) {
            byte[] enc = flat.encode();
            return new Fold(ino, idx, chain, store.put(enc, 0, enc.length, true, false), List.of(flat.base()));
        }
        byte[] b = SubBlock.read(store::getOnce, chain.get(0));
        ChunkId id = Store.isZero(b, 0, b.length) ? null : store.put(b, 0, b.length, true, false);
        return new Fold(ino, idx, chain, id, List.of());
    }
}
