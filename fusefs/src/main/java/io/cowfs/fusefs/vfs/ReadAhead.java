package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.LongFunction;

/**
 * Fetches blocks ahead of sequential readers: the kernel is asked to read the pack records of
 * the next {@link #ADVISE} blocks into the page cache (fadvise WILLNEED, so the disk works ahead
 * with deep queues), and the next {@link #BLOCKS} blocks are decompressed and verified on other
 * cores (into the store's block cache) while the reader uses this one. A block that is a
 * sub-block delta is read ahead as its chain and base, and made (applied) into the block cache.
 *
 * <p>State per inode is dropped when the inode's last handle is released or the inode is
 * deleted ({@link #forget}), and the map is bounded ({@link #MAX_TRACKED}) for adapters that
 * never release (or release one handle of several).
 *
 * <p>Locking: none of the owning {@link ViewFs}'s lock is needed for the state here:
 * {@link #readers} is a concurrent map and each entry's two longs are guarded by the entry's
 * own monitor. {@link #after} is called with the ViewFs read lock held, which the block map
 * lookup ({@code storedBlock}) needs; the tasks it hands the prefetch threads (the index lookups
 * and fadvise of {@code Store.willNeed}, the decoding) hold no ViewFs lock and touch only the
 * store (thread-safe) and the chunk lists made for them under that lock, which nothing else
 * holds. The task queue is bounded: under load, read-ahead is dropped, never waited for.
 */
final class ReadAhead implements AutoCloseable {
    /** Blocks fetched ahead of a sequential reader. */
    static final int BLOCKS = io.cowfs.blockstore.Config.fromSystemProperties().readAheadBlocks();
    /** Inodes tracked at most; past this, the map is cleared (readers just start over). */
    static final int MAX_TRACKED = 4096;
    /** Blocks whose pack records the kernel is asked to read ahead of a sequential reader (fadvise). */
    static final int ADVISE = 8 * Math.max(1, BLOCKS);

    private final Store store;
    private final int bs;
    /** Per inode: the block a sequential reader asks for next, how far ahead was decoded, and advised. */
    private final ConcurrentHashMap<Long, long[]> readers = new ConcurrentHashMap<>();
    /** Threads that decode blocks ahead. */
    static final int THREADS = 2;
    private final ThreadPoolExecutor prefetcher = new ThreadPoolExecutor(
            THREADS, THREADS, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(64), r -> {
                Thread t = new Thread(r, "cowfs-readahead");
                t.setDaemon(true);
                return t;
            }, new ThreadPoolExecutor.DiscardPolicy());

    /**
     * A stored block as read-ahead sees it: key, the id it is cached under; chunks, what the disk
     * is asked to read ahead; delta, the sub-block delta it is made from (null: key is a whole
     * chunk, decoded as it is; else key is SubBlock.blockKey(delta) and chunks its chain and base).
     */
    record Block(ChunkId key, List<ChunkId> chunks, ChunkId delta, Store.Maker maker) {
        static Block whole(ChunkId id) {
            return new Block(id, List.of(id), null, null);
        }
    }

    ReadAhead(Store store) {
        this.store = store;
        this.bs = store.blockSize();
    }

