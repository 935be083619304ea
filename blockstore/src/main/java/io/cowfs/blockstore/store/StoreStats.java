package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Whole-store counts from the index and the pack directory. */
public record StoreStats(long chunks, long rawBytes, long storedBytes, long packFiles, long packBytes, long indexBytes) {
    public static StoreStats of(Store store) {
        long[] c = store.index().read(txn -> {
            long n = 0;
            long raw = 0;
            long stored = 0;
            for (var kv : store.index().chunks.iterate(txn)) {
                ChunkLocation l = ChunkLocation.decode(kv.val());
                n++;
                raw += l.rawLen();
                stored += l.storedLen() + PackRecord.HEADER;
            }
            return new long[] {n, raw, stored};
        });
        long files = 0;
        long bytes = 0;
        try (var s = Files.list(store.packs().dir())) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (p.getFileName().toString().endsWith(".pack")) {
                    files++;
                    bytes += Files.size(p);
                }
            }
        } catch (IOException e) {
            throw new StoreException("cannot list packs: " + e.getMessage(), e);
        }
        long index;
        try {
            index = Files.size(store.index().dataFile().toPath());
        } catch (IOException e) {
            index = 0;
        }
        return new StoreStats(c[0], c[1], c[2], files, bytes, index);
    }
}
