package io.cowfs.blockstore.gc;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.run.MountRecord;
import io.cowfs.blockstore.run.MountRegistry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.LeasesTable;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.Packs;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongConsumer;

/**
 * Reclaims chunks nothing refers to, then compacts pack files (docs/GC.md). First it folds the
 * sub-block delta chains of views nobody has mounted ({@link ChainFolder}), so that the links they
 * replace are reclaimed by the same run.
 *
 * <p>Sweep: in one LMDB write transaction (so no other process commits meanwhile) every chunk
 * reachable from the catalog (snapshots, views' bases and deltas) is marked, and every other
 * index entry stamped before the oldest live lease is deleted. Compaction: each pack that no
 * process is appending to is deleted if nothing in it is indexed, or rewritten into gc's own
 * pack if less than {@link #REWRITE_BELOW} of it is live; index entries move by compare-and-set,
 * packs are fsynced before the index that names them, and the old pack is unlinked last.
 */
public final class GarbageCollector {
    static final double REWRITE_BELOW = 0.6;
    /**
     * Every process that writes starts a pack of its own, so a busy store gathers many small,
     * mostly live packs that the REWRITE_BELOW rule never touches. When more than maxSmall() packs
     * under SMALL bytes are not being appended to, gc merges them all into its own pack.
     */
    static final long SMALL = 4L << 20;

    /**
     * How many small packs may gather before they are merged. High by default: merging mostly
     * live packs into one big pack makes dead blocks in it wait longer (the soak loop's size swung
     * wider with 8); this only keeps the pack count from growing without end.
     */
    private int maxSmall() {
        return store.config().gcMaxSmallPacks(); // cowfs.gc.maxSmallPacks (docs/CONFIG.md)
    }
    /**
     * A finished pack (its writer closed it at rollover) may still hold records its writer has
     * appended but not yet committed; the index does not name them, so compaction must not drop
     * them. Writers that may hold such records: processes holding a lease (import, snapshot,
     * fork and export commit at their end, and a gc copying records) and writable mounts (within
     * one persist). A pack holding records the index does not know (at that exact place) is
     * left alone if such a writer started before the pack was last written: a lease holder for
     * as long as it lives, a mount for this many seconds after that write. With no such writer,
     * unknown records are leftovers (failed or crashed writers, duplicates) and are reclaimed.
     * Packs stay locked until their process's records are committed (records leave the pending
     * set only once their transaction has committed); this guard is a second line, for records
     * of a writer killed between its append and its commit (docs/GC.md, "The pending grace").
     */
    private long pendingGraceMillis() {
        return store.config().gcPendingGrace().toMillis(); // cowfs.gc.pendingGraceSeconds (docs/CONFIG.md)
    }

    /** What a run did. */
    public record Result(long chunksDeleted, long storedBytesDeleted, long packsDeleted, long packsRewritten,
                         long packBytesBefore, long packBytesAfter, long millis, long packsSkippedNoSpace,
                         long packsLeftPending, long chainsFolded, long viewsFolded) {
        public long freedBytes() {
            return packBytesBefore - packBytesAfter;
        }
    }

    private final Store store;

    public GarbageCollector(Store store) {
        this.store = store;
    }

    /** Work units for a progress bar: catalog entries plus pack files. */
    public long workUnits() {
        return new Catalog(store).list().size() + store.packs().list().size();
    }

