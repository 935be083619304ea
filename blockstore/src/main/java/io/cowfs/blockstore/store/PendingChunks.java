package io.cowfs.blockstore.store;

import com.kenai.jffi.MemoryIO;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.lmdbjava.Txn;

/**
 * The chunks this process has put since its last commit: those it appended to its pack
 * (pending: the index does not name them yet) and those it found in the index already (dedup
 * hits, to be re-stamped with the commit's generation so that gc keeps them for a lease holder;
 * a mount's hits are only checked, as its own commit names them).
 *
 * <p>A hit may keep its bytes (retain): a chunk that gc removed between the dedup check and the
 * commit is then stored again from them, so a commit never refers to a missing chunk. They are
 * kept in native memory ({@link Retained}) until that commit: a view writing data the store has
 * already (a build cache restored into a fresh view) keeps up to its dirty limit of them, and as
 * heap arrays they outlived the young generation and cost the mount a full GC every few blocks
 * (measured: 934 MB of retained arrays in a 1 GiB write, docs/PERFORMANCE.md).
 *
 * <p>Thread-safety: every field is guarded by this object's lock. I/O under it: the append of a
 * fetched chunk ({@link #lockedAppend}, so that no pack is released between its append and the
 * record of it) and a rollover ({@link #locked}). Lock order: this object, then Packs' lock
 * (never the other way round).
 */
final class PendingChunks {
    /** Placeholder in {@code pending} while one thread appends a chunk (others must not append it too). */
    private static final ChunkLocation IN_FLIGHT = new ChunkLocation(-1, -1, 0, 0, 0);

    private Map<ChunkId, ChunkLocation> pending = new HashMap<>(); // guarded by this
    private static final MemoryIO IO = MemoryIO.getInstance();

    /** A retained hit's bytes: len bytes at address (malloc'd), freed when its commit has run. */
    private record Retained(long address, int len) {
        static Retained copyOf(byte[] raw, int off, int len) {
            long a = NativeMemory.allocate(len);
            IO.putByteArray(a, raw, off, len);
            return new Retained(a, len);
        }

        byte[] bytes() {
            byte[] b = new byte[len];
            IO.getByteArray(address, b, 0, len);
            return b;
        }
    }

    private Map<ChunkId, Retained> hits = new HashMap<>(); // guarded by this: dedup hits since the last commit
    /** Chunks fetched from a remote and appended, not in the index yet (committed by commitFetched only). */
    private final Map<ChunkId, ChunkLocation> fetched = new HashMap<>(); // guarded by this

    /**
     * Claims the append of id: true if the caller is to look it up and append it; false if this
     * process has stored it, or is storing it, already.
     */
    synchronized boolean claim(ChunkId id) {
        if (pending.containsKey(id) || hits.containsKey(id)) {
            return false;
        }
        pending.put(id, IN_FLIGHT); // concurrent puts of it return at once
        return true;
    }

    /** The claimed chunk was in the index: a dedup hit (with its bytes if retain). */
    synchronized void hit(ChunkId id, byte[] raw, int off, int len, boolean retain) {
        pending.remove(id);
        Retained old = hits.put(id, retain ? Retained.copyOf(raw, off, len) : null);
        if (old != null) { // not reached (claim() refuses a second put of a hit id); never leak
            NativeMemory.free(old.address());
        }
    }

    /**
     * The claimed chunk was in the index: a dedup hit whose bytes are not kept, because its
     * owner checks at its own commit that the chunk is still indexed ({@link Store.Appends}: a
     * view's persist, whose written pages stay in memory until then). A commit that finds such a
     * hit collected by gc drops it instead of failing; the owner's check then fails its commit,
     * and the owner stores the chunk again.
     */
    synchronized void checkedHit(ChunkId id) {
        pending.remove(id);
        hits.put(id, null);
        checked.add(id);
    }

    /** Dedup hits (in {@code hits}, without bytes) whose owner checks them at its commit. */
    private final java.util.Set<ChunkId> checked = new java.util.HashSet<>(); // guarded by this

    /** Drops a checked hit that gc collected; false if id is not a checked hit. */
    private synchronized boolean dropChecked(ChunkId id) {
        if (!checked.remove(id)) {
            return false;
        }
        hits.remove(id);
        return true;
    }

    /** The claimed chunk was appended at loc. */
    synchronized void appended(ChunkId id, ChunkLocation loc) {
        pending.put(id, loc);
    }

