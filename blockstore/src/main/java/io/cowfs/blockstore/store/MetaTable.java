package io.cowfs.blockstore.store;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.lmdbjava.Txn;

/**
 * The {@code meta} database (docs/FORMAT.md, "LMDB databases", rows {@code meta}): UTF-8 keys,
 * u64 values for the store's counters and format; {@code "lost/DB"} keys hold key ranges a
 * repaired index lost ({@link LostRanges}).
 */
public final class MetaTable extends Table {
    static final String FORMAT = "format";
    static final String GEN = "gen";
    static final String NEXT_ID = "nextId";

    MetaTable(Handle h) {
        super(h);
    }

    private static byte[] key(String name) {
        return name.getBytes(StandardCharsets.UTF_8);
    }

    /** The u64 under name, or dflt if there is none. */
    long getLong(Txn<byte[]> txn, String name, long dflt) {
        byte[] v = get(txn, key(name));
        return v == null ? dflt : BigEndian.getLong(v, 0);
    }

    void putLong(Txn<byte[]> txn, String name, long v) {
        put(txn, key(name), BigEndian.longKey(v));
    }

    boolean has(Txn<byte[]> txn, String name) {
        return get(txn, key(name)) != null;
    }

    /** Advances the commit generation and returns the new one. */
    long nextGen(Txn<byte[]> txn) {
        long g = getLong(txn, GEN, 0) + 1;
        putLong(txn, GEN, g);
        return g;
    }

    /** The generation of the last commit that added or re-stamped chunks (0 if none). */
    public long currentGen(Txn<byte[]> txn) {
        return getLong(txn, GEN, 0);
    }

    /** A fresh id from the store-wide counter (views, leases). */
    public long nextId(Txn<byte[]> txn) {
        long id = getLong(txn, NEXT_ID, 1);
        putLong(txn, NEXT_ID, id + 1);
        return id;
    }

    /** Key ranges of db an earlier repair recorded as lost. */
    List<byte[][]> lost(Txn<byte[]> txn, Db db) {
        return LostRanges.decode(get(txn, key("lost/" + db.dbName())));
    }

    void putLost(Txn<byte[]> txn, Db db, List<byte[][]> ranges) {
        put(txn, key("lost/" + db.dbName()), LostRanges.encode(ranges));
    }
}