    public Result run(LongConsumer progress) {
        long t0 = System.nanoTime();
        Packs packs = store.packs();
        long before = packBytes();
        ChainFolder.Folded folded = new ChainFolder(store).run(); // its replaced links are swept below
        ObjectGraph graph = new ObjectGraph(store);
        Catalog catalog = new Catalog(store);
        Map<Long, Set<Long>> sweptAt = new HashMap<>(); // pack -> offsets of the records swept now
        Swept swept = store.index().write(txn -> {
            sweptAt.clear();
            long floor = store.leaseFloor(txn);
            Set<ChunkId> live = new HashSet<>();
            ObjectGraph.Visitor mark = (kind, id, from) -> live.add(id) ? ObjectGraph.Step.WALK : ObjectGraph.Step.SKIP;
            for (CatalogEntry e : catalog.list(txn)) {
                graph.entry(txn, e, mark); // shared pages are walked once; an unreadable one fails the sweep
                progress.accept(1);
            }
            List<byte[]> dead = new ArrayList<>();
            long bytes = 0;
            for (var kv : store.index().chunks.iterate(txn)) {
                ChunkId id = ChunkId.of(kv.key());
                if (live.contains(id)) {
                    continue;
                }
                ChunkLocation loc = decode(kv.val());
                if (loc.gen() >= floor) {
                    continue; // an unfinished operation may still name it
                }
                dead.add(kv.key());
                sweptAt.computeIfAbsent(loc.pack(), k -> new HashSet<>()).add(loc.offset());
                bytes += loc.storedLen() + PackRecord.HEADER;
            }
            for (byte[] k : dead) {
                store.index().chunks.delete(txn, k);
            }
            // whereabouts of remote chunks (lazy pulls) that no name needs any more
            List<byte[]> deadRemote = new ArrayList<>();
            for (var kv : store.index().rchunks.iterate(txn)) {
                ChunkId id = ChunkId.of(kv.key());
                // unneeded, or local already (stored another way: a write of the same bytes, another pull)
                if (!live.contains(id) || store.index().chunks.location(txn, id) != null) {
                    deadRemote.add(kv.key());
                }
            }
            for (byte[] k : deadRemote) {
                store.index().rchunks.delete(txn, k);
            }
            return new Swept(dead.size(), bytes);
        });
        Compacted compacted;
        // a lease while copying: another gc then keeps this one's packs (see pendingGraceMillis)
        try (Store.Lease lease = store.lease()) {
            compacted = compact(progress, sweptAt, writers());
        }
        store.dropCache();
        store.ensureReserve(); // space freed: keep some back again for commits on a full disk
        
        return new Result(swept.chunks(), swept.bytes(), compacted.deleted(), compacted.rewritten(), before, packBytes(),
                (System.nanoTime() - t0) / 1_000_000, compacted.noSpace(), compacted.pending(), folded.chains(), folded.views());
    }

    private static ChunkLocation decode(byte[] v) {
        return ChunkLocation.decode(v);
    }

    /** What the sweep removed from the index. */
    private record Swept(long chunks, long bytes) {
    }

    /** What compaction did to packs: deleted (nothing live), rewritten, skipped for want of space, left for pending records. */
    private record Compacted(long deleted, long rewritten, long noSpace, long pending) {
    }

    /** A process that may have appended records it has not committed yet. */
    private record Writer(long pid, long startMillis, boolean leased) {
    }

    /** Live lease holders and writable mounts of this store, other than this process. */
    private List<Writer> writers() {
        long self = ProcessHandle.current().pid();
        List<Writer> out = new ArrayList<>();
        store.index().read(txn -> {
            for (var kv : store.index().leases.iterate(txn)) {
                long pid = LeasesTable.decode(kv.val()).pid();
                if (pid != self) {
                    started(pid).ifPresent(t -> out.add(new Writer(pid, t, true)));
                }
            }
            return null;
        });
        for (MountRecord m : MountRegistry.of(store).records()) {
            // snapshot mounts write too: chunks of lazily pulled snapshots they fetch (docs/REMOTE.md)
            if (m.pid() != self) {
                started(m.pid()).ifPresent(t -> out.add(new Writer(m.pid(), t, false)));
            }
        }
        return out;
    }

    private static java.util.Optional<Long> started(long pid) {
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                .map(h -> h.info().startInstant().map(java.time.Instant::toEpochMilli).orElse(0L));
    }

