package io.cowfs.blockstore.store;

import java.util.List;

/**
 * Where a store gets a chunk its index lacks: the remote of a lazily pulled snapshot
 * ({@code io.cowfs.blockstore.remote.LazySource}, docs/REMOTE.md). A source caches what it
 * fetches in the store (its chunks table), so each chunk is fetched once.
 *
 * <p>Thread-safety: called by every reader thread of the process at once.
 */
public interface ChunkSource {
    /**
     * The verified raw bytes of id, fetched (once) and added to the store; null if this source
     * does not know id. Fails with a StoreException (a RemoteException: EIO in a mount) if the
     * remote cannot give it.
     */
    byte[] fetch(ChunkId id);

    /** Read-ahead: starts fetching those of ids this source knows, without waiting. */
    void willNeed(List<ChunkId> ids);

    /** Stops background fetches and waits for them (the store closes next). */
    default void close() {
    }
}