    /** The append of a claimed chunk failed: the claim is dropped. */
    synchronized void failed(ChunkId id) {
        pending.remove(id, IN_FLIGHT);
    }

    /** Where a pending (or fetched, uncommitted) chunk was appended, or null (not pending, or still being appended). */
    synchronized ChunkLocation location(ChunkId id) {
        ChunkLocation loc = pending.get(id);
        if (loc == null) {
            return fetched.get(id);
        }
        return loc == IN_FLIGHT ? null : loc;
    }

    /** Where a fetched chunk was appended if it is not committed yet, or null. */
    synchronized ChunkLocation fetchedLocation(ChunkId id) {
        return fetched.get(id);
    }

    /**
     * Appends a fetched chunk (append runs under this lock, so that a pack is never released
     * between the append and the record of it) and remembers it until commitFetched.
     */
    synchronized ChunkLocation lockedAppend(java.util.function.Supplier<ChunkLocation> append, ChunkId id) {
        ChunkLocation loc = append.get();
        fetched.put(id, loc);
        return loc;
    }

    /**
     * Adds the fetched chunks among ids to the index, inside the caller's write transaction, and
     * returns them; they stay in {@code fetched} until {@link #committedFetched} (after the
     * transaction has committed), so a transaction run again (map growth) adds them again.
     */
    Map<ChunkId, ChunkLocation> commitFetched(Txn<byte[]> txn, StoreIndex index, java.util.Collection<ChunkId> ids) {
        Map<ChunkId, ChunkLocation> mine = new HashMap<>();
        synchronized (this) {
            for (ChunkId id : ids) {
                ChunkLocation loc = fetched.get(id);
                if (loc != null) {
                    mine.put(id, loc);
                }
            }
        }
        if (mine.isEmpty()) {
            return mine;
        }
        long gen = index.meta.nextGen(txn);
        for (Map.Entry<ChunkId, ChunkLocation> e : mine.entrySet()) {
            index.chunks.add(txn, e.getKey(), e.getValue().withGen(gen));
        }
        return mine;
    }

    /** The fetched chunks committed by a transaction that has now committed leave {@code fetched}. */
    synchronized void committedFetched(java.util.Set<ChunkId> ids) {
        ids.forEach(fetched::remove);
    }

    /** The retained bytes of a dedup hit, or null. */
    synchronized byte[] retained(ChunkId id) {
        Retained r = hits.get(id);
        return r == null ? null : r.bytes();
    }

    /** Frees the bytes of uncommitted hits (the store is closing: nothing will commit them). */
    synchronized void discardRetained() {
        for (Map.Entry<ChunkId, Retained> e : hits.entrySet()) {
            if (e.getValue() != null) {
                NativeMemory.free(e.getValue().address());
                e.setValue(null);
            }
        }
    }

    /** Runs r if nothing this process appended is uncommitted, under the lock (no put slips in). */
    synchronized void ifAllCommitted(Runnable r) {
        if (pending.isEmpty() && fetched.isEmpty()) {
            r.run();
        }
    }

    /** Runs r under the lock, whatever is pending (a rollover decides on its own). */
    synchronized void locked(Runnable r) {
        r.run();
    }

    /** What one {@link #commit} wrote: it leaves the sets when its transaction has committed ({@link #committed}). */
    static final class Taken {
        private final Map<ChunkId, ChunkLocation> pending;
        private final Map<ChunkId, Retained> hits;
        private final java.util.Set<ChunkId> dropped = new java.util.HashSet<>();

        private Taken(Map<ChunkId, ChunkLocation> pending, Map<ChunkId, Retained> hits) {
            this.pending = pending;
            this.hits = hits;
        }

        /** True if this commit indexed id (appended, or a hit found, and stamped unless its owner checks it); false: look it up. */
        boolean indexed(ChunkId id) {
            return pending.containsKey(id) || (hits.containsKey(id) && !dropped.contains(id));
        }
    }

    /**
     * The entries of m in the index's key order: each put then descends next to the last one
     * (measured on a copy of a 106 MB index, 6,250 adds of random ids: 38-54 ms sorted against
     * 49-79 ms in hash order once the process is warm).
     */
    private static <V> List<Map.Entry<ChunkId, V>> inKeyOrder(Map<ChunkId, V> m) {
        List<Map.Entry<ChunkId, V>> l = new ArrayList<>(m.entrySet());
        l.sort(Map.Entry.comparingByKey());
        return l;
    }

