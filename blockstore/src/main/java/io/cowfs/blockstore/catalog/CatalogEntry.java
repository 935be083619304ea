package io.cowfs.blockstore.catalog;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Decoder;
import io.cowfs.blockstore.store.Encoder;

/**
 * A name in the catalog (value layout in docs/FORMAT.md, "catalog").
 *
 * @param root    a snapshot's root object; for a view, the root of the snapshot it is based on
 * @param viewId  the key prefix of the view's delta (0 for snapshots)
 * @param parent  the name it was created from ("" for an import)
 * @param source  for an import, the source directory; else ""
 */
public record CatalogEntry(String name, Kind kind, ChunkId root, long viewId, String parent, long createdMillis, String source) {
    /** Snapshots are immutable; views are writable deltas over a snapshot. */
    public enum Kind { SNAPSHOT, VIEW }

    byte[] encode() {
        return new Encoder().u8(kind == Kind.SNAPSHOT ? 1 : 2).id(root).varlong(viewId).string(parent)
                .i64(createdMillis).string(source).toBytes();
    }

    static CatalogEntry decode(String name, byte[] b) {
        Decoder d = new Decoder(b);
        Kind k = d.u8() == 1 ? Kind.SNAPSHOT : Kind.VIEW;
        return new CatalogEntry(name, k, d.id(), d.varlong(), d.string(), d.i64(), d.hasMore() ? d.string() : "");
    }

    public boolean isView() {
        return kind == Kind.VIEW;
    }
}
