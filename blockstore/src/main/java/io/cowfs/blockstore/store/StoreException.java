package io.cowfs.blockstore.store;

/**
 * Base of every error the store reports. The nested types are the ones a caller can act on;
 * their messages carry the facts (which file, which hash, which offset).
 */
public class StoreException extends RuntimeException {
    public StoreException(String message) {
        super(message);
    }

    public StoreException(String message, Throwable cause) {
        super(message, cause);
    }

    /** The directory is not a store, is missing, or has a format this build cannot read. */
    public static final class StoreFormatException extends StoreException {
        public StoreFormatException(String message) {
            super(message);
        }
    }

    /** A chunk read from a pack does not match its hash, or cannot be decoded. */
    public static final class ChunkCorruptException extends StoreException {
        private final ChunkId id;

        public ChunkCorruptException(ChunkId id, String message) {
            super("chunk " + id.shortHex() + ": " + message);
            this.id = id;
        }

        public ChunkId id() {
            return id;
        }
    }

    /** A chunk the index does not know (or whose pack is gone). */
    public static final class ChunkMissingException extends StoreException {
        public ChunkMissingException(ChunkId id, String where) {
            super("chunk " + id.shortHex() + " is missing" + (where.isEmpty() ? "" : " (" + where + ")"));
        }
    }

    /** The index on disk is damaged: this process reads what could be salvaged and writes nothing (exit 5). */
    public static final class IndexDamagedException extends StoreException {
        public IndexDamagedException(String message) {
            super(message);
            StoreIndex.damageSeen(); // a process that saw damage records no index as clean (StoreIndex's chain)
        }
    }

    /**
     * The store is on a read-only filesystem (read-only media, a read-only bind mount): this
     * process reads it and writes nothing (exit 1). docs/READ-ONLY-STORES.md.
     */
    public static final class ReadOnlyStoreException extends StoreException {
        public ReadOnlyStoreException(String message) {
            super(message);
        }
    }

    /** The host filesystem holding the store is full. */
    public static final class StoreFullException extends StoreException {
        public StoreFullException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Chunks a commit was about to name were collected by a concurrent gc after the dedup check
     * that found them (the transaction is aborted; storing them again and committing again works).
     */
    public static final class ChunksCollectedException extends StoreException {
        public ChunksCollectedException(java.util.List<ChunkId> ids) {
            super(ids.size() + " chunk(s), first " + ids.get(0).shortHex() + ", were collected by a concurrent gc during this operation; run it again");
        }
    }

    /** Something named does not exist: a snapshot or view, a store, a source directory (exit 3). */
    public static final class NotFoundException extends StoreException {
        public NotFoundException(String message) {
            super(message);
        }
    }

    /** A request that cannot be right whatever the store holds: a bad name, a wrong kind (exit 2). */
    public static final class InvalidRequestException extends StoreException {
        public InvalidRequestException(String message) {
            super(message);
        }
    }

    /** A name in the catalog is taken (exit 1). */
    public static final class CatalogException extends StoreException {
        public CatalogException(String message) {
            super(message);
        }
    }

    /** Something else holds a resource this operation needs exclusively (a mounted view, a running gc). */
    public static final class BusyException extends StoreException {
        public BusyException(String message) {
            super(message);
        }
    }

    /**
     * The exception for an I/O error while doing what: StoreFullException if the disk is full
     * (with what to do), otherwise a StoreException with the error's message.
     */
    public static StoreException io(String what, java.io.IOException e) {
        if (isNoSpace(e)) {
            return new StoreFullException(what + ": no space left on the store's filesystem (free space, or rm + gc)", e);
        }
        return new StoreException(what + ": " + e.getMessage(), e);
    }

    static boolean isNoSpace(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            String m = c.getMessage();
            if (m != null && (m.contains("No space left") || m.contains("ENOSPC") || m.contains("Disk quota"))) {
                return true;
            }
        }
        return false;
    }
}
