package io.cowfs.blockstore.store;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * The decoded-block cache of file data: verified raw chunks in direct memory, shared by every
 * reader of a process (a mount's workers and its read-ahead threads). A chunk is read from its
 * pack, decoded and verified once, straight into a slot, and copied from there into each reply:
 * no heap copies, and nothing here for the garbage collector to trace or move. Each slot has
 * {@link #headroom} bytes before it in its frame, so that a raw record (header and payload) is
 * read with one pread whose payload lands in the slot itself.
 *
 * <p>Slots are allocated on demand and reused in CLOCK order; a slot is pinned while a reader
 * copies from it or its chunk is being loaded into it, and never reused while pinned. Concurrent
 * readers of a chunk being loaded wait for that one load. The cache starts at {@link #START_BYTES}
 * of slots and grows towards {@code maxSlots} only when CLOCK would otherwise evict a chunk no
 * reader has used since it was loaded (read ahead of readers that need more room than the cache
 * has), or every slot is pinned. A sequential reader's blocks are used once and their slots come
 * round again: fresh memory costs a page fault per 4 KiB at first touch (10-15 us each on the
 * paravirtualised machines cowfs is measured on), and a fresh mount's cold 1 GiB read faulted in
 * all 32 MiB of a cache it did not need (docs/PERFORMANCE.md).
 *
 * <p>Locking: this object's monitor guards {@link #map}, {@link #entries}, {@link #hand},
 * {@link #targetSlots} and every Entry's fields except the slot's bytes. A slot's bytes are written only by the one
 * thread loading its entry (pinned, {@code loading} set) and read only by holders of a pin
 * after the load completed (the future orders the two). Loads run outside the monitor.
 */
final class BlockCache {
    /**
     * Reads chunk id into slot [0, n) and returns n; throws StoreException if it cannot. slot is
     * frame's bytes from {@link BlockCache#headroom} on: the loader may use frame's bytes before the
     * slot (a pack record's header, read in the same pread as a raw payload that lands in the slot).
     */
    interface Loader {
        int load(ChunkId id, ByteBuffer slot, ByteBuffer frame);
    }

    /**
     * As {@link Loader}, but bytes read from disk may be left unverified: returns n if slot [0, n)
     * is verified (or came from memory), -n-1 if it still has to be checked against id.
     */
    interface DeferredLoader {
        int load(ChunkId id, ByteBuffer slot, ByteBuffer frame);
    }

    private static final class Entry {
        /** headroom bytes, then the slot. */
        final ByteBuffer frame;
        final ByteBuffer slot;
        ChunkId id;
        int len;
        int pins;
        boolean ref;
        /** A reader copied from it since its chunk was loaded (else it was only read ahead). */
        boolean used;
        /** Set while the chunk is being loaded; completes with its length or the load's exception. */
        CompletableFuture<Integer> loading;

        Entry(int headroom, int slotSize) {
            int pad = (headroom + 63) & ~63; // the slot starts as aligned as the allocation (16 bytes at least)
            ByteBuffer whole = ByteBuffer.allocateDirect(pad + slotSize);
            this.frame = whole.slice(pad - headroom, headroom + slotSize);
            this.slot = whole.slice(pad, slotSize);
        }
    }

    private final int slotSize;
    /** Bytes of each slot's frame before the slot (see {@link Loader}). */
    final int headroom;
    private final int maxSlots;
    /** Slots the cache starts with. */
    private final int startSlots;
    /** Slots the cache may hold now: grows (by {@link #GROW_SLOTS}) up to maxSlots, see the class comment. */
    private int targetSlots;
    private final HashMap<ChunkId, Entry> map = new HashMap<>();
    private final List<Entry> entries = new ArrayList<>();
    private int hand;

    BlockCache(int slotSize, long bytes) {
        this(slotSize, bytes, 0);
    }

    BlockCache(int slotSize, long bytes, int headroom) {
        this(slotSize, bytes, headroom, START_BYTES);
    }

    /** startBytes: what the cache holds before it grows (tests set it; else {@link #START_BYTES}). */
    BlockCache(int slotSize, long bytes, int headroom, long startBytes) {
        this.slotSize = slotSize;
        this.headroom = headroom;
        this.maxSlots = (int) Math.max(8, Math.min(Integer.MAX_VALUE, bytes / slotSize));
        this.startSlots = (int) Math.min(maxSlots, Math.max(8, startBytes / slotSize));
        this.targetSlots = startSlots;
    }

    /** Bytes of slots a cache starts with (and returns to when an idle mount drops its slots). */
    static final int START_BYTES = 8 << 20;
    /** Slots added each time the cache grows. */
    static final int GROW_SLOTS = 16;

    int slotSize() {
        return slotSize;
    }

    /**
     * Copies bytes [from, from+len) of chunk id (loaded with loader if absent) into dst at
     * dstPos, fewer where the chunk ends first; returns the count copied, or -1 if the chunk
     * does not fit a slot or every slot is pinned (the caller reads it some other way).
     */
    int copy(ChunkId id, Loader loader, int from, ByteBuffer dst, int dstPos, int len) {
        Entry e = acquire(id, loader);
        if (e == null) {
            return -1;
        }
        try {
            int n = Math.max(0, Math.min(len, e.len - from));
            if (n > 0) {
                dst.put(dstPos, e.slot, from, n);
            }
            return n;
        } finally {
            release(e, true);
        }
    }

    /**
     * Copies chunk id into dst from 0 if it is loaded here (waiting for a load in progress) and
     * returns its length; -1 if it is not here (nothing is loaded) or its load failed.
     */
    int copyIfCached(ChunkId id, ByteBuffer dst) {
        Entry e;
        CompletableFuture<Integer> wait;
        synchronized (this) {
            e = map.get(id);
            if (e == null) {
                return -1;
            }
            e.pins++;
            e.ref = true;
            wait = e.loading;
        }
        try {
            if (wait != null) {
                try {
                    wait.join();
                } catch (CompletionException x) {
                    return -1; // the caller loads it itself and meets the error
                }
            }
            int len;
            synchronized (this) {
                len = e.len; // set by its loader under this monitor before the load completed
            }
            if (len > dst.capacity()) {
                return -1;
            }
            dst.put(0, e.slot, 0, len);
            return len;
        } finally {
            release(e, true);
        }
    }

    /** A copy of chunk id if it is loaded here, else null (nothing is loaded). */
    byte[] bytes(ChunkId id) {
        Entry e;
        synchronized (this) {
            e = map.get(id);
            if (e == null || e.loading != null) {
                return null;
            }
            e.pins++;
            e.ref = true;
        }
        try {
            byte[] b = new byte[e.len];
            e.slot.get(0, b);
            return b;
        } finally {
            release(e, true);
        }
    }

    /** Loads chunk id if absent (read-ahead); a failure is left for the reader to meet. */
    void load(ChunkId id, Loader loader) {
        try {
            Entry e = acquire(id, loader);
            if (e != null) {
                release(e, false);
            }
        } catch (StoreException e) {
            // the reader that needs the block gets the error (EIO for that file) when it asks
        }
    }

    /**
     * Loads those of ids that are absent as one batch (read-ahead, or the blocks of one read
     * request): each is read into a slot of its own by deferred, then those read from disk are
     * verified together ({@link Sha256#digestAll}: several in parallel lanes). A chunk whose bytes
     * do not match its id is loaded again by checked, which throws the error naming where it lies.
     * As with {@link #load}, a failure is left for the reader that needs the chunk; chunks past
     * the slots free now are left to be loaded one by one.
     */
    void loadAll(List<ChunkId> ids, DeferredLoader deferred, Loader checked) {
        List<Entry> mine = new ArrayList<>();
        List<CompletableFuture<Integer>> futures = new ArrayList<>();
        synchronized (this) {
            for (ChunkId id : ids) {
                if (map.containsKey(id)) {
                    continue;
                }
                Entry e = claim(id);
                if (e == null) {
                    break;
                }
                mine.add(e);
                futures.add(e.loading);
            }
        }
        if (mine.isEmpty()) {
            return; // all there already (a read whose blocks are cached)
        }
        int[] lens = new int[mine.size()];
        Throwable[] failed = new Throwable[mine.size()];
        List<Integer> unverified = new ArrayList<>();
        for (int i = 0; i < mine.size(); i++) {
            Entry e = mine.get(i);
            try {
                int n = deferred.load(e.id, e.slot, e.frame);
                if (n < 0) {
                    lens[i] = -n - 1;
                    unverified.add(i);
                } else {
                    lens[i] = n;
                }
            } catch (RuntimeException | Error x) {
                failed[i] = x;
            }
        }
        ByteBuffer[] check = new ByteBuffer[unverified.size()];
        for (int k = 0; k < check.length; k++) {
            int i = unverified.get(k);
            check[k] = mine.get(i).slot.duplicate().position(0).limit(lens[i]);
        }
        byte[][] digests;
        try {
            digests = Sha256.digestAll(check, check.length);
        } catch (RuntimeException | Error x) {
            digests = null; // every one is loaded again, checked
        }
        for (int k = 0; k < check.length; k++) {
            int i = unverified.get(k);
            Entry e = mine.get(i);
            if (digests == null || !e.id.names(digests[k])) {
                try {
                    lens[i] = checked.load(e.id, e.slot, e.frame); // a mismatch throws, naming the pack and offset
                } catch (RuntimeException | Error x) {
                    failed[i] = x;
                }
            }
        }
        for (int i = 0; i < mine.size(); i++) {
            Entry e = mine.get(i);
            CompletableFuture<Integer> f = futures.get(i);
            synchronized (this) {
                if (failed[i] != null) {
                    map.remove(e.id, e);
                    e.id = null;
                } else {
                    e.len = lens[i];
                }
                e.loading = null;
                e.pins--;
            }
            if (failed[i] != null) {
                f.completeExceptionally(failed[i]);
            } else {
                f.complete(lens[i]);
            }
        }
    }

    /** True if chunk id is loaded or being loaded. */
    synchronized boolean contains(ChunkId id) {
        return map.containsKey(id);
    }

    /** Drops every chunk not in use now and the slots that held them (an idle mount's trim). */
    synchronized void clear() {
        List<Entry> keep = new ArrayList<>();
        for (Entry e : entries) {
            if (e.pins > 0 || e.loading != null) {
                keep.add(e);
            } else if (e.id != null) {
                map.remove(e.id);
            }
        }
        entries.clear();
        entries.addAll(keep);
        hand = 0;
        targetSlots = Math.max(startSlots, keep.size());
    }

    /** Slots allocated now (tests). */
    synchronized int slots() {
        return entries.size();
    }

    private Entry acquire(ChunkId id, Loader loader) {
        Entry e;
        CompletableFuture<Integer> wait;
        boolean mine = false;
        synchronized (this) {
            e = map.get(id);
            if (e != null) {
                e.pins++;
                e.ref = true;
                wait = e.loading;
            } else {
                e = claim(id);
                if (e == null) {
                    return null;
                }
                wait = e.loading;
                mine = true;
            }
        }
        if (mine) {
            int n;
            try {
                n = loader.load(id, e.slot, e.frame);
            } catch (RuntimeException | Error x) {
                synchronized (this) {
                    map.remove(id, e);
                    e.id = null;
                    e.loading = null;
                }
                wait.completeExceptionally(x);
                release(e, false);
                throw x;
            }
            synchronized (this) {
                e.len = n;
                e.loading = null;
            }
            wait.complete(n);
        } else if (wait != null) {
            try {
                wait.join();
            } catch (CompletionException x) {
                release(e, false);
                throw x.getCause() instanceof RuntimeException r ? r : x;
            }
        }
        return e;
    }

    /**
     * A free slot (see {@link #victim}) taken for chunk id: mapped, pinned once, its load's
     * future set; null if every slot is pinned. Lock held.
     */
    private Entry claim(ChunkId id) {
        Entry e = victim();
        if (e == null) {
            return null;
        }
        if (e.id != null) {
            map.remove(e.id);
        }
        e.id = id;
        e.len = 0;
        e.pins = 1;
        e.ref = true;
        e.used = false;
        e.loading = new CompletableFuture<>();
        map.put(id, e);
        return e;
    }

    /** Unpins e; used: the holder copied from it. */
    private synchronized void release(Entry e, boolean used) {
        e.pins--;
        e.used |= used;
    }

    /**
     * A free slot: a new one while under the target size, else the next unpinned one CLOCK finds,
     * unless that one holds a chunk no reader has used yet (then, and when every slot is pinned,
     * the cache grows while it can). Lock held.
     */
    private Entry victim() {
        if (entries.size() < targetSlots) {
            return grown();
        }
        int size = entries.size();
        for (int i = 0; i < 2 * size; i++) {
            Entry c = entries.get(hand);
            hand = (hand + 1) % size;
            if (c.pins > 0 || c.loading != null) {
                continue;
            }
            if (c.ref && c.id != null) {
                c.ref = false;
                continue;
            }
            if (c.id != null && !c.used && size < maxSlots) {
                targetSlots = Math.min(maxSlots, size + GROW_SLOTS); // read ahead and not read yet: too small
                return grown();
            }
            return c;
        }
        if (size < maxSlots) {
            targetSlots = Math.min(maxSlots, size + GROW_SLOTS); // every slot pinned
            return grown();
        }
        return null;
    }

    private Entry grown() {
        Entry n = new Entry(headroom, slotSize);
        entries.add(n);
        return n;
    }

    /** Slots the cache may hold before it grows again (tests). */
    synchronized int targetSlots() {
        return targetSlots;
    }
}
