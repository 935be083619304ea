package io.cowfs.blockstore.store;

import java.util.List;

/**
 * The LMDB databases of a store's index, the one list of them (docs/FORMAT.md, "LMDB
 * databases"; each table class there names the layout of its keys and values).
 */
public enum Db {
    /** {@link MetaTable}: counters, the format, lost ranges. */
    META("meta"),
    /** {@link ChunksTable}: chunk id -> location. */
    CHUNKS("chunks"),
    /** {@link CatalogTable}: names of snapshots and views. */
    CATALOG("catalog"),
    /** {@link LeasesTable}: operations that pin a generation for gc. */
    LEASES("leases"),
    /** {@link ViewTable}: a view's changed inodes. */
    VINODE("vinode"),
    /** {@link ViewTable}: a view's changed directory entries. */
    VDIRENT("vdirent"),
    /** {@link ViewTable}: a view's overridden blocks. */
    VBLOCK("vblock"),
    /** {@link RemoteChunksTable}: chunks of lazily pulled snapshots still on a remote (format 4). */
    RCHUNKS("rchunks");

    /** The databases of view deltas: keys start with viewId:u64. */
    public static final List<Db> OF_VIEWS = List.of(VINODE, VDIRENT, VBLOCK);

    private final String dbName;

    Db(String dbName) {
        this.dbName = dbName;
    }

    /** Its name in LMDB's main database. */
    public String dbName() {
        return dbName;
    }

    /**
     * True if a salvage copies its entries out of a damaged index: every database but the leases
     * (those of the damaged index's processes are not carried over).
     */
    boolean salvaged() {
        return this != LEASES;
    }

    /** The database of that name, or null. */
    public static Db named(String name) {
        for (Db d : values()) {
            if (d.dbName.equals(name)) {
                return d;
            }
        }
        return null;
    }
}
