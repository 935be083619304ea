package io.cowfs.blockstore.store;

import org.lmdbjava.PutFlags;
import org.lmdbjava.Txn;

/**
 * The {@code chunks} database (docs/FORMAT.md, "LMDB databases", row {@code chunks}): key the
 * chunk id (32 bytes), value its {@link ChunkLocation}.
 */
public final class ChunksTable extends Table {
    ChunksTable(Handle h) {
        super(h);
    }

    /** Where the chunk is, or null if the index does not name it. */
    public ChunkLocation location(Txn<byte[]> txn, ChunkId id) {
        byte[] v = get(txn, id.bytes());
        return v == null ? null : ChunkLocation.decode(v);
    }

    public void put(Txn<byte[]> txn, ChunkId id, ChunkLocation loc) {
        put(txn, id.bytes(), loc.encode());
    }

    /** Adds the entry unless the id is present; false if it was. */
    public boolean add(Txn<byte[]> txn, ChunkId id, ChunkLocation loc) {
        return put(txn, id.bytes(), loc.encode(), PutFlags.MDB_NOOVERWRITE);
    }
}