    private Compacted compact(LongConsumer progress, Map<Long, Set<Long>> sweptAt, List<Writer> writers) {
        Packs packs = store.packs();
        Map<Long, List<Map.Entry<ChunkId, ChunkLocation>>> byPack = new HashMap<>();
        store.index().read(txn -> {
            for (var kv : store.index().chunks.iterate(txn)) {
                ChunkLocation loc = decode(kv.val());
                byPack.computeIfAbsent(loc.pack(), k -> new ArrayList<>()).add(Map.entry(ChunkId.of(kv.key()), loc));
            }
            return null;
        });
        long deleted = 0;
        long rewritten = 0;
        long noSpace = 0;
        long pending = 0;
        // Packs with nothing live first (deleting them needs no space), then the cheapest rewrites:
        // on a full disk, what can be freed is freed before a copy runs out of room.
        List<Long> order = new ArrayList<>(packs.list());
        Map<Long, Long> liveOf = new HashMap<>();
        for (long packId : order) {
            long live = 0;
            for (var e : byPack.getOrDefault(packId, List.of())) {
                live += e.getValue().storedLen() + PackRecord.HEADER;
            }
            liveOf.put(packId, live);
        }
        order.sort(java.util.Comparator.comparingLong(liveOf::get));
        Set<Long> merge = new HashSet<>();
        for (long packId : order) {
            try {
                if (Files.size(packs.path(packId)) < SMALL && !packs.isLive(packId)) {
                    merge.add(packId);
                }
            } catch (IOException e) {
                // deleted meanwhile
            }
        }
        if (merge.size() <= maxSmall()) {
            merge.clear();
        }
        for (long packId : order) {
            progress.accept(1);
            if (packs.isLive(packId)) {
                continue;
            }
            long size;
            try {
                size = Files.size(packs.path(packId));
            } catch (IOException e) {
                continue;
            }
            List<Map.Entry<ChunkId, ChunkLocation>> entries = byPack.getOrDefault(packId, List.of());
            long liveBytes = liveOf.get(packId);
            if (!entries.isEmpty() && liveBytes >= REWRITE_BELOW * size && !merge.contains(packId)) {
                continue;
            }
            if (mayHoldPending(packId, size, entries, sweptAt.getOrDefault(packId, Set.of()), writers)) {
                pending++;
                continue;
            }
            if (!entries.isEmpty()) {
                Map<ChunkId, ChunkLocation> moved = new HashMap<>();
                for (var e : entries) {
                    try {
                        moved.put(e.getKey(), packs.copyRecord(e.getKey(), e.getValue()));
                    } catch (NoSuchFileException ex) {
                        break;
                    } catch (StoreException.ChunkCorruptException ex) {
                        // leave the damaged pack in place: verify/fsck report it, nothing is lost by waiting
                        moved = null;
                        break;
                    } catch (StoreException.StoreFullException ex) {
                        // no room for the copy: keep this pack as it is (what was copied is garbage
                        // nothing names) and go on; the next gc with more room compacts it
                        noSpace++;
                        moved = null;
                        break;
                    }
                }
                if (moved == null || moved.size() != entries.size()) {
                    continue;
                }
                packs.sync();
                Map<ChunkId, ChunkLocation> finalMoved = moved;
                store.index().write(txn -> {
                    for (var e : finalMoved.entrySet()) {
                        byte[] cur = store.index().chunks.get(txn, e.getKey().bytes());
                        if (cur != null && decode(cur).pack() == packId) {
                            ChunkLocation now = decode(cur);
                            store.index().chunks.put(txn, e.getKey().bytes(),
                                    e.getValue().withGen(now.gen()).encode());
                        }
                    }
                    return null;
                });
                store.index().sync();
                rewritten++;
            }
            // Nothing can point to the pack now: only its (finished) writer ever added entries for
            // it, and every entry found above was moved by compare-and-set.
            try {
                Files.deleteIfExists(packs.path(packId));
                packs.forget(packId);
                if (entries.isEmpty()) {
                    deleted++;
                }
            } catch (IOException e) {
                throw new StoreException("cannot delete pack " + packs.path(packId) + ": " + e.getMessage(), e);
            }
        }
        packs.closeWriter();
        return new Compacted(deleted, rewritten, noSpace, pending);
    }

    /**
     * True if the pack has a record the index does not name at that place (nor did before this
     * run's sweep) and it may be an uncommitted record of a running writer (see
     * {@link #pendingGraceMillis()}).
     */
    private boolean mayHoldPending(long packId, long size, List<Map.Entry<ChunkId, ChunkLocation>> entries, Set<Long> swept,
                                   List<Writer> writers) {
        Set<Long> known = new HashSet<>(swept);
        Set<ChunkId> committedHere = new HashSet<>();
        for (var e : entries) {
            known.add(e.getValue().offset());
            committedHere.add(e.getKey());
        }
        Path p = store.packs().path(packId);
        try {
            boolean[] unknown = {false};
            long end = store.packs().scan(packId, r -> {
                // a second copy of a chunk committed from this same pack is a duplicate append of
                // its one writer, which that writer never commits
                if (!known.contains(r.offset()) && !committedHere.contains(r.id())) {
                    unknown[0] = true;
                }
            });
            if (!unknown[0] && (end == size || Packs.zerosFrom(p, end))) {
                return false; // every record is accounted for, and no torn or damaged tail (zeros prepared for fsyncs hold none)
            }
            long mtime = Files.getLastModifiedTime(p).toMillis();
            long now = System.currentTimeMillis();
            for (Writer w : writers) {
                // start times have a resolution of a clock tick: allow a second
                if (w.startMillis() <= mtime + 1000 && (w.leased() || now - mtime < pendingGraceMillis())) {
                    return true;
                }
            }
            return false;
        } catch (NoSuchFileException e) {
            return false; // gone meanwhile: nothing to keep
        } catch (IOException e) {
            return true; // cannot tell: keep it
        }
    }

    private long packBytes() {
        long n = 0;
        for (long id : store.packs().list()) {
            try {
                n += Files.size(store.packs().path(id));
            } catch (IOException e) {
                // deleted meanwhile
            }
        }
        return n;
    }
}