    /**
     * Adds pending chunks to the index and re-stamps deduplicated ones (but those whose owner
     * checks them at its own commit: a mount's, docs/GC.md), inside the caller's write
     * transaction; they stay in the sets until {@link #committed} (after that transaction has
     * committed). Until 2026-12-01 they left the sets here, so a transaction that failed after
     * this (its work threw, the map grew, the disk was full when LMDB wrote its pages) lost them,
     * and its retry could name chunks the index did not hold (StoreTest).
     * The store's generation advances only if this commit stamps a chunk: a commit of names and
     * attributes alone (chmod, unlink, mkdir in a view) then leaves the meta database untouched:
     * a get and a put fewer, and its page not copied or written (a view's chmod: 62-65 -> 58-61
     * us of mount CPU, docs/PERFORMANCE.md, 2026-12-05). A lease keeps chunks stamped at or
     * after the generation it saw, and every stamp after it still takes a newer one.
     */
    Taken commit(Txn<byte[]> txn, StoreIndex index, Packs packs) {
        Map<ChunkId, ChunkLocation> p = new HashMap<>();
        Map<ChunkId, Retained> h;
        java.util.Set<ChunkId> ownerChecks; // hits whose owner checks them at its own commit: not stamped
        synchronized (this) {
            for (Map.Entry<ChunkId, ChunkLocation> e : pending.entrySet()) {
                if (e.getValue() != IN_FLIGHT) { // in flight: its claimer is appending it, and its own commit takes it
                    p.put(e.getKey(), e.getValue());
                }
            }
            h = new HashMap<>(hits);
            ownerChecks = new java.util.HashSet<>(checked);
        }
        Taken taken = new Taken(p, h);
        long gen = p.isEmpty() ? -1 : index.meta.nextGen(txn); // -1: not advanced (yet)
        for (Map.Entry<ChunkId, ChunkLocation> e : inKeyOrder(p)) {
            if (!index.chunks.add(txn, e.getKey(), e.getValue().withGen(gen))) {
                // indexed already (appended without a lookup, Store.Appends.putUnindexed): the
                // indexed copy stays, stamped now as a dedup hit's is; this record is garbage
                ChunkLocation had = index.chunks.location(txn, e.getKey());
                if (had != null && had.gen() != gen) {
                    index.chunks.put(txn, e.getKey(), had.withGen(gen));
                }
            }
        }
        for (Map.Entry<ChunkId, Retained> e : inKeyOrder(h)) {
            ChunkLocation loc = index.chunks.location(txn, e.getKey());
            if (loc != null && ownerChecks.contains(e.getKey())) {
                // no stamp: its owner's commit names it in the transaction that checks it is
                // indexed (Store.missing), and gc marks what a view's delta names; a stamp only
                // keeps an unnamed chunk for a lease holder (import, freeze), and cost a put
                // (a dirty index page) per deduplicated block of a view
                continue;
            }
            if (loc == null) {
                // gc removed it after our dedup check: store it again
                byte[] raw = e.getValue() == null ? null : e.getValue().bytes();
                if (raw == null && dropChecked(e.getKey())) {
                    taken.dropped.add(e.getKey());
                    continue; // its owner's commit sees it missing and stores it again
                }
                if (raw == null) {
                    throw new StoreException("chunk " + e.getKey().shortHex()
                            + " was collected by a concurrent gc during this operation; run it again");
                }
                loc = packs.append(e.getKey(), raw, 0, raw.length);
            } else if (loc.gen() == gen) {
                continue;
            }
            if (gen < 0) {
                gen = index.meta.nextGen(txn); // newer than any stamp: loc takes it
            }
            index.chunks.put(txn, e.getKey(), loc.withGen(gen));
        }
        return taken;
    }

    /**
     * The transaction of {@link #commit}'s taken has committed: those chunks leave the sets and
     * retained bytes are freed. An id cannot be put again while it is in a set (claim refuses),
     * so what is there is what was taken.
     */
    synchronized void committed(Taken t) {
        for (Map.Entry<ChunkId, ChunkLocation> e : t.pending.entrySet()) {
            pending.remove(e.getKey(), e.getValue());
        }
        for (Map.Entry<ChunkId, Retained> e : t.hits.entrySet()) {
            hits.remove(e.getKey());
            checked.remove(e.getKey());
            if (e.getValue() != null) {
                NativeMemory.free(e.getValue().address());
            }
        }
    }
}
