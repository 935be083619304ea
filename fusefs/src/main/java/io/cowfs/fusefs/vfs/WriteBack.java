package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.tree.BlockList;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotReader;
import io.cowfs.blockstore.view.SubBlock;
import io.cowfs.blockstore.view.ViewDelta;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * File data of one view: blocks written but not yet stored (dirty: per 4 KiB page, the pages
 * written, held off the Java heap in a {@link PageArena}, over what the block held when first
 * written), the view's block overrides over the base snapshot's block lists, and
 * {@link #persist}, which stores dirty blocks and writes every pending change (namespace,
 * attributes, block overrides) to the view's delta in one LMDB transaction.
 *
 * <p>Sub-block deltas (docs/FORMAT.md, "P"): when a dirty block has a stored whole chunk under it
 * (or a delta over one) and at most half of its pages changed, persist stores only the changed
 * pages as a {@link SubBlock} over that chunk, so a 4 KiB rewrite of a 64 KiB block stores ~4 KiB.
 * A block with nothing under it (a hole, or past the end) is a delta over the all-zero block.
 * A block stored again whose stored delta is one of a chain shorter than {@link #CHAIN} gets a
 * chained delta ("Q", format 5) with the pages written since, over that delta; otherwise the
 * chain is folded into one delta over the whole chunk (or a whole chunk, past half the pages).
 * Reads apply deltas over their base; a freeze folds them into whole chunks.
 *
 * <p>Persist hashes and compresses the blocks of one call on all cores: the calling thread and
 * {@link #STORERS} take blocks in turn until none is left. flush/fsync, and a write that took unstored
 * data past the dirty limit, do that under the read lock only ({@link #persistFileOutsideLock}); other
 * persists under the write lock (docs/DESIGN-DECISIONS.md, 12).
 *
 * <p>Durability: a file's recorded size never runs ahead of its stored data ({@link #durableSize}:
 * a crash shows old bytes or new ones, never zeros, as ext4's data=ordered does). Data of one
 * file is stored on its flush/fsync, or when unstored data passes {@link ViewFs#DIRTY_LIMIT}
 * (after the write that passed it, as flush does: under the read lock, ViewFs.relieve).
 *
 * <p>Locking: every field is guarded by the owning {@link ViewFs}'s lock (read lock to read,
 * write lock to change); store I/O for reads happens under the read lock only. The storer
 * threads of a persist read dirty pages and the maps while the persisting thread holds the write
 * lock for them (nothing changes meanwhile) and change nothing.
 */
final class WriteBack {
    /** {@link #persist(Long)}: namespace and attributes only, no file data. */
    static final Long METADATA_ONLY = -1L;
    /** A page of a dirty block that holds what the block held before (its under chunk's bytes). */
    private static final int CLEAN = -1;
    /** A page of a dirty block that reads as zeros (cut by a truncate); no memory. */
    private static final int ZERO = -2;
    /** Threads that hash and compress the blocks of one persist: the persisting thread and helpers, shared by every view of the process. */
    private static final int STORER_THREADS = Math.max(1, Runtime.getRuntime().availableProcessors());
    private static final ExecutorService STORERS = Executors.newFixedThreadPool(Math.max(1, STORER_THREADS - 1), r -> {
        Thread t = new Thread(r, "cowfs-store-block");
        t.setDaemon(true);
        return t;
    });

    private final Store store;
    private final SnapshotReader base;
    private final ViewDelta deltaDb;
    private final long viewId;
    private final int bs;
    /** Bytes per page of a dirty block, and pages per block. */
    private final int ps;
    private final int ppb;
    /** Sub-block deltas may be stored (a store of format 3 or later). */
    private final boolean subBlocks;
    /** A delta may apply over an earlier delta of its block (a store of format 5 or later). */
    private final boolean chains;
    private final ViewNamespace ns;
    /**
     * A write sets the file's mtime and ctime to now, and so do a copy_file_range and a fallocate
     * (FileRanges; all through {@link #stampChanged}); false when the kernel keeps them (its writeback cache) and sends them itself:
     * a stamp of ours, later than the kernel's, was stored when the kernel's time had not moved
     * between two changes (it then sends none), so a file showed other times after a remount than
     * before it. Guarded by lock.
     */
    boolean stampWrites = true;
    /** Written pages of dirty blocks. */
    private final PageArena arena; // guarded by lock

    /** Block overrides per file, persisted or {@link #pending}; a null value is a hole. */
    private final Map<Long, TreeMap<Long, ChunkId>> overrides = new HashMap<>(); // guarded by lock
    /**
     * Overrides (in {@link #overrides}) that are sub-block deltas, each with the chunk it applies
     * to: a whole chunk, or an earlier delta of the block (a chain, itself a key here).
     */
    private final Map<ChunkId, ChunkId> deltaBases = new HashMap<>(); // guarded by lock
    /** Overrides set without data (punched holes, shared blocks) and not yet persisted. */
    private final Map<Long, TreeSet<Long>> pending = new HashMap<>(); // guarded by lock
    /** Written, not yet persisted blocks. */
    private final Map<Long, TreeMap<Long, DirtyBlock>> dirty = new HashMap<>(); // guarded by lock
    /**
     * Blocks in {@link #dirty}: each costs heap beyond its pages ({@link #BLOCK_COST}), and a block
     * of zero pages only (punched pages) has no pages in the arena at all. Guarded by lock.
     */
    private long dirtyBlocks;
    /**
     * What a dirty block is counted as against {@link ViewFs#DIRTY_LIMIT}, apart from its pages
     * ({@link #overDirtyLimit}): about the heap it takes (its slots, the block, its map entry and
     * key). Without it a loop of 4 KiB punches, one page in each block, grew the heap with nothing
     * counted until the aged persist.
     */
    static final int BLOCK_COST = 256;
    /** Files whose persisted block overrides at or past this index must be dropped. */
    private final Map<Long, Long> truncatedFrom = new HashMap<>(); // guarded by lock
    /** Size of each changed file as last recorded together with its data (see persist). */
    private final Map<Long, Long> durableSize = new HashMap<>(); // guarded by lock
    /**
     * Files whose data waits in memory, with the size and link count a commit last recorded for
     * them ({@link #asCommitted}). A later commit records such a file again only when one of them
     * changed: rewriting all of them made every commit cost O(files with waiting data) (8,000
     * files held open with O_DIRECT writes: 54 ms per mkdir instead of 0.5). Such a file leaves
     * {@link ViewNamespace#dirtyInodes} once recorded: a change to it puts it back
     * ({@link ViewNamespace#mutable}), and so does the end of its waiting ({@link #noLongerWaiting}).
     */
    private final Map<Long, AsCommitted> recordedAs = new HashMap<>(); // guarded by lock

    /**
     * Files whose written data a full store made the mount drop ({@link #lostToFullStore}), not yet
     * reported to an fsync. The close that tried to store the data failed with ENOSPC, but that
     * close may be another process's (a reader's: every close sends FLUSH), and the writer's
     * later fsync succeeded over the lost bytes. Now the next fsync of the file reports it, as
     * Linux reports a writeback error to the next fsync. A concurrent set: each use is one atomic
     * operation, no lock.
     */
    private final Set<Long> unreportedLoss = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private record AsCommitted(long size, long nlink) {
    }

    /** Records made by {@link #asCommitted} (tests count them). Guarded by lock. */
    private long asCommittedRecords;

    /**
     * The next inode number the view's delta records (-1: not known): a commit writes it only when
     * it changed, not with every unlink or chmod (7 % of an `rm -rf`'s time, 2026-12-05). Guarded
     * by lock.
     */
    private long committedNextIno = -1;

    /**
     * A block written but not yet stored. Page p reads as: {@link #CLEAN} the bytes of under (the
     * stored block, whole chunk or delta, when the block was first written; null: zeros),
     * {@link #ZERO} zeros, otherwise the arena slot holding the page. Guarded by the lock.
     */
    private static final class DirtyBlock {
        final ChunkId under;
        final int[] slots;
        /** Bumped by every change of the pages (a store made before it is stale). */
        long version;

        DirtyBlock(ChunkId under, int pages) {
            this.under = under;
            this.slots = new int[pages];
            Arrays.fill(slots, CLEAN);
        }

        boolean hasClean() {
            for (int s : slots) {
                if (s == CLEAN) {
                    return true;
                }
            }
            return false;
        }
    }

    /** What persist stored for one block: a whole chunk (deltaBase null), a delta, or a hole (id null). */
    private record Stored(ChunkId id, ChunkId deltaBase, long holes) {
        /** A whole chunk, a hole, or a delta whose hole pages are not known yet (holes -1). */
        Stored(ChunkId id, ChunkId deltaBase) {
            this(id, deltaBase, -1);
        }
    }

    /** A block stored outside the write lock, valid while the block is still at this version and length. */
    private record Prestored(long version, int len, Stored stored) {
    }

    WriteBack(Store store, SnapshotReader base, long viewId, ViewNamespace ns) {
        this.store = store;
        this.base = base;
        this.deltaDb = new ViewDelta(store.index());
        this.viewId = viewId;
        this.bs = store.blockSize();
        this.zeros = new byte[bs];
        this.ps = SubBlock.pageSize(bs);
        this.ppb = bs / ps;
        this.subBlocks = store.format() >= Store.FORMAT_SUB_BLOCKS;
        this.chains = store.format() >= Store.FORMAT_DELTA_CHAINS;
        this.arena = new PageArena(ps);
        this.ns = ns;
    }

    void load(ViewDelta.State s) {
        committedNextIno = s.nextIno;
        s.inodes.forEach((ino, n) -> {
            if (n != null) {
                durableSize.put(ino, n.size);
            }
        });
        overrides.putAll(s.blocks);
        deltaBases.putAll(s.deltaBases);
        holeUnits.clear();
        holeDeltas.clear();
    }

    int blockSize() {
        return bs;
    }

    private long durableSize(long ino) {
        Long d = durableSize.get(ino);
        if (d != null) {
            return d;
        }
        Inode b = base.inode(ino);
        return b == null ? 0 : b.size;
    }

    /** The inode was deleted: its data goes. */
    void forget(long ino) {
        unreportedLoss.remove(ino);
        dropDirty(ino);
        mapChanged(ino);
        overrides.remove(ino);
        pending.remove(ino);
        noLongerWaiting(ino);
        // no cut to record: the deletion's commit drops all of the inode's blocks with it
        // (ViewNamespace.deleteInode puts it in dirtyInodes; a range scan less per file deleted)
        truncatedFrom.remove(ino);
        // read only for live inodes (inode numbers are never reused): a long-lived view that
        // creates and deletes files kept an entry per file it ever committed
        durableSize.remove(ino);
    }

    /** Inodes whose data state this holds (recorded sizes, overrides, dirty and pending blocks); for tests. Read lock held. */
    int tracked() {
        java.util.Set<Long> all = new java.util.HashSet<>(durableSize.keySet());
        all.addAll(overrides.keySet());
        all.addAll(dirty.keySet());
        all.addAll(pending.keySet());
        all.addAll(truncatedFrom.keySet());
        all.addAll(recordedAs.keySet());
        return all.size();
    }

    /** The file's data no longer waits in memory: the next commit records the file whole. Lock held. */
    private void noLongerWaiting(long ino) {
        if (recordedAs.remove(ino) != null) {
            ns.dirtyInodes.add(ino);
        }
    }

    /** Drops a file's unstored data (after its store failed: the writer was told ENOSPC). */
    void dropDirty(long ino) {
        TreeMap<Long, DirtyBlock> d = dirty.remove(ino);
        if (d != null) {
            dirtyBlocks -= d.size();
            d.values().forEach(this::release);
            mapChanged(ino);
            noLongerWaiting(ino);
        }
    }

    /** {@link PageArena#trim}. Write lock held. */
    long trimMemory() {
        return arena.trim();
    }

    private void release(DirtyBlock b) {
        for (int i = 0; i < b.slots.length; i++) {
            if (b.slots[i] >= 0) {
                arena.release(b.slots[i]);
                b.slots[i] = CLEAN;
            }
        }
    }

    /** Puts dirty block b of a file (its dirty blocks: d) at idx, counting it. Write lock held. */
    private void putDirty(TreeMap<Long, DirtyBlock> d, long idx, DirtyBlock b) {
        if (d.put(idx, b) == null) {
            dirtyBlocks++;
        }
    }

    /** Dirty blocks counted, and held (counted from the maps); equal unless the count is wrong. For tests. Lock held. */
    long[] dirtyBlockCounts() {
        long held = 0;
        for (TreeMap<Long, DirtyBlock> d : dirty.values()) {
            held += d.size();
        }
        return new long[] {dirtyBlocks, held};
    }

    /** Written data waits in memory (pages not stored yet). Lock held. */
    boolean hasUnstored() {
        return arena.used() > 0 || !dirty.isEmpty(); // a dirty block may hold zero pages only
    }

    private DirtyBlock dirtyBlock(long ino, long idx) {
        TreeMap<Long, DirtyBlock> d = dirty.get(ino);
        return d == null ? null : d.get(idx);
    }

    // ------------------------------------------------------------------ block map

    /** The bytes of block idx (dirty or stored), null for a hole. Lock held. */
    byte[] blockData(long ino, Inode n, long idx) {
        DirtyBlock d = dirtyBlock(ino, idx);
        if (d != null) {
            return materialize(d);
        }
        ChunkId id = storedBlock(ino, n, idx);
        return id == null ? null : chunkData(id, store::get);
    }

    /**
     * Stored block idx as read-ahead loads it into the block cache: a whole chunk, or a sub-block
     * delta with its chain and base (made into the cache under {@link SubBlock#blockKey}); null
     * for a hole. Lock held.
     */
    ReadAhead.Block aheadBlock(long ino, Inode n, long idx) {
        ChunkId id = storedBlock(ino, n, idx);
        if (id == null || !deltaBases.containsKey(id)) {
            return id == null ? null : ReadAhead.Block.whole(id);
        }
        List<ChunkId> chunks = below(id);
        chunks.add(0, id);
        return new ReadAhead.Block(SubBlock.blockKey(id), chunks, id, maker(id));
    }

    /**
     * The bytes a stored override or base block stands for (a sub-block delta applied), its chunks
     * read with get: Store.get, or Store.getOnce for a persist that wants them this once. Lock held.
     */
    private byte[] chunkData(ChunkId id, Function<ChunkId, byte[]> get) {
        return deltaBases.containsKey(id) ? SubBlock.read(get, id) : get.apply(id);
    }

    /** A dirty block's bytes, one block long (zeros past what it holds). Lock held. */
    private byte[] materialize(DirtyBlock b) {
        return materialize(b, new byte[bs], store::get);
    }

    /**
     * The whole block's bytes in out[0, bs) (every byte written: out may hold anything before),
     * the bytes under it read with get (see chunkData). Lock held.
     */
    private byte[] materialize(DirtyBlock b, byte[] out, Function<ChunkId, byte[]> get) {
        byte[] u = b.under != null && b.hasClean() ? chunkData(b.under, get) : null;
        for (int p = 0; p < ppb; p++) {
            int slot = b.slots[p];
            int at = p * ps;
            if (slot >= 0) {
                arena.read(slot, 0, out, at, ps);
            } else if (slot == CLEAN && u != null && at < u.length) {
                int n = Math.min(ps, u.length - at);
                System.arraycopy(u, at, out, at, n);
                Store.zero(out, at + n, at + ps);
            } else {
                Store.zero(out, at, at + ps);
            }
        }
        return out;
    }

    /**
     * Blocks a storer takes at a time: their hashes are computed together, in parallel lanes
     * (ChunkId.hashAll; sixteen fill the AVX-512 lanes: 5.0 GB/s on one core here, against 1.7
     * one at a time).
     */
    static final int GROUP = 16;
    /**
     * Each storing thread's block buffers (storeBlocks): up to {@link #GROUP} blocks are
     * assembled there, hashed together and compressed, and the store keeps copies of what it
     * keeps, so they are reused for the next blocks instead of being 64 KiB of garbage per block.
     */
    private static final ThreadLocal<byte[][]> BLOCKS = ThreadLocal.withInitial(() -> new byte[GROUP][]);

    /** The bytes of page p of a dirty block (a new array, one page long). Lock held. */
    private byte[] pageBytes(DirtyBlock b, int p) {
        byte[] page = new byte[ps];
        int slot = b.slots[p];
        if (slot >= 0) {
            arena.read(slot, 0, page, 0, ps);
        } else if (slot == CLEAN && b.under != null) {
            byte[] u = chunkData(b.under, store::get);
            int n = Math.min(ps, u.length - p * ps);
            if (n > 0) {
                System.arraycopy(u, p * ps, page, 0, n);
            }
        }
        return page;
    }

    /** Makes page p of a dirty block hold page (one page long). Write lock held. */
    private void setPage(DirtyBlock b, int p, byte[] page) {
        if (b.slots[p] < 0) {
            b.slots[p] = arena.allocate();
        }
        arena.write(b.slots[p], 0, page, 0, ps);
    }

    /** The stored chunk of block idx (override or base), null for a hole. Lock held. */
    ChunkId storedBlock(long ino, Inode n, long idx) {
        TreeMap<Long, ChunkId> ov = overrides.get(ino);
        if (ov != null && ov.containsKey(idx)) {
            return ov.get(idx);
        }
        return base.block(n, idx);
    }

    /**
     * True if block idx is a hole: punched in this view, a hole in the snapshot's block list, or
     * past the end of that list (the file grew by truncate, fallocate or a write further on), and
     * not written since; the opposite of {@link #isData}. Lock held.
     */
    boolean isKnownHole(long ino, Inode n, long idx) {
        return !isData(ino, n, idx);
    }

    /** True if {@link #knownHoleUnits} of file n is remembered: no pass over its map. Lock held. */
    boolean holeUnitsKnown(long ino, Inode n) {
        return n.size <= 0 || holeUnitsAre(holeUnits.get(ino), n);
    }

    /** True if c, an entry of {@link #holeUnits}, is the count for file n as it is now. */
    private static boolean holeUnitsAre(long[] c, Inode n) {
        return c != null && c[0] == n.size && c[1] == n.validBlocks && c[2] == n.listHash();
    }

    /**
     * 512-byte units of file n's blocks, up to its size, that are known holes ({@link
     * #isKnownHole}), counted from the block map in one pass: the snapshot's list pages scanned as
     * arrays, this view's overrides walked, no lookup per block (a stat of a written 1 GiB file
     * looked up each of its 16,384 blocks: 2.75 ms). Lock held.
     */
    long knownHoleUnits(long ino, Inode n) {
        if (n.size <= 0) {
            return 0;
        }
        long[] c = holeUnits.get(ino);
        if (holeUnitsAre(c, n)) {
            return c[3];
        }
        long blocks = (n.size - 1) / bs + 1;
        TreeMap<Long, ChunkId> ov = overrides.get(ino);
        TreeMap<Long, DirtyBlock> d = dirty.get(ino);
        long units = 0;
        long listed = Math.min(n.validBlocks, blocks); // base.listsHole's range
        long covered = 0; // blocks the snapshot's list covers; those past it are holes unless written here
        for (long page = 0; page * BlockList.PAGE < listed; page++) {
            ChunkId[] entries = base.listPage(n, page);
            if (entries == null) {
                break;
            }
            long first = page * BlockList.PAGE;
            int slots = (int) Math.min(entries.length, listed - first);
            covered = first + slots;
            for (int slot = 0; slot < slots; slot++) {
                long idx = first + slot;
                if (entries[slot] == null && (ov == null || !ov.containsKey(idx)) && (d == null || !d.containsKey(idx))) {
                    units += unitsOf(n, idx);
                }
            }
        }
        if (ov != null) {
            for (Map.Entry<Long, ChunkId> e : ov.headMap(blocks).entrySet()) {
                if (e.getValue() == null && (d == null || !d.containsKey(e.getKey()))) {
                    units += unitsOf(n, e.getKey());
                }
            }
        }
        if (covered < blocks) { // past the list: holes, but for the blocks this view wrote or overrode
            units += (blocks - 1 - covered) * unitsOf(n, 0) + unitsOf(n, blocks - 1);
            if (ov != null) {
                for (long k : ov.subMap(covered, blocks).keySet()) {
                    units -= unitsOf(n, k); // a punched one was counted above
                }
            }
            if (d != null) {
                for (long k : d.subMap(covered, blocks).keySet()) {
                    if (ov == null || !ov.containsKey(k)) {
                        units -= unitsOf(n, k);
                    }
                }
            }
        }
        if (holeUnits.size() >= 4096) {
            holeUnits.clear();
        }
        holeUnits.put(ino, new long[] {n.size, n.validBlocks, n.listHash(), units});
        return units;
    }

    /**
     * ino -> {size, validBlocks, hash of the block-list pages, {@link #knownHoleUnits}}: a stat
     * of a large file after each close (the kernel drops st_blocks at every FLUSH) costs no
     * pass over its map. Filled under the read lock; {@link #mapChanged} drops an entry under
     * the write lock where the file's dirty blocks or overrides change (a new dirty block, a
     * shared or punched one, dirty blocks dropped, which every persist does after it moves them
     * into the overrides); the key catches what changes the inode (size, truncation, a clone's list).
     */
    private final java.util.concurrent.ConcurrentHashMap<Long, long[]> holeUnits = new java.util.concurrent.ConcurrentHashMap<>();

    /** The file's dirty blocks or overrides changed: its {@link #holeUnits} entry is stale. Write lock held. */
    private void mapChanged(long ino) {
        holeUnits.remove(ino);
        holeDeltas.remove(ino);
    }

    /**
     * Per file, the blocks stored as a sub-block delta that has hole pages, in order, for {@link
     * #seek}: built from the file's overrides at its first seek after a change ({@link
     * #mapChanged} drops it), so that a SEEK_HOLE does not ask every delta of a file rewritten 4
     * KiB at a time (thousands of them: 18 calls a second where the walk without pages made
     * 10,000). Filled by readers (read lock), dropped under the write lock.
     */
    private final java.util.concurrent.ConcurrentHashMap<Long, long[]> holeDeltas = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * {@link #holePages(ChunkId)} of stored deltas, by id (a delta's pages never change), so that
     * a delta is decoded for it once; kept for the deltas {@link #deltaBases} keeps. Filled by
     * persist for the deltas over a whole chunk it stores (their pages are at hand), and by
     * readers (read lock) for the others.
     */
    private final java.util.concurrent.ConcurrentHashMap<ChunkId, Long> deltaHoles = new java.util.concurrent.ConcurrentHashMap<>();

    /** 512-byte units of block idx of file n (the last one may be short), as ext4 counts them. */
    long unitsOf(Inode n, long idx) {
        return (Math.min(bs, n.size - idx * bs) + 511) / 512;
    }

    boolean isDirty(long ino, long idx) {
        return dirtyBlock(ino, idx) != null;
    }

    /** Block idx holds data: it is dirty, or stored as a chunk (not as a hole). Lock held. */
    boolean isData(long ino, Inode n, long idx) {
        return isDirty(ino, idx) || storedBlock(ino, n, idx) != null;
    }

    /**
     * The first block in [from, last] that holds data ({@link #isData}) if data is true, or that
     * does not if false; -1 if there is none. The file's dirty blocks and overrides are walked in
     * order beside the snapshot's list pages, scanned as arrays between them, so that SEEK_HOLE
     * in a file of data costs no lookup per block. Lock held.
     */
    long nextBlock(long ino, Inode n, long from, long last, boolean data) {
        TreeMap<Long, DirtyBlock> d = dirty.get(ino);
        TreeMap<Long, ChunkId> ov = overrides.get(ino);
        java.util.Iterator<Long> di = d == null ? java.util.Collections.emptyIterator() : d.tailMap(from, true).keySet().iterator();
        java.util.Iterator<Map.Entry<Long, ChunkId>> oi = ov == null ? java.util.Collections.emptyIterator() : ov.tailMap(from, true).entrySet().iterator();
        long dk = di.hasNext() ? di.next() : Long.MAX_VALUE;
        Map.Entry<Long, ChunkId> oe = oi.hasNext() ? oi.next() : null;
        long idx = from;
        while (idx <= last) {
            long ok = oe == null ? Long.MAX_VALUE : oe.getKey();
            long next = Math.min(dk, ok);
            if (next > idx) { // blocks [idx, next) are the snapshot's
                long end = Math.min(next, last + 1);
                long found = nextInBase(n, idx, end, data);
                if (found >= 0) {
                    return found;
                }
                idx = end;
                continue;
            }
            boolean isData = dk == idx || oe.getValue() != null; // a dirty block is data
            if (isData == data) {
                return idx;
            }
            if (dk == idx) {
                dk = di.hasNext() ? di.next() : Long.MAX_VALUE;
            }
            if (ok == idx) {
                oe = oi.hasNext() ? oi.next() : null;
            }
            idx++;
        }
        return -1;
    }

    /**
     * lseek's SEEK_DATA (data true) or SEEK_HOLE: the first offset at or after offset, below the
     * file's size, in a page that holds data, or in a page that is a hole; -1 if there is none
     * (SEEK_HOLE's caller answers the size). Found block by block ({@link #nextBlock}), then page
     * by page inside the blocks that can be part hole: dirty blocks and sub-block deltas, where a
     * 4 KiB punch or write in a 64 KiB block leaves pages of each kind ({@link #holePages}). A
     * block stored whole is data throughout, as it was before pages were looked at (xfstests'
     * seek_sanity_test wants 4 KiB holes; cp --sparse and qemu-img copy less with them). Lock held.
     */
    long seek(long ino, Inode n, long offset, boolean data) {
        long last = (n.size - 1) / bs;
        for (long idx = offset / bs; idx <= last; ) {
            long found = nextBlock(ino, n, idx, last, data);
            if (!data) {
                // blocks [idx, found) are data blocks: the dirty ones and the deltas may hold hole pages
                long at = firstHolePage(ino, n, idx, found < 0 ? last + 1 : found, offset);
                return at >= 0 ? at : found < 0 ? -1 : Math.max(offset, found * bs);
            }
            if (found < 0) {
                return -1;
            }
            if (!partHole(ino, found)) {
                return Math.max(offset, found * bs); // stored whole: data throughout
            }
            long at = firstPage(ino, n, found, offset, true);
            if (at >= 0) {
                return at;
            }
            idx = found + 1; // a data block whose pages from offset on are all holes
        }
        return -1;
    }

    /**
     * The first hole page at or after offset in the data blocks [from, to): only a dirty block or
     * one stored as a delta can have one. The file's dirty blocks in the range are walked in order
     * beside its blocks stored as deltas with hole pages ({@link #holeDeltas}). -1 if none. Lock held.
     */
    private long firstHolePage(long ino, Inode n, long from, long to, long offset) {
        TreeMap<Long, DirtyBlock> d = dirty.get(ino);
        java.util.Iterator<Long> di = d == null ? java.util.Collections.emptyIterator() : d.subMap(from, to).keySet().iterator();
        long[] hd = holeDeltas(ino);
        int hi = java.util.Arrays.binarySearch(hd, from);
        hi = hi < 0 ? -hi - 1 : hi;
        long dk = di.hasNext() ? di.next() : Long.MAX_VALUE;
        while (true) {
            long hk = hi < hd.length && hd[hi] < to ? hd[hi] : Long.MAX_VALUE;
            long b = Math.min(dk, hk);
            if (b == Long.MAX_VALUE) {
                return -1;
            }
            long at = firstPage(ino, n, b, offset, false); // a dirty block is asked as dirty
            if (at >= 0) {
                return at;
            }
            if (dk == b) {
                dk = di.hasNext() ? di.next() : Long.MAX_VALUE;
            }
            if (hk == b) {
                hi++;
            }
        }
    }

    /** Block idx is dirty or stored as a delta: it may be part hole (else it is one kind throughout). Lock held. */
    private boolean partHole(long ino, long idx) {
        if (isDirty(ino, idx)) {
            return true;
        }
        TreeMap<Long, ChunkId> ov = overrides.get(ino);
        ChunkId id = ov == null ? null : ov.get(idx);
        return id != null && deltaBases.containsKey(id);
    }

    /** {@link #holeDeltas} of a file, built if it is not there. Lock held. */
    private long[] holeDeltas(long ino) {
        long[] known = holeDeltas.get(ino);
        if (known != null) {
            return known;
        }
        TreeMap<Long, ChunkId> ov = deltaBases.isEmpty() ? null : overrides.get(ino);
        long[] out = new long[0];
        int k = 0;
        if (ov != null) {
            for (Map.Entry<Long, ChunkId> e : ov.entrySet()) {
                if (e.getValue() != null && deltaBases.containsKey(e.getValue()) && holePages(e.getValue()) != 0) {
                    if (k == out.length) {
                        out = java.util.Arrays.copyOf(out, Math.max(8, 2 * k));
                    }
                    out[k++] = e.getKey();
                }
            }
        }
        out = java.util.Arrays.copyOf(out, k);
        if (holeDeltas.size() >= 4096) {
            holeDeltas.clear(); // files sought once each (a walk of a tree): bounded as holeUnits is
        }
        holeDeltas.put(ino, out);
        return out;
    }

    /**
     * In block idx, the first offset at or after offset (and below the file's size) in a page that
     * holds data (data true) or is a hole; -1 if none. Lock held.
     */
    private long firstPage(long ino, Inode n, long idx, long offset, boolean data) {
        long start = idx * bs;
        long holes = holePages(ino, n, idx);
        int from = offset > start ? (int) ((offset - start) / ps) : 0;
        int pages = (int) Math.min(ppb, (n.size - start + ps - 1) / ps);
        for (int p = from; p < pages; p++) {
            if ((((holes >>> p) & 1) == 0) == data) {
                return Math.max(offset, start + (long) p * ps);
            }
        }
        return -1;
    }

    /**
     * The pages of block idx that are holes, as a bit mask (bit p: page p): nothing was written
     * there, it was punched, or it was written with zeros only and so stored as a zero page of a
     * delta. A dirty block's pages are its own; a clean page is what is stored under it. Lock held.
     */
    long holePages(long ino, Inode n, long idx) {
        DirtyBlock b = dirtyBlock(ino, idx);
        if (b == null) {
            return holePages(storedBlock(ino, n, idx));
        }
        long under = -1L; // read only if a clean page asks
        boolean underRead = false;
        long mask = 0;
        for (int p = 0; p < ppb; p++) {
            int slot = b.slots[p];
            boolean hole;
            if (slot == ZERO) {
                hole = true;
            } else if (slot >= 0) {
                hole = false;
            } else {
                if (!underRead) {
                    under = holePages(b.under);
                    underRead = true;
                }
                hole = ((under >>> p) & 1) != 0;
            }
            if (hole) {
                mask |= 1L << p;
            }
        }
        return mask;
    }

    /**
     * The hole pages of the block stored as id: all for a hole (null), none for a whole chunk (a
     * block of zeros is stored as a hole, never as a chunk), a delta's as its chain says. Lock held.
     */
    private long holePages(ChunkId id) {
        long all = allPages();
        if (id == null) {
            return all;
        }
        if (!deltaBases.containsKey(id)) {
            return 0;
        }
        Long known = deltaHoles.get(id);
        if (known != null) {
            return known;
        }
        java.util.List<SubBlock> chain = SubBlock.chain(store::getOnce, id); // small chunks, read once: the answer is kept
        SubBlock bottom = chain.get(chain.size() - 1);
        long mask = bottom.base().equals(zeroBlock()) ? all : 0;
        for (int i = chain.size() - 1; i >= 0; i--) {
            mask = holesOver(mask, chain.get(i));
        }
        deltaHoles.put(id, mask);
        return mask;
    }

    /** Every page of a block, as a mask. */
    private long allPages() {
        return ppb == 64 ? -1L : (1L << ppb) - 1;
    }

    /** The hole pages of delta s applied over a block whose hole pages are under. Any thread. */
    private long holesOver(long under, SubBlock s) {
        long mask = under;
        for (int p = 0; p < ppb; p++) {
            byte[] page = p < s.pages().length ? s.pages()[p] : null;
            if ((long) p * ps >= s.blockLen() || page != null && page.length == 0) {
                mask |= 1L << p; // cut off by the delta's end, or a zero page
            } else if (page != null) {
                mask &= ~(1L << p);
            }
        }
        return mask;
    }

    private volatile ChunkId zeroBlock; // set once, by any reader: the same value whoever sets it

    /** The id of the all-zero block: the whole chunk under deltas stored over a hole. */
    private ChunkId zeroBlock() {
        ChunkId z = zeroBlock;
        if (z == null) {
            z = ChunkId.hash(zeros, 0, bs);
            zeroBlock = z;
        }
        return z;
    }

    /** The first block in [from, to) whose snapshot entry ({@link SnapshotReader#block}) is a chunk if data, a hole if not; -1 if none. */
    private long nextInBase(Inode n, long from, long to, boolean data) {
        long idx = from;
        while (idx < to) {
            long page = idx / BlockList.PAGE;
            long pageEnd = Math.min(to, (page + 1) * BlockList.PAGE);
            ChunkId[] entries = idx < n.validBlocks ? base.listPage(n, page) : null;
            long listedEnd = Math.min(pageEnd, Math.min(n.validBlocks, page * BlockList.PAGE + (entries == null ? 0 : entries.length)));
            for (; idx < listedEnd; idx++) {
                if ((entries[(int) (idx % BlockList.PAGE)] != null) == data) {
                    return idx;
                }
            }
            if (idx < pageEnd) { // past the list: holes
                if (!data) {
                    return idx;
                }
                idx = pageEnd;
            }
        }
        return -1;
    }

    /** Makes block idx the given stored chunk (null: a hole) without data; persisted with the file's data. */
    void setStored(long ino, long idx, ChunkId id) {
        TreeMap<Long, DirtyBlock> d = dirty.get(ino);
        DirtyBlock b = d == null ? null : d.remove(idx);
        if (b != null) {
            dirtyBlocks--;
            release(b);
        }
        overrides.computeIfAbsent(ino, k -> new TreeMap<>()).put(idx, id);
        pending.computeIfAbsent(ino, k -> new TreeSet<>()).add(idx);
        mapChanged(ino);
    }

    /** True if the file has no blocks of its own in this view: nothing written, shared in or punched since its last truncate. Lock held. */
    boolean blockless(long ino) {
        TreeMap<Long, DirtyBlock> d = dirty.get(ino);
        TreeMap<Long, ChunkId> ov = overrides.get(ino);
        TreeSet<Long> p = pending.get(ino);
        return (d == null || d.isEmpty()) && (ov == null || ov.isEmpty()) && (p == null || p.isEmpty());
    }

    /**
     * A clone without data (copy_file_range of a whole file): file to, which is {@link #blockless},
     * takes the first {@code blocks} blocks of file from. It gets from's block-list pages and
     * validity limit (capped at blocks), so the snapshot's blocks are shared by reference, one
     * list page per 2,048 blocks, and from's overrides below blocks as its own (pending:
     * persisted with to's data). Blocks of from that are dirty are not shared: their indexes are
     * returned (a list the caller may add to), for the caller to copy as bytes. Sets neither to's
     * size nor its times. Write lock held.
     */
    List<Long> cloneBlocks(long from, long to, long blocks) {
        Inode src = ns.inode(from);
        Inode dst = ns.mutable(to);
        dst.blockPages = new ArrayList<>(src.blockPages);
        dst.inlineBlocks = src.inlineBlocks == null ? null : src.inlineBlocks.clone();
        dst.validBlocks = Math.min(src.validBlocks, blocks);
        TreeMap<Long, ChunkId> ov = overrides.get(from);
        if (ov != null) {
            for (Map.Entry<Long, ChunkId> e : ov.headMap(blocks).entrySet()) {
                setStored(to, e.getKey(), e.getValue());
            }
        }
        TreeMap<Long, DirtyBlock> d = dirty.get(from);
        return d == null ? new ArrayList<>() : new ArrayList<>(d.headMap(blocks).keySet());
    }

    // ------------------------------------------------------------------ data (lock held)

    /** Reads up to len bytes at off of a regular file n; returns the count placed in out. Read lock held. */
    int read(long ino, Inode n, long off, byte[] out, int outOff, int len) {
        return read(ino, n, off, ByteBuffer.wrap(out), outOff, len);
    }

    /**
     * Reads up to len bytes at off of a regular file n into out at outPos (out's position and
     * limit are not used); returns the count. Stored blocks are copied from the store's block
     * cache straight into out (a reply's native buffer, for the kernel adapter). Read lock held.
     */
    int read(long ino, Inode n, long off, ByteBuffer out, int outPos, int len) {
        if (off >= n.size || len <= 0) {
            return 0;
        }
        int total = (int) Math.min(len, n.size - off);
        TreeMap<Long, DirtyBlock> d = dirty.get(ino);
        int[] placed = placeStored(ino, n, off, total, d, out, outPos);
        loadStored(ino, n, off, total, d, placed);
        long first = off / bs;
        int done = 0;
        while (done < total) {
            long pos = off + done;
            long idx = pos / bs;
            int inBlock = (int) (pos % bs);
            int chunk = Math.min(total - done, bs - inBlock);
            int here = placed == null ? -1 : placed[(int) (idx - first)];
            DirtyBlock db = d == null || here >= 0 ? null : d.get(idx);
            ChunkId id = db == null && here < 0 ? storedBlock(ino, n, idx) : null;
            int avail;
            if (here >= 0) {
                avail = Math.min(chunk, here); // read from its pack into out, in place (placeStored)
            } else if (db != null) {
                byte[] b = materialize(db); // written pages over what the block held
                avail = Math.max(0, Math.min(chunk, b.length - inBlock));
                out.put(outPos + done, b, inBlock, avail);
            } else if (id != null && deltaBases.containsKey(id)) {
                // a delta applied over its base once, into the block cache (or there already, read ahead)
                avail = store.readDerived(SubBlock.blockKey(id), maker(id), inBlock, out, outPos + done, chunk);
            } else {
                avail = id == null ? 0 : store.read(id, inBlock, out, outPos + done, chunk);
            }
            if (avail < chunk) {
                out.put(outPos + done + avail, zeros, 0, chunk - avail);
            }
            done += chunk;
        }
        return total;
    }

    /**
     * What makes the block stored delta stands for, straight into a block-cache slot: the chain's
     * base chunk put there (from the block cache, where the read's batch or read-ahead put it, or
     * its pack), the chain's pages applied over it; the deltas are wanted this once (getOnce).
     * The maker uses only the store, so read-ahead threads run it holding no lock.
     */
    Store.Maker maker(ChunkId delta) {
        return (slot, frame) -> SubBlock.readInto(store::getOnce, delta, slot, (base, block) -> store.baseInto(base, block, frame));
    }

    /** Whether a read of [off, off+len) of a file of size into out is one whose whole stored blocks placeStored reads into out. */
    static boolean placesWhole(ByteBuffer out, long off, int len, long size, int bs) {
        if (!out.isDirect() || !Store.READ_DIRECT || len <= 0) {
            return false;
        }
        long start = (off + bs - 1) / bs * bs; // the first block boundary at or after off
        return start < off + len && Math.min(start + bs, size) <= off + len;
    }

    /**
     * A read's whole blocks that are stored (not written since) are read from their packs
     * straight into out where they belong (Store.readAllInto: one copy fewer than through the
     * block cache, hashed there before the reply leaves). A whole chunk is the block; for a
     * sub-block delta whose block is not in the block cache, the chain's base chunk is put there
     * the same way and the chain's deltas, read into a pooled scratch buffer and hashed
     * together (Store.readAll), are applied over it in place (SubBlock.applyInPlace): no block
     * cache slot, no copy of the block or the deltas on the heap. Returns, per block of the read
     * from its first, the length placed, -1 where nothing was (the block is read as before, which
     * reports any error); null if no block qualifies. out must be direct. Read lock held.
     */
    private int[] placeStored(long ino, Inode n, long off, int len, TreeMap<Long, DirtyBlock> d, ByteBuffer out, int outPos) {
        if (!placesWhole(out, off, len, n.size, bs)) {
            return null;
        }
        long first = off / bs;
        long last = (off + len - 1) / bs;
        List<ChunkId> ids = null; // per block placed: its whole chunk, or its chain's base
        List<List<ChunkId>> chains = null; // per block placed: null, or its chain top first (base last)
        int[] at = null;
        for (long i = first; i <= last; i++) {
            long start = i * bs;
            long end = Math.min(start + bs, n.size);
            if (start < off || end > off + len || d != null && d.containsKey(i)) {
                continue; // a part of a block, or written: the block cache or the dirty pages serve it
            }
            ChunkId id = storedBlock(ino, n, i);
            List<ChunkId> chain = null;
            if (id != null && deltaBases.containsKey(id)) {
                if (!DIRECT_DELTAS || store.cached(SubBlock.blockKey(id))) {
                    continue; // made already (read ahead, or read before): copied from the block cache
                }
                chain = below(id);
                chain.add(0, id);
            }
            if (id == null) {
                continue;
            }
            if (ids == null) {
                ids = new ArrayList<>();
                chains = new ArrayList<>();
                at = new int[(int) (last - first + 1)];
            }
            at[ids.size()] = (int) (i - first);
            ids.add(chain == null ? id : chain.get(chain.size() - 1));
            chains.add(chain);
        }
        if (ids == null) {
            return null;
        }
        int k = ids.size();
        int[] pos = new int[k];
        int[] max = new int[k];
        int[] lens = new int[k];
        for (int j = 0; j < k; j++) {
            long start = (first + at[j]) * bs;
            pos[j] = outPos + (int) (start - off);
            max[j] = (int) (Math.min(start + bs, n.size) - start);
        }
        store.readAllInto(ids, out, pos, max, lens);
        applyChains(chains, out, pos, max, lens);
        int[] placed = new int[(int) (last - first + 1)];
        Arrays.fill(placed, -1);
        for (int j = 0; j < k; j++) {
            placed[at[j]] = lens[j];
        }
        return placed;
    }

    /**
     * Whether a read's whole blocks that are sub-block deltas are made in place in the reply
     * (placeStored), rather than into the block cache (by read-ahead or the reader) and copied
     * from there. {@code -Dcowfs.readDirectDeltas=false}: the latter (A/B; docs/CONFIG.md).
     */
    static final boolean DIRECT_DELTAS = Store.READ_DIRECT && !"false".equals(System.getProperty("cowfs.readDirectDeltas"));

    /**
     * For placeStored: over each base chunk placed at pos[j] (lens[j] >= 0) whose block is a delta
     * chain (chains[j] not null), the chain's deltas applied in place; lens[j] becomes the block's
     * length, or -1 where a delta could not be read that way or does not fit (the block is then
     * read as before). The deltas of all the blocks are read in one batch. Read lock held.
     */
    private void applyChains(List<List<ChunkId>> chains, ByteBuffer out, int[] pos, int[] max, int[] lens) {
        List<ChunkId> deltas = new ArrayList<>();
        for (int j = 0; j < chains.size(); j++) {
            List<ChunkId> c = chains.get(j);
            if (c != null && lens[j] >= 0) {
                deltas.addAll(c.subList(0, c.size() - 1));
            }
        }
        if (deltas.isEmpty()) {
            return;
        }
        try (Store.Reads read = store.readAll(deltas, bs + bs / 2)) { // a delta holds at most its block's pages and their headers
            ByteBuffer[] got = read.got;
            int next = 0;
            for (int j = 0; j < chains.size(); j++) {
                List<ChunkId> c = chains.get(j);
                if (c == null || lens[j] < 0) {
                    continue;
                }
                ByteBuffer[] mine = Arrays.copyOfRange(got, next, next + c.size() - 1);
                next += c.size() - 1;
                int made = -1;
                if (!Arrays.asList(mine).contains(null)) {
                    try {
                        made = SubBlock.applyInPlace(mine, c, out, pos[j], max[j], lens[j]);
                    } catch (StoreException e) {
                        made = -1; // malformed: the usual way reads it again and reports it
                    }
                }
                lens[j] = made;
            }
        }
    }

    /**
     * Before a read of [off, off+len) that spans several blocks: the stored whole chunks among
     * them that are not in the block cache, and the base chunks under the sub-block deltas among
     * them whose blocks are not made yet, are decoded as one batch, their hashes checked together
     * (Store.loadAll, which skips the cached ones: no probe per block here), instead of one by
     * one as the copy loop meets them. Lock held.
     */
    private void loadStored(long ino, Inode n, long off, int len, TreeMap<Long, DirtyBlock> d, int[] placed) {
        long first = off / bs;
        long last = (off + len - 1) / bs;
        if (last == first) {
            return;
        }
        List<ChunkId> stored = null;
        for (long i = first; i <= last; i++) {
            if (d != null && d.containsKey(i) || placed != null && placed[(int) (i - first)] >= 0) {
                continue;
            }
            ChunkId id = storedBlock(ino, n, i);
            if (id != null && deltaBases.containsKey(id)) {
                id = store.cached(SubBlock.blockKey(id)) ? null : baseOf(id);
            }
            if (id != null) {
                if (stored == null) {
                    stored = new ArrayList<>();
                }
                stored.add(id);
            }
        }
        if (stored != null && stored.size() > 1) {
            store.loadAll(stored); // skips those in the block cache, under one acquisition of its lock
        }
    }

    /** A block of zeros: what a hole, or the part of a block past its chunk's end, reads as. */
    private final byte[] zeros;

    /** As {@link #write(long, Inode, long, ByteBuffer, int, int)}, from data[dataOff..]. Write lock held. */
    boolean write(long ino, Inode cur, long off, byte[] data, int dataOff, int len) {
        return write(ino, cur, off, ByteBuffer.wrap(data), dataOff, len);
    }

    /**
     * Writes len bytes of data from dataOff at off (data's position and limit are not used; a
     * direct buffer, the kernel adapter's request, is copied into the dirty pages with no heap
     * copy): copy-on-write of the pages touched (a whole page written needs no read of the block
     * under it). Returns true if unstored data is now past {@link ViewFs#DIRTY_LIMIT}: the caller
     * must then store some (ViewFs.relieve once the lock is released, or {@link #persistIfOver}
     * under it), which bounds a mount's memory. Write lock held.
     */
    boolean write(long ino, Inode cur, long off, ByteBuffer data, int dataOff, int len) {
        growing(ino, cur, off + len, off); // a write from past the end: the gap reads as zeros
        TreeMap<Long, DirtyBlock> d = dirty.computeIfAbsent(ino, k -> new TreeMap<>());
        int done = 0;
        long bIdx = -1;
        DirtyBlock b = null; // block bIdx: looked up once per block, not once per page (a boxed key each time)
        while (done < len) {
            long pos = off + done;
            long idx = pos / bs;
            int inBlock = (int) (pos % bs);
            int p = inBlock / ps;
            int inPage = inBlock % ps;
            int n = Math.min(len - done, ps - inPage);
            if (idx != bIdx) {
                bIdx = idx;
                b = dirtyBlockFor(d, ino, cur, idx);
            }
            if (b.slots[p] < 0 && n < ps) {
                byte[] page = pageBytes(b, p); // a part of a page: the rest keeps what it held
                data.get(dataOff + done, page, inPage, n);
                setPage(b, p, page);
            } else {
                if (b.slots[p] < 0) {
                    b.slots[p] = arena.allocate();
                }
                arena.write(b.slots[p], inPage, data, dataOff + done, n);
            }
            b.version++;
            done += n;
        }
        Inode n = ns.mutable(ino);
        n.size = Math.max(n.size, off + len);
        stampChanged(n);
        // setuid/setgid are not cleared here: only the kernel knows whether the writer has
        // CAP_FSETID, and without handle_killpriv it sends the mode change itself
        return overDirtyLimit();
    }

    /** File ino's dirty block idx (d: its dirty blocks), made over what is stored there if it has none yet. Write lock held. */
    private DirtyBlock dirtyBlockFor(TreeMap<Long, DirtyBlock> d, long ino, Inode cur, long idx) {
        DirtyBlock b = d.get(idx);
        if (b == null) {
            b = new DirtyBlock(idx * bs < cur.size ? storedBlock(ino, cur, idx) : null, ppb);
            putDirty(d, idx, b);
            mapChanged(ino);
        }
        return b;
    }

    /**
     * True if unstored data is past {@link ViewFs#DIRTY_LIMIT}: its written pages, or its dirty
     * blocks at {@link #BLOCK_COST} each, counted apart (so unstored data may reach about twice
     * the limit, pages and blocks together). A block with a written page is counted by that
     * page's 4 KiB first, so writes store as often as they did before blocks counted (added
     * together, random 4 KiB writes stored 5 % more often, and a fio O_DIRECT run of 64 MiB
     * measured 15 % slower); blocks without written pages (punched or cut pages only) are what
     * reach the second count first. Lock held.
     */
    boolean overDirtyLimit() {
        return (long) arena.used() * ps > ViewFs.DIRTY_LIMIT || dirtyBlocks * BLOCK_COST > ViewFs.DIRTY_LIMIT;
    }

    /**
     * If unstored data is past the limit, stores ino's data, then everything if that was not
     * enough; a full store drops ino's unstored data (ENOSPC to the caller). For a change that
     * writes many blocks under one hold of the write lock (copy_file_range's unaligned ranges),
     * and after a write's store pass outside the lock (ViewFs.relieve) for what that left. Write
     * lock held.
     */
    void persistIfOver(long ino) {
        persistIfOver(ino, false);
    }

    /** {@link #persistIfOver(long)}; with keepOnFull a full store drops nothing (see {@link #persistFileOutsideLock(long, ReentrantReadWriteLock, boolean)}). */
    void persistIfOver(long ino, boolean keepOnFull) {
        if (!overDirtyLimit()) {
            return;
        }
        try {
            persist(ino); // this file first: the one being written is the likely culprit
            if (overDirtyLimit()) {
                persist(null);
            }
        } catch (StoreException.StoreFullException e) {
            // the call that got here fails with ENOSPC, and the file's next fsync reports the
            // loss too: the data dropped may be earlier writes of the file, which that caller
            // never made
            if (!keepOnFull) {
                lostToFullStore(ino);
            }
            throw e;
        }
    }

    /** Makes a dirty block read as zeros from byte tail on (a truncate inside it). Write lock held. */
    private void cutAt(DirtyBlock b, int tail) {
        b.version++;
        int p = tail / ps;
        int in = tail % ps;
        if (in != 0) {
            byte[] page = pageBytes(b, p);
            Store.zero(page, in, ps);
            setPage(b, p, page);
            p++;
        }
        for (; p < ppb; p++) {
            if (b.slots[p] >= 0) {
                arena.release(b.slots[p]);
            }
            b.slots[p] = ZERO;
        }
    }

    /** Sets a regular file's size; bytes past a smaller size are gone for good. Write lock held. */
    void truncate(long ino, Inode cur, long size) {
        growing(ino, cur, size, size);
        if (size < cur.size) {
            long keep = (size + bs - 1) / bs;
            int tail = (int) (size % bs);
            DirtyBlock last = null;
            if (tail != 0) {
                last = dirtyBlock(ino, size / bs);
                if (last == null) {
                    last = new DirtyBlock(storedBlock(ino, cur, size / bs), ppb);
                }
                cutAt(last, tail);
            }
            TreeMap<Long, DirtyBlock> d = dirty.get(ino);
            if (d != null) {
                NavigableMap<Long, DirtyBlock> gone = d.tailMap(keep, true);
                gone.values().forEach(this::release);
                dirtyBlocks -= gone.size();
                gone.clear();
            }
            TreeMap<Long, ChunkId> ov = overrides.get(ino);
            if (ov != null) {
                ov.tailMap(keep, true).clear();
            }
            mapChanged(ino);
            TreeSet<Long> p = pending.get(ino);
            if (p != null) {
                p.tailSet(keep, true).clear();
            }
            truncatedFrom.merge(ino, keep, Math::min);
            Inode n = ns.mutable(ino);
            n.validBlocks = Math.min(n.validBlocks, keep);
            if (last != null) {
                putDirty(dirty.computeIfAbsent(ino, k -> new TreeMap<>()), size / bs, last);
            }
        }
        Inode n = ns.mutable(ino);
        n.size = size;
        n.mtimeNs = n.ctimeNs = ViewNamespace.now();
    }

    /**
     * Before a regular file grows from cur.size to size: the bytes of its last block past the old
     * size are made zeros (written: where the data of the write that grows it begins; size if
     * there is none). They
     * should be zeros already, but a shrink inside a block records the smaller size at once and
     * stores the cut block only at the next flush: after a kill of the mount in between (or in a
     * snapshot frozen from that state) the block under the size still holds the old bytes, and
     * without this a later truncate, fallocate or write past the end showed them again. Reads
     * never go past the size, so the bytes only matter once the size covers them. Nothing is
     * done for a size on a block boundary, for a write that starts at or before the old size
     * (an append covers the gap itself), or for a last block that is a hole or was written here
     * over nothing (a new sparse file keeps its deltas over zeros). Write lock held.
     */
    void growing(long ino, Inode cur, long size, long written) {
        long old = cur.size;
        if (size <= old || old % bs == 0 || written <= old) {
            return;
        }
        long idx = old / bs;
        DirtyBlock b = dirtyBlock(ino, idx);
        if (b == null) {
            ChunkId stored = storedBlock(ino, cur, idx);
            if (stored == null) {
                return; // a hole
            }
            b = new DirtyBlock(stored, ppb);
            putDirty(dirty.computeIfAbsent(ino, k -> new TreeMap<>()), idx, b);
            mapChanged(ino);
        } else if (b.under == null) {
            return; // written here over nothing: its untouched pages read as zeros already
        }
        cutAt(b, (int) (old % bs)); // zeros from the old size on, pages past it held as ZERO (no memory)
    }

    /**
     * Makes [from, to) of a regular file read as zeros (the range lies within its size): blocks
     * wholly inside become holes, the partial blocks at the edges get zeros written. Write lock held.
     */
    void zero(long ino, Inode cur, long from, long to) {
        if (from >= to) {
            return;
        }
        long firstWhole = (from + bs - 1) / bs;
        long endWhole = to / bs;
        if (firstWhole >= endWhole) {
            writeZeros(ino, from, to);
            return;
        }
        writeZeros(ino, from, firstWhole * bs);
        for (long idx = firstWhole; idx < endWhole; idx++) {
            if (isData(ino, cur, idx)) {
                setStored(ino, idx, null);
            }
        }
        writeZeros(ino, endWhole * bs, to);
        if (stampWrites) { // no copy of the inode to stamp nothing
            stampChanged(ns.mutable(ino));
        }
    }

    /**
     * A write, copy or fallocate changed file n (mutable): its mtime and ctime become now, unless
     * the kernel keeps them ({@link #stampWrites}). Guarded by lock.
     */
    void stampChanged(Inode n) {
        if (stampWrites) {
            n.mtimeNs = n.ctimeNs = ViewNamespace.now();
        }
    }

    private void writeZeros(long ino, long from, long to) {
        byte[] zeros = null;
        for (long pos = from; pos < to; ) {
            long pageEnd = Math.min(to, (pos / ps + 1) * ps);
            if (pos % ps == 0 && pageEnd - pos == ps) {
                zeroPage(ino, pos);
            } else {
                if (zeros == null) {
                    zeros = new byte[ps];
                }
                write(ino, ns.inode(ino), pos, zeros, 0, (int) (pageEnd - pos));
            }
            pos = pageEnd;
        }
    }

    /**
     * Makes the whole page at pos (inside the file) a zero page of its dirty block: no memory for
     * it, stored as a zero page of a delta, and a hole to lseek from now on, as a 4 KiB punch is
     * on ext4. Write lock held.
     */
    private void zeroPage(long ino, long pos) {
        int p = (int) (pos % bs / ps);
        DirtyBlock b = dirtyBlockFor(dirty.computeIfAbsent(ino, k -> new TreeMap<>()), ino, ns.inode(ino), pos / bs);
        if (b.slots[p] >= 0) {
            arena.release(b.slots[p]);
        }
        b.slots[p] = ZERO;
        b.version++;
        // the file is changed, as by a write: a persist stores only the dirty blocks of changed
        // files (and drops the others' with them)
        stampChanged(ns.mutable(ino));
    }

    // ------------------------------------------------------------------ persistence (write lock held)

    /**
     * Stores one dirty block of len bytes if it is small: a sub-block delta if it has a stored
     * whole chunk under it (or a delta over one) and at most half of its pages differ from that
     * chunk; else a hole if all zeros. Else returns null with the whole block's bytes in
     * whole[0, len), for the caller to store as a chunk (several hashed together). Runs on a
     * storer thread while the persisting thread holds the write lock (reads only).
     */
    private Stored storeSmall(DirtyBlock b, int len, ZeroBase zeros, Store.Appends pack, byte[] whole) {
        if (subBlocks) {
            Stored d = storeDelta(b, len, zeros, pack);
            if (d != null) {
                return d;
            }
        }
        materialize(b, whole, store::getOnce); // the base is wanted this once
        if (Store.isZero(whole, 0, len)) {
            return new Stored(null, null);
        }
        return null;
    }

    /**
     * The block as a delta over the whole chunk under it, or null if more than half of its pages
     * differ from that chunk. Built from the written pages and the prior delta's pages: the base
     * chunk itself is not read (a random rewrite of a base file never decompresses the base).
     * A block with nothing under it (a hole, or past the end of its file) is a delta over the
     * all-zero block: pages that read as zeros are left out, and none left is a hole. Random
     * writes into a new or sparse file (a database, a VM image, fio) leave blocks like that,
     * which were hashed and compressed whole, 64 KiB per 4 KiB written.
     */
    private Stored storeDelta(DirtyBlock b, int len, ZeroBase zeros, Store.Appends pack) {
        boolean overZeros = b.under == null;
        boolean overDelta = !overZeros && deltaBases.containsKey(b.under);
        if (overDelta && chains && chainLength(b.under) < CHAIN) {
            Stored link = storeLink(b, len, pack);
            if (link != null) {
                return link;
            }
        }
        // the chain under the block as one delta over its whole chunk, read once
        SubBlock prior = overDelta ? SubBlock.flatten(SubBlock.chain(store::getOnce, b.under)) : null;
        if (overDelta && prior == null) {
            return null; // a page needs some of the base's bytes: the block is stored whole
        }
        int npages = (len + ps - 1) / ps;
        byte[][] pages = new byte[npages][];
        int changed = 0;
        for (int p = 0; p < npages; p++) {
            boolean inPrior = prior != null && p < prior.pages().length && prior.pages()[p] != null;
            // past the prior delta's end the block reads zeros where the base may not
            boolean pastPrior = prior != null && (p + 1) * ps > prior.blockLen();
            boolean written = overZeros ? b.slots[p] >= 0 : b.slots[p] != CLEAN; // over zeros, a ZERO page is the base's
            if (written || inPrior || pastPrior) {
                changed++;
            }
        }
        if (changed * 2 > npages) {
            return null;
        }
        boolean any = false;
        for (int p = 0; p < npages; p++) {
            int n = Math.min(ps, len - p * ps);
            int slot = b.slots[p];
            byte[] page;
            if (slot >= 0) {
                page = n == ps ? scratchPage(p) : new byte[n]; // encoded before this thread's next delta
                arena.read(slot, 0, page, 0, n);
            } else if (slot == ZERO) {
                page = SubBlock.ZERO_PAGE;
            } else if (prior != null && p < prior.pages().length && prior.pages()[p] != null) {
                byte[] pp = prior.pages()[p];
                page = pp.length == 0 ? SubBlock.ZERO_PAGE : Arrays.copyOf(pp, n); // zeros past the prior's end
            } else if (prior != null && (p + 1) * ps > prior.blockLen()) {
                if (p * ps < prior.blockLen()) {
                    return null; // a clean page cut by the prior's end: needs the base's bytes
                }
                page = SubBlock.ZERO_PAGE;
            } else {
                continue; // the base's bytes
            }
            boolean zero = page.length == 0 || Store.isZero(page, 0, page.length);
            if (!(zero && overZeros)) { // over zeros the base has them
                pages[p] = zero ? SubBlock.ZERO_PAGE : page;
                any = true;
            }
        }
        if (overZeros && !any) {
            return new Stored(null, null);
        }
        ChunkId base = overZeros ? zeros.id() : prior == null ? b.under : prior.base();
        SubBlock delta = new SubBlock(base, len, ps, pages);
        long holes = holesOver(overZeros || base.equals(zeroBlock()) ? allPages() : 0, delta); // known now: no decode at the first seek
        return new Stored(putDelta(delta, pack), base, holes);
    }

    /**
     * Deltas a chain may have at most: a block stored again over a chain this long is folded into
     * one delta over its whole chunk. Each link is one more chunk to read when the block is read
     * from the store (once: the block cache keeps the result); each fold stores every page the
     * chain changed again. gc folds chains of views that are not mounted (gc.ChainFolder).
     */
    static final int CHAIN = 8;

    /** Deltas in the chain of delta (1: a delta over a whole chunk). Lock held. */
    private int chainLength(ChunkId delta) {
        int n = 0;
        for (ChunkId x = delta; x != null && deltaBases.containsKey(x) && n <= SubBlock.MAX_CHAIN; x = deltaBases.get(x)) {
            n++;
        }
        return n;
    }

    /** The whole chunk at the bottom of delta's chain (delta itself if it is a whole chunk). Lock held. */
    private ChunkId baseOf(ChunkId delta) {
        ChunkId x = delta;
        for (int i = 0; i <= SubBlock.MAX_CHAIN && deltaBases.containsKey(x); i++) {
            x = deltaBases.get(x);
        }
        return x;
    }

    /**
     * The chain of id, as a vblock value names it after id: the chunk id applies to, and below it
     * every delta down to the whole chunk; empty if id is a whole chunk (or a hole). Lock held.
     */
    private List<ChunkId> below(ChunkId id) {
        List<ChunkId> chain = new ArrayList<>(2);
        for (ChunkId x = id == null ? null : deltaBases.get(id); x != null && chain.size() <= SubBlock.MAX_CHAIN; x = deltaBases.get(x)) {
            chain.add(x);
        }
        return chain;
    }

    /**
     * The block as a chained delta over the delta under it: the pages written (or zeroed) since
     * that delta was stored, no read of any chunk. Null if more than half of the block's pages
     * changed (the caller folds the chain, or stores the block whole).
     */
    private Stored storeLink(DirtyBlock b, int len, Store.Appends pack) {
        int npages = (len + ps - 1) / ps;
        int changed = 0;
        for (int p = 0; p < npages; p++) {
            if (b.slots[p] != CLEAN) {
                changed++;
            }
        }
        if (changed * 2 > npages) {
            return null;
        }
        byte[][] pages = new byte[npages][];
        for (int p = 0; p < npages; p++) {
            int slot = b.slots[p];
            if (slot >= 0) {
                int n = Math.min(ps, len - p * ps);
                pages[p] = n == ps ? scratchPage(p) : new byte[n]; // encoded before this thread's next delta
                arena.read(slot, 0, pages[p], 0, n);
            } else if (slot == ZERO) {
                pages[p] = SubBlock.ZERO_PAGE;
            }
        }
        // past the end of the delta under it the block reads zeros, as a CLEAN page there does
        return new Stored(putDelta(new SubBlock(b.under, len, ps, pages, true), pack), b.under);
    }

    /**
     * Stores a delta, outside the heap cache as any written block (Store.put's cache flag): 16 MiB
     * of cached deltas turned over every ~4,000 random writes and cost the mount a full GC each
     * time (measured: 15 full and 65 young GCs, 0.5 s of pauses, in 64 MiB of 4 KiB writes).
     * Not looked up in the index first ({@link Store.Appends#putUnindexed}): a delta names its
     * block's base and holds that block's pages, so the index almost never has it, and without
     * the lookup (a B-tree descent to a random leaf per delta) random 4 KiB writes take 12-23 %
     * less of the mount's CPU (docs/PERFORMANCE.md). The rare delta the index holds (the same
     * pages over the same base, stored by an earlier persist) is appended again and left for gc:
     * the store grows by at most what was written for it. Deltas of one persist still dedup
     * among themselves.
     */
    private ChunkId putDelta(SubBlock d, Store.Appends pack) {
        io.cowfs.blockstore.store.Encoder e = d.encodeTo(DELTA.get());
        return pack.putUnindexed(e.buffer(), 0, e.length()); // put copies what it keeps
    }

    /**
     * Each storing thread's delta encoder and page arrays ({@link #storeDelta}): reused from one
     * delta to the next. 64 MiB of random 4 KiB writes made 12 KiB of garbage per delta (a page
     * array, the encoder's buffer, its copy), a young collection every few hundred deltas and a
     * full one every few thousand.
     */
    private static final ThreadLocal<io.cowfs.blockstore.store.Encoder> DELTA = ThreadLocal.withInitial(io.cowfs.blockstore.store.Encoder::new);
    private static final ThreadLocal<byte[][]> PAGES = ThreadLocal.withInitial(() -> new byte[SubBlock.MAX_PAGES][]);

    /** This thread's scratch array for page p of the delta being built (ps bytes). */
    private byte[] scratchPage(int p) {
        byte[][] pages = PAGES.get();
        if (pages[p] == null || pages[p].length != ps) {
            pages[p] = new byte[ps];
        }
        return pages[p];
    }

    /**
     * The all-zero block of a store's block size, the base of {@link #storeDelta}'s deltas over a hole: put
     * (a dedup hit after the first time) at most once per persist, so that the commit that first
     * names it holds it, as for any chunk a persist stores. Thread-safe: storers share one.
     */
    private final class ZeroBase {
        private ChunkId id; // guarded by this

        synchronized ChunkId id() {
            if (id == null) {
                id = store.put(zeros, 0, bs, true, true); // put copies what it keeps
            }
            return id;
        }
    }

    /**
     * Stores blocks on the calling thread and on the storer threads, each taking the next block
     * not taken yet; results in the order given. One task per helper thread, not per block: on
     * this kind of VM every thread hand-off is a system call, and a task per block cost two or
     * three futex calls per block (docs/DESIGN-DECISIONS.md, 12). Each storer appends the chunks
     * it makes to the pack in runs of up to a MiB ({@link Store.Appends}), all written before this
     * returns, so before the commit that names them.
     */
    private Stored[] storeBlocks(List<DirtyBlock> blocks, List<Integer> lens) {
        Stored[] out = new Stored[blocks.size()];
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failed = new AtomicReference<>();
        ZeroBase zeros = new ZeroBase();
        int helpers = Math.min(STORER_THREADS - 1, out.length - 1); // the caller is one of the storers
        // as many blocks at a time as keep every storer busy, GROUP at most
        int group = Math.max(1, Math.min(GROUP, out.length / Math.max(1, helpers + 1)));
        Runnable work = () -> {
            // each storer takes up to group blocks at a time, hashes the whole ones together and
            // writes its new chunks to the pack in runs, all before the commit
            byte[][] bufs = BLOCKS.get();
            byte[][] whole = new byte[GROUP][];
            int[] wholeLens = new int[GROUP];
            int[] wholeAt = new int[GROUP];
            try (Store.Appends pack = store.appends()) {
                for (int from; failed.get() == null && (from = next.getAndAdd(group)) < out.length; ) {
                    int to = Math.min(out.length, from + group);
                    int k = 0;
                    for (int i = from; i < to; i++) {
                        if (bufs[k] == null || bufs[k].length < bs) {
                            bufs[k] = new byte[bs];
                        }
                        out[i] = storeSmall(blocks.get(i), lens.get(i), zeros, pack, bufs[k]);
                        if (out[i] == null) {
                            whole[k] = bufs[k];
                            wholeLens[k] = lens.get(i);
                            wholeAt[k++] = i;
                        }
                    }
                    ChunkId[] ids = ChunkId.hashAll(whole, wholeLens, k);
                    for (int j = 0; j < k; j++) {
                        out[wholeAt[j]] = new Stored(pack.put(whole[j], 0, wholeLens[j], ids[j]), null);
                    }
                }
            } catch (RuntimeException | Error e) {
                failed.compareAndSet(null, e);
            }
        };
        List<Future<?>> futures = new ArrayList<>(Math.max(0, helpers));
        for (int h = 0; h < helpers; h++) {
            futures.add(STORERS.submit(work));
        }
        work.run();
        boolean interrupted = false;
        for (Future<?> f : futures) {
            while (true) {
                try {
                    f.get(); // waits even if interrupted: helpers read the arena
                    break;
                } catch (ExecutionException e) {
                    failed.compareAndSet(null, new StoreException("storing a block: " + e.getCause()));
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        // every helper has ended: none reads the arena after we return
        if (failed.get() instanceof Error e) {
            throw e;
        }
        if (failed.get() instanceof RuntimeException e) {
            throw e;
        }
        return out;
    }

    /**
     * True if {@link #persist}(dataOf) finds nothing to write: no metadata waits, and dataOf (every
     * file if null) has no data that is not committed. Read lock (or write lock) held.
     */
    boolean nothingToPersist(Long dataOf) {
        return ns.dirtyInodes.isEmpty() && ns.dirtyNames.isEmpty() && !hasData(dataOf) && truncatedFrom.isEmpty();
    }

    /** True if ino itself has something its close would commit: data, a cut, or a changed inode (a create). Lock held. */
    boolean ownChangesPending(long ino) {
        return hasData(ino) || truncatedFrom.containsKey(ino) || ns.dirtyInodes.contains(ino);
    }

    /** True if dataOf (any file if null) has written data not committed yet. Lock held. */
    boolean hasData(Long dataOf) {
        if (dataOf == null) {
            return !dirty.isEmpty() || !pending.isEmpty();
        }
        return dirty.containsKey(dataOf) || pending.containsKey(dataOf);
    }

    /**
     * Writes unpersisted changes to the store in one transaction: every namespace and attribute
     * change, plus the data of one file (dataOf), of every file (null), or of none
     * ({@link #METADATA_ONLY}). Data of other files stays in memory until their own close, so a
     * file that cannot be stored (ENOSPC) never blocks the others.
     */
    void persist(Long dataOf) {
        persist(dataOf, Map.of());
    }

    private void persist(Long dataOf, Map<DirtyBlock, Prestored> prestored) {
        for (int attempt = 1; ; attempt++) {
            try {
                persistOnce(dataOf, attempt == 1 ? prestored : Map.of());
                return;
            } catch (StoreException.ChunksCollectedException e) {
                // gc collected a dedup hit of this persist before its commit: the transaction was
                // aborted, nothing changed here; store the blocks again (the lost chunks are appended)
                if (attempt == COLLECTED_RETRIES) {
                    throw e;
                }
            }
        }
    }

    /** Runs between storing a persist's blocks and its commit: tests put a concurrent gc's sweep there. */
    static volatile Runnable beforeCommit = () -> {
    };

    /** Persists tried in a row when gc keeps collecting what they deduplicated against. */
    private static final int COLLECTED_RETRIES = 5;

    private void persistOnce(Long dataOf, Map<DirtyBlock, Prestored> prestored) {
        if (nothingToPersist(dataOf)) {
            return;
        }
        // a file recorded as last committed leaves ns.dirtyInodes (see recordedAs); its data's
        // commit records it whole
        if (dataOf == null) {
            ns.dirtyInodes.addAll(recordedAs.keySet());
        } else if (recordedAs.containsKey(dataOf)) {
            ns.dirtyInodes.add(dataOf);
        }
        // files whose data stays in memory: a predicate, not a set, so that a commit with many
        // such files does not copy their numbers each time
        java.util.function.LongPredicate deferred = ino -> dataOf != null && dataOf != ino
                && (dirty.containsKey(ino) || pending.containsKey(ino));
        List<Long> inos = new ArrayList<>();
        List<Long> idxs = new ArrayList<>();
        List<DirtyBlock> blocks = new ArrayList<>();
        List<Integer> lens = new ArrayList<>();
        Map<Long, TreeMap<Long, DirtyBlock>> dataToStore = dataOf == null ? dirty
                : dirty.containsKey(dataOf) ? Map.of(dataOf, dirty.get(dataOf)) : Map.of();
        for (Map.Entry<Long, TreeMap<Long, DirtyBlock>> f : dataToStore.entrySet()) {
            Inode n = ns.changed.get(f.getKey());
            if (n == null) {
                continue;
            }
            for (Map.Entry<Long, DirtyBlock> b : f.getValue().entrySet()) {
                long len = Math.min(bs, n.size - b.getKey() * bs);
                if (len > 0) {
                    inos.add(f.getKey());
                    idxs.add(b.getKey());
                    blocks.add(b.getValue());
                    lens.add((int) len);
                }
            }
        }
        Map<Long, TreeMap<Long, Stored>> newBlocks = new HashMap<>();
        List<Integer> toStore = new ArrayList<>();
        for (int i = 0; i < blocks.size(); i++) {
            Prestored pre = prestored.get(blocks.get(i));
            if (pre != null && pre.version() == blocks.get(i).version && pre.len() == lens.get(i)) {
                newBlocks.computeIfAbsent(inos.get(i), k -> new TreeMap<>()).put(idxs.get(i), pre.stored());
            } else {
                toStore.add(i); // new, or changed since it was stored outside the lock
            }
        }
        Stored[] stored = storeBlocks(toStore.stream().map(blocks::get).toList(), toStore.stream().map(lens::get).toList());
        for (int k = 0; k < stored.length; k++) {
            int i = toStore.get(k);
            newBlocks.computeIfAbsent(inos.get(i), x -> new TreeMap<>()).put(idxs.get(i), stored[k]);
        }
        beforeCommit.run();
        List<ChunkId> named = new ArrayList<>();
        for (TreeMap<Long, Stored> f : newBlocks.values()) {
            for (Stored b : f.values()) {
                if (b.id() != null) {
                    named.add(b.id());
                }
            }
        }
        Map<Long, AsCommitted> recorded = new HashMap<>(); // into recordedAs once committed
        long nextIno = ns.nextIno;
        store.commit(txn -> {
            // the chunks stored above, dedup hits included (Store.Appends keeps no copy of a hit's
            // bytes), must still be indexed now that this transaction holds the index
            List<ChunkId> collected = store.missing(txn, named);
            if (!collected.isEmpty()) {
                throw new StoreException.ChunksCollectedException(collected);
            }
            if (nextIno != committedNextIno) {
                deltaDb.setNextIno(txn, viewId, nextIno);
            }
            for (Map.Entry<Long, Long> t : truncatedFrom.entrySet()) {
                deltaDb.deleteBlocksFrom(txn, viewId, t.getKey(), t.getValue());
            }
            for (long ino : ns.dirtyInodes) {
                Inode n = ns.changed.get(ino);
                if (n == null) {
                    deltaDb.deleteInode(txn, viewId, ino, base.inode(ino) != null);
                    if (ns.deletedDirs.contains(ino)) {
                        deltaDb.dropDir(txn, viewId, ino); // a file has no entries to drop
                    }
                } else if (deferred.test(ino)) {
                    AsCommitted as = new AsCommitted(Math.min(n.size, durableSize(ino)), n.nlink);
                    if (!as.equals(recordedAs.get(ino))) {
                        deltaDb.putInode(txn, viewId, asCommitted(txn, n));
                        recorded.put(ino, as);
                        asCommittedRecords++;
                    }
                } else {
                    deltaDb.putInode(txn, viewId, n);
                }
            }
            for (Map.Entry<Long, Set<String>> d : ns.dirtyNames.entrySet()) {
                TreeMap<String, DirObject.Entry> ov = ns.overlay.get(d.getKey());
                for (String name : d.getValue()) {
                    if (ov != null && ov.containsKey(name)) {
                        deltaDb.putDirent(txn, viewId, d.getKey(), name, ov.get(name));
                    } else {
                        deltaDb.dropDirent(txn, viewId, d.getKey(), name);
                    }
                }
            }
            for (Map.Entry<Long, TreeSet<Long>> p : pending.entrySet()) {
                if (deferred.test(p.getKey())) {
                    continue;
                }
                TreeMap<Long, ChunkId> ov = overrides.get(p.getKey());
                for (long idx : p.getValue()) {
                    if (ov != null && ov.containsKey(idx)) {
                        ChunkId id = ov.get(idx);
                        deltaDb.putBlock(txn, viewId, p.getKey(), idx, id, below(id));
                    }
                }
            }
            for (Map.Entry<Long, TreeMap<Long, Stored>> f : newBlocks.entrySet()) {
                for (Map.Entry<Long, Stored> b : f.getValue().entrySet()) {
                    ChunkId under = b.getValue().deltaBase();
                    List<ChunkId> chain = new ArrayList<>();
                    if (under != null) {
                        chain.add(under);
                        chain.addAll(below(under)); // a chained delta: the rest of its chain
                    }
                    deltaDb.putBlock(txn, viewId, f.getKey(), b.getKey(), b.getValue().id(), chain);
                }
            }
            return null;
        });
        for (Map.Entry<Long, TreeMap<Long, Stored>> f : newBlocks.entrySet()) {
            TreeMap<Long, ChunkId> ov = overrides.computeIfAbsent(f.getKey(), k -> new TreeMap<>());
            mapChanged(f.getKey());
            for (Map.Entry<Long, Stored> b : f.getValue().entrySet()) {
                ov.put(b.getKey(), b.getValue().id());
                if (b.getValue().deltaBase() != null) {
                    deltaBases.put(b.getValue().id(), b.getValue().deltaBase());
                    if (b.getValue().holes() >= 0) {
                        deltaHoles.put(b.getValue().id(), b.getValue().holes());
                    }
                }
            }
        }
        pruneDeltaBases();
        if (dataOf == null) {
            for (long ino : new ArrayList<>(dirty.keySet())) {
                dropDirty(ino);
            }
            pending.clear();
        } else {
            dropDirty(dataOf);
            pending.remove(dataOf);
        }
        for (long ino : ns.dirtyInodes) {
            Inode n = ns.changed.get(ino);
            if (n != null && !deferred.test(ino)) {
                durableSize.put(ino, n.size);
            } else if (n != null && n.size < durableSize(ino)) {
                // cut below what its stored data says, and recorded so: the stored bytes past the
                // cut are no longer the file's, even when a later write takes the size past them
                durableSize.put(ino, n.size);
            }
            if (!deferred.test(ino)) {
                recordedAs.remove(ino); // recorded whole, or deleted
            }
        }
        recordedAs.putAll(recorded);
        committedNextIno = nextIno;
        ns.dirtyInodes.clear(); // a file recorded as last committed is in recordedAs
        ns.dirtyNames.clear();
        ns.deletedDirs.clear();
        ns.created.clear();
        truncatedFrom.clear();
    }

    /**
     * What a commit records of a file whose data stays in memory (another file's close, a
     * namespace change): the file as last committed (the view's delta, else the base; a new
     * file as it is now), no longer than its stored data, with its current link count (its names
     * are committed now). So a crash shows old bytes or new ones, never zeros (as ext4's
     * data=ordered does), and old bytes with their old times and mode, never the times of writes
     * it has not kept (make would take such a file for up to date). Lock held.
     */
    private Inode asCommitted(org.lmdbjava.Txn<byte[]> txn, Inode n) {
        Inode was = deltaDb.inode(txn, viewId, n.ino);
        if (was == null) {
            was = base.inode(n.ino);
        }
        Inode out = was == null ? n.copy() : was.copy();
        out.size = Math.min(n.size, durableSize(n.ino));
        out.nlink = n.nlink;
        return out;
    }

    /** {@link #asCommittedRecords} (tests). Lock held. */
    long asCommittedRecords() {
        return asCommittedRecords;
    }

    /** Entries in {@link #deltaBases} (tests). Lock held. */
    int deltaBasesKnown() {
        return deltaBases.size();
    }

    /** {@link #deltaBases}' size at which {@link #pruneDeltaBases} next looks. Guarded by lock. */
    private int pruneDeltaBasesAt = 4096;

    /**
     * Drops the deltaBases entries of deltas that nothing names any more: no override (a block
     * stored again got a new delta, and the one it replaced is garbage for gc), no dirty block as
     * the chunk under it, and no delta chained over it that is named. One entry per delta ever stored made the map, and the work of every
     * full GC, grow with the bytes written (80,000 entries after 300 MiB of random 4 KiB rewrites).
     * Looks when the map has doubled since the last time. Write lock held.
     */
    private void pruneDeltaBases() {
        if (deltaBases.size() < pruneDeltaBasesAt) {
            return;
        }
        Set<ChunkId> named = new HashSet<>();
        for (TreeMap<Long, ChunkId> ov : overrides.values()) {
            for (ChunkId id : ov.values()) {
                nameChain(named, id);
            }
        }
        for (TreeMap<Long, DirtyBlock> d : dirty.values()) {
            for (DirtyBlock b : d.values()) {
                nameChain(named, b.under);
            }
        }
        deltaBases.keySet().retainAll(named);
        deltaHoles.keySet().retainAll(named);
        pruneDeltaBasesAt = Math.max(4096, 2 * deltaBases.size());
    }

    /** Adds id to named if it is a delta, and the deltas of its chain below it. Lock held. */
    private void nameChain(Set<ChunkId> named, ChunkId id) {
        for (ChunkId x = id; x != null && deltaBases.containsKey(x) && named.add(x); x = deltaBases.get(x)) {
            // a chain already named (shared by a clone, or a block's older links) stops the walk
        }
    }

    /** Tests: run by {@link #persistFileOutsideLock} on its thread as its store pass starts (read lock held, write lock not). */
    volatile Runnable onStorePass;

    /**
     * {@link #persistFile} for a caller that holds no lock (flush, fsync): the file's dirty blocks
     * are hashed, compressed and appended while only the read lock is held (readers go on; writers
     * wait), then everything is committed under the write lock. A block written meanwhile (between
     * the two locks) is stored again there, so what is committed is always the latest data.
     */
    void persistFileOutsideLock(long ino, ReentrantReadWriteLock lock) {
        persistFileOutsideLock(ino, lock, false);
    }

    /**
     * {@link #persistFileOutsideLock(long, ReentrantReadWriteLock)}; with keepOnFull, data a full
     * store cannot take stays waiting in memory instead of being dropped (the error is still
     * thrown): for a change that is made whether or not it can be stored yet (a punch), as a
     * truncate's cut block waits.
     */
    void persistFileOutsideLock(long ino, ReentrantReadWriteLock lock, boolean keepOnFull) {
        List<DirtyBlock> blocks = new ArrayList<>();
        List<Integer> lens = new ArrayList<>();
        List<Long> versions = new ArrayList<>();
        lock.writeLock().lock();
        try {
            TreeMap<Long, DirtyBlock> d = dirty.get(ino);
            Inode n = ns.changed.get(ino);
            if (d != null && n != null && d.size() > 1) {
                for (Map.Entry<Long, DirtyBlock> b : d.entrySet()) {
                    long len = Math.min(bs, n.size - b.getKey() * bs);
                    if (len > 0) {
                        blocks.add(b.getValue());
                        lens.add((int) len);
                        versions.add(b.getValue().version);
                    }
                }
            }
            if (blocks.isEmpty()) {
                if (keepOnFull) {
                    persist(ino);
                } else {
                    persistFile(ino);
                }
                return;
            }
            lock.readLock().lock(); // downgrade: no writer changes a block while it is stored
        } finally {
            ns.generation++;
            lock.writeLock().unlock();
        }
        Map<DirtyBlock, Prestored> pre = new IdentityHashMap<>();
        try {
            Runnable hook = onStorePass;
            if (hook != null) {
                hook.run();
            }
            Stored[] stored = storeBlocks(blocks, lens);
            for (int i = 0; i < stored.length; i++) {
                pre.put(blocks.get(i), new Prestored(versions.get(i), lens.get(i), stored[i]));
            }
        } catch (StoreException e) {
            pre.clear(); // stored again under the write lock, which reports the failure
        } finally {
            lock.readLock().unlock();
        }
        lock.writeLock().lock();
        try {
            try {
                persist(ino, pre);
            } catch (StoreException.StoreFullException e) {
                if (!keepOnFull) {
                    lostToFullStore(ino);
                }
                throw e;
            }
        } finally {
            ns.generation++;
            lock.writeLock().unlock();
        }
    }

    /**
     * Persists one file's data (and all metadata). If its data cannot be stored because the
     * store's disk is full, that data is dropped and the error rethrown (ENOSPC), as close() on
     * NFS does: the writer hears of it, and the rest of the view goes on working.
     */
    void persistFile(long ino) {
        try {
            persist(ino);
        } catch (StoreException.StoreFullException e) {
            lostToFullStore(ino);
            throw e;
        }
    }

    /** Drops ino's unstored data, which a full store cannot take, for its next fsync to report. Lock held. */
    private void lostToFullStore(long ino) {
        if (dirty.containsKey(ino)) { // stored blocks not yet committed (pending) are not dropped
            unreportedLoss.add(ino);
        }
        dropDirty(ino);
    }

    /** True once after data of ino was dropped for want of space (the caller reports ENOSPC). Any thread. */
    boolean takeLoss(long ino) {
        return unreportedLoss.remove(ino);
    }
}
