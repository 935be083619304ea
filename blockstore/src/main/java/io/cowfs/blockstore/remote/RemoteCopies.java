package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.gc.Fsck;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.PackRecord;
import java.util.Map;
import java.util.Set;

/**
 * A remote as a place fsck finds intact copies of damaged or lost chunks ({@code cowfs fsck
 * --repair --from NAME}): which chunks its packs hold comes from their index objects (cached by
 * the store, fetched once otherwise), and a copy is one range request of its record.
 *
 * <p>Thread-safety: one thread (fsck's); the chunk map is made on first use.
 */
public final class RemoteCopies implements Fsck.Copies {
    private final Remote remote;
    private final int threads;
    private Map<ChunkId, Remote.Located> where;

    public RemoteCopies(Remote remote, int threads) {
        this.remote = remote;
        this.threads = threads;
    }

    private Map<ChunkId, Remote.Located> where() {
        if (where == null) {
            remote.requireMarker();
            where = remote.chunkIndex(Set.of(), threads);
        }
        return where;
    }

    @Override
    public String describe() {
        return "remote " + remote.config().name();
    }

    @Override
    public boolean has(ChunkId id) {
        return where().containsKey(id);
    }

    @Override
    public byte[] record(ChunkId id) {
        Remote.Located l = where().get(id);
        byte[] rec = remote.objects().getRange(RemoteLayout.packKey(l.pack()), l.entry().offset(), PackRecord.HEADER + l.entry().storedLen());
        if (rec.length != PackRecord.HEADER + l.entry().storedLen()) {
            throw new RemoteException("its pack object " + RemoteLayout.packKey(l.pack()) + " is shorter than its index says");
        }
        return rec;
    }
}
