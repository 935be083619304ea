package io.cowfs.blockstore.store;

/**
 * One of the databases of view deltas, {@code vinode}, {@code vdirent} and {@code vblock}
 * (docs/FORMAT.md, "LMDB databases"): keys start with viewId:u64 followed by an inode number
 * (vinode), a directory inode and a name (vdirent), or an inode and a block index (vblock);
 * {@code view.ViewDelta} encodes the rest. One class for the three: what the store needs of them
 * is the shared key prefix.
 */
public final class ViewTable extends Table {
    ViewTable(Handle h) {
        super(h);
    }

    /** The view a key of this database belongs to. */
    public static long viewId(byte[] key) {
        return BigEndian.getLong(key, 0);
    }
}
