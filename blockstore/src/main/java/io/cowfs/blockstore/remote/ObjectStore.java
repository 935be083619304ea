package io.cowfs.blockstore.remote;

import java.util.List;

/**
 * The few operations cowfs needs from an object store (docs/REMOTE.md): whole-object put and
 * get, range get (a lazy reader fetches single chunks of a pack), list by prefix, delete.
 * Keys are relative to the remote's prefix ("packs/...", "snapshots/...").
 *
 * <p>Implementations retry network errors and 5xx answers with backoff themselves and are safe
 * to call from several threads at once. Every failure is a {@link RemoteException}; an object
 * that does not exist is {@link RemoteException.Missing}.
 */
public interface ObjectStore extends AutoCloseable {
    /** Writes the whole object (replacing any object of that key). */
    void put(String key, byte[] data);

    /** The whole object. */
    byte[] get(String key);

    /** Bytes [offset, offset + length) of the object (fewer only if the object ends first). */
    byte[] getRange(String key, long offset, int length);

    /** Size and modification time of the object, or null if there is none. */
    ObjectInfo head(String key);

    /** Every object whose key starts with prefix, in key order. */
    List<ObjectInfo> list(String prefix);

    /** Deletes the object; deleting a missing object is not an error. */
    void delete(String key);

    /**
     * Deletes what interrupted writes left behind that was last written before beforeMillis (the
     * store's own clock, as {@link ObjectInfo#lastModifiedMillis}): a directory's temporary files
     * of a killed push. An S3 PUT is whole or absent, so S3 leaves nothing.
     */
    default Leftovers deleteUnfinished(long beforeMillis) {
        return new Leftovers(0, 0);
    }

    /** What {@link #deleteUnfinished} removed. */
    record Leftovers(int objects, long bytes) {}

    /** Creates the bucket (or directory) if it does not exist. */
    void ensureBucket();

    /** Requests made so far (every attempt counts): for push/pull reports and benchmarks. */
    long requests();

    /** Where the objects are, for messages (never credentials). */
    String describe();

    @Override
    void close();

    /** One listed object: key relative to the prefix, size in bytes, last modification in ms since the epoch. */
    record ObjectInfo(String key, long size, long lastModifiedMillis) {}
}
