package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.Comparator;
import org.lmdbjava.Txn;

/**
 * What a store does with a damaged index: fills the salvaged copy from the pack headers
 * ({@link #recoverLocations}) and, asked to repair, makes the salvaged copy the index
 * ({@link #rebuild}). See docs/INDEX-DAMAGE.md.
 */
final class IndexRepair {
    private final Path storeDir;
    private final StoreIndex index;
    private final Packs packs;

    IndexRepair(Path storeDir, StoreIndex index, Packs packs) {
        this.storeDir = storeDir;
        this.index = index;
        this.packs = packs;
    }

    /**
     * A salvaged index lacks whatever lay on its damaged pages. Chunk locations are not lost with
     * them: every pack record repeats its chunk's id, so the salvage adds each record the index
     * no longer names (the first copy found that reads intact). Returns how many.
     */
    long recoverLocations() {
        long[] added = {0};
        index.salvageWrite(txn -> {
            for (long p : packs.list()) {
                try {
                    packs.scan(p, r -> {
                        ChunkLocation loc = new ChunkLocation(p, r.offset(), r.storedLen(), r.rawLen(), 0);
                        if (index.chunks.location(txn, r.id()) == null && intact(r.id(), loc)) {
                            index.chunks.put(txn, r.id(), loc);
                            added[0]++;
                        }
                    });
                } catch (IOException e) {
                    // an unreadable pack: its chunks stay missing, reads of them give EIO
                }
            }
            return null;
        });
        return added[0];
    }

    /**
     * True if the record reads back as its chunk (decoded, hash checked): a copy torn by a crash
     * can have a whole header (docs/FORMAT.md), and a later copy may then be the intact one.
     */
    private boolean intact(ChunkId id, ChunkLocation loc) {
        try {
            packs.read(id, loc);
            return true;
        } catch (StoreException | IOException e) {
            return false;
        }
    }

    /**
     * Replaces the damaged index by the salvaged copy (the caller holds the store exclusively).
     * The damaged index is kept beside it as index.damaged-TIME; returns that directory.
     */
    Path rebuild(int format) {
        index.salvageWrite(txn -> {
            index.recordLost(txn);
            mendCounters(txn, format);
            return null;
        });
        try {
            Path rebuilt = storeDir.resolve("index.rebuilt");
            deleteTree(rebuilt);
            index.access().createDirectories(rebuilt);
            index.copyTo(rebuilt);
            Path kept = storeDir.resolve("index.damaged-" + LocalDateTime.now().withNano(0).toString().replace(':', '-'));
            Files.move(storeDir.resolve("index"), kept);
            Files.move(rebuilt, storeDir.resolve("index"));
            return kept;
        } catch (IOException e) {
            throw StoreException.io("cannot rebuild the index of " + storeDir, e);
        }
    }

    /**
     * The counters in meta may have been lost with a damaged page: nextId must stay above every
     * id in use (a reused view id would mix two views' changes), gen at or above every stamp.
     */
    private void mendCounters(Txn<byte[]> txn, int format) {
        long maxId = 0;
        for (var kv : index.catalog.iterate(txn)) {
            maxId = Math.max(maxId, CatalogTable.viewIdOf(kv.val()));
        }
        for (Db db : Db.OF_VIEWS) {
            for (var kv : index.table(db).iterate(txn)) {
                maxId = Math.max(maxId, ViewTable.viewId(kv.key()));
            }
        }
        for (var kv : index.leases.iterate(txn)) {
            maxId = Math.max(maxId, LeasesTable.leaseId(kv.key()));
        }
        if (index.meta.getLong(txn, MetaTable.NEXT_ID, 0) <= maxId) {
            index.meta.putLong(txn, MetaTable.NEXT_ID, maxId + 1);
        }
        long maxGen = 0;
        for (var kv : index.chunks.iterate(txn)) {
            maxGen = Math.max(maxGen, ChunkLocation.decode(kv.val()).gen());
        }
        if (index.meta.currentGen(txn) < maxGen) {
            index.meta.putLong(txn, MetaTable.GEN, maxGen);
        }
        if (!index.meta.has(txn, MetaTable.FORMAT)) {
            index.meta.putLong(txn, MetaTable.FORMAT, format);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (var s = Files.walk(p)) {
            for (Path f : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(f);
            }
        }
    }
}