    /**
     * After a read of blocks [first, last] of a file of the given size: if it continues the
     * previous one, fetch the next blocks ahead. storedBlock gives block index -> stored block
     * (null for a hole); it is called with the caller's lock held. wholeInPlace: the reader's
     * reads hold whole blocks, which its worker reads from the packs straight into the reply
     * (Store.readAllInto, and sub-block deltas applied there: WriteBack.placeStored): the disk is
     * asked for the next ones, but nothing is decoded ahead; a block made ahead for it would cost
     * one copy more, or be read twice when the reader gets there first (17 % more CPU for a cold
     * 1 GiB read, docs/PERFORMANCE.md). With {@code cowfs.readDirectDeltas=false} the deltas
     * are still made ahead.
     */
    void after(long ino, long size, long first, long last, boolean wholeInPlace, LongFunction<Block> storedBlock) {
        if (BLOCKS <= 0) {
            return;
        }
        if (readers.size() >= MAX_TRACKED && !readers.containsKey(ino)) {
            readers.clear();
        }
        long[] st = readers.computeIfAbsent(ino, k -> new long[] {-1, -1, -1});
        long lastBlock = (size - 1) / bs;
        long from;
        long to;
        long adviseFrom;
        long adviseTo;
        synchronized (st) {
            boolean sequential = st[0] == first || st[0] == first + 1 || (first == 0 && st[0] < 0);
            st[0] = last + 1;
            if (!sequential) {
                st[1] = last;
                st[2] = last;
                return;
            }
            from = Math.max(last + 1, st[1] + 1);
            to = Math.min(last + BLOCKS, lastBlock);
            st[1] = Math.max(st[1], to);
            // the disk is asked ADVISE blocks ahead, in batches of BLOCKS (one fadvise per batch)
            adviseFrom = Math.max(last + 1, st[2] + 1);
            adviseTo = Math.min(last + ADVISE, lastBlock);
            if (adviseTo - adviseFrom + 1 < BLOCKS && adviseTo < lastBlock) {
                adviseTo = adviseFrom - 1;
            }
            st[2] = Math.max(st[2], adviseTo);
        }
        if (adviseFrom <= adviseTo) {
            List<ChunkId> ahead = new ArrayList<>();
            for (Block b : missing(adviseFrom, adviseTo, storedBlock)) {
                ahead.addAll(b.chunks());
            }
            if (!ahead.isEmpty()) {
                // the index lookups (a cold leaf page is a disk read) and the fadvise (which
                // builds and submits the disk requests itself) on a prefetch thread: the worker
                // replies without them, and without holding the caller's lock through them
                prefetcher.execute(() -> {
                    try {
                        store.willNeed(ahead);
                    } catch (RuntimeException e) {
                        // best effort: a reader that gets there meets the error (EIO for its read),
                        // and a read that came before it must not
                    }
                });
            }
        }
        if (wholeInPlace && WriteBack.DIRECT_DELTAS) {
            return;
        }
        List<Block> decode = missing(from, to, storedBlock);
        if (decode.isEmpty()) {
            return;
        }
        // whole chunks are decoded in one batch per prefetch thread, their hashes checked together
        // (parallel lanes: Store.loadAll); a delta block is made alone. One task per thread, not
        // per block: a task per block cost a thread hand-off (futex calls, a trap into the
        // hypervisor here) per block
        List<ChunkId> whole = new ArrayList<>();
        List<Block> deltas = new ArrayList<>();
        for (Block b : decode) {
            if (b.delta() == null) {
                if (wholeInPlace) {
                    continue;
                }
                whole.add(b.key());
            } else {
                deltas.add(b);
            }
        }
        if (whole.isEmpty() && deltas.isEmpty()) {
            return;
        }
        int tasks = Math.min(THREADS, Math.max(1, whole.size() / 2 + deltas.size())); // a batch is two whole blocks at least
        for (int t = 0; t < tasks; t++) {
            List<ChunkId> mine = whole.subList(whole.size() * t / tasks, whole.size() * (t + 1) / tasks);
            List<Block> myDeltas = deltas.subList(deltas.size() * t / tasks, deltas.size() * (t + 1) / tasks);
            prefetcher.execute(() -> {
                // the whole chunks and the deltas' bases in one batch, then the deltas' blocks
                // made from the bases in the block cache (their chains are read as they are made:
                // batching those too measured slower, 64 KiB slots for deltas of a few KiB)
                List<ChunkId> batch = new ArrayList<>(mine);
                for (Block b : myDeltas) {
                    batch.add(b.chunks().get(b.chunks().size() - 1));
                }
                if (!batch.isEmpty()) {
                    store.loadAll(batch);
                }
                for (Block b : myDeltas) {
                    store.loadDerived(b.key(), b.maker());
                }
            });
        }
    }

    /** Stored blocks [from, to] not in the store's caches (holes have none). */
    private List<Block> missing(long from, long to, LongFunction<Block> storedBlock) {
        List<Block> blocks = new ArrayList<>();
        for (long i = from; i <= to; i++) {
            Block b = storedBlock.apply(i);
            if (b != null && !store.cached(b.key())) {
                blocks.add(b);
            }
        }
        return blocks;
    }

    /** The inode's last handle was released, or it was deleted. */
    void forget(long ino) {
        readers.remove(ino);
    }

    /** Inodes tracked now (for tests). */
    int tracked() {
        return readers.size();
    }

    /**
     * Drops what is queued and waits (up to 10 s) for what runs: the store closes next. Not
     * shutdownNow, whose interrupt would close the pack channel a running read uses
     * (FileChannel's ClosedByInterruptException), under the persist that follows.
     */
    @Override
    public void close() {
        prefetcher.getQueue().clear();
        prefetcher.shutdown();
        try {
            prefetcher.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
