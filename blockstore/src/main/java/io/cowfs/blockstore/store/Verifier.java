package io.cowfs.blockstore.store;

import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/** Re-reads and re-hashes every chunk in the index; reports each one that is bad. */
public final class Verifier {
    /** One bad chunk and why. */
    public record Problem(ChunkId id, String pack, long offset, String message) {
    }

    public record Report(long chunks, long bytes, List<Problem> problems) {
    }

    private Verifier() {
    }

    public static long count(Store store) {
        return store.index().read(txn -> store.index().chunks.stat(txn).entries);
    }

    public static Report run(Store store, LongConsumer progress) {
        List<ChunkId> ids = new ArrayList<>();
        List<ChunkLocation> locs = new ArrayList<>();
        store.index().read(txn -> {
            for (var kv : store.index().chunks.iterate(txn)) {
                ids.add(ChunkId.of(kv.key()));
                locs.add(ChunkLocation.decode(kv.val()));
            }
            return null;
        });
        List<Problem> problems = new ArrayList<>();
        long bytes = 0;
        for (int i = 0; i < ids.size(); i++) {
            ChunkId id = ids.get(i);
            ChunkLocation loc = locs.get(i);
            try {
                bytes += store.packs().read(id, loc).length;
            } catch (NoSuchFileException e) {
                problems.add(new Problem(id, Packs.fileName(loc.pack()), loc.offset(), "pack file is missing"));
            } catch (StoreException e) {
                problems.add(new Problem(id, Packs.fileName(loc.pack()), loc.offset(), e.getMessage()));
            }
            progress.accept(1);
        }
        return new Report(ids.size(), bytes, problems);
    }
}
