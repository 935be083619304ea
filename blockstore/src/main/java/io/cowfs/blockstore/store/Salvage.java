package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;
import org.lmdbjava.Txn;

/**
 * What was read from a damaged index: the walk that collected every entry on a readable page,
 * and the private environment (a temporary directory) those entries are copied into, which the
 * process then reads instead of the damaged index (docs/INDEX-DAMAGE.md).
 */
public record Salvage(Path dir, LmdbPages.Walk walk) {
    /**
     * Key ranges {lo, hi} of db whose entries could not be read (lo inclusive, hi exclusive,
     * null = unbounded); the whole range if the database's own record was unreadable.
     */
    public List<byte[][]> lost(String db) {
        if (!walk.counts.containsKey(db)) {
            return List.<byte[][]>of(new byte[][] {null, null});
        }
        return walk.lost.getOrDefault(db, List.of());
    }

    /** Walks the damaged index data.mdb, collecting, and makes an empty directory for the copy. */
    static Salvage read(Path data, boolean sealed, String damage) {
        LmdbPages.Walk walk;
        try (LmdbPages pages = LmdbPages.open(data)) {
            LmdbPages.Meta m = pages.newest();
            walk = m == null ? new LmdbPages.Walk() : pages.walk(m, true, sealed);
            if (m == null) {
                walk.damage.add("neither meta page is usable: nothing can be read from it");
            }
        } catch (IOException ex) {
            walk = new LmdbPages.Walk();
            walk.damage.add("cannot read it: " + ex.getMessage());
        }
        try {
            Path tmp = Files.createTempDirectory("cowfs-salvage-");
            return new Salvage(tmp, walk);
        } catch (IOException ex) {
            throw new StoreException(damage + "; cannot make a salvage copy: " + ex.getMessage(), ex);
        }
    }

    /** Copies what the walk collected into the tables of the private environment (not the leases). */
    void fill(Txn<byte[]> txn, Function<Db, Table> tables) {
        walk.entries.forEach((name, kvs) -> {
            Db db = Db.named(name);
            if (db != null && db.salvaged()) {
                Table t = tables.apply(db);
                for (byte[][] kv : kvs) {
                    t.putRaw(txn, kv[0], kv[1]);
                }
            }
        });
    }

    /** Deletes the private copy (a leftover in the temporary directory is harmless). */
    void delete() {
        try (var files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.deleteIfExists(f);
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // a temporary copy left in the temp directory: harmless
        }
    }
}
