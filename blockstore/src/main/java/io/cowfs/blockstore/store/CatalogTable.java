package io.cowfs.blockstore.store;

import java.nio.charset.StandardCharsets;

/**
 * The {@code catalog} database (docs/FORMAT.md, "LMDB databases", row {@code catalog}): key the
 * name (UTF-8), value kind:u8, root id (32), viewId:varint, parent, created, source. The whole
 * value is encoded by {@code catalog.CatalogEntry}; the store itself reads only the view id
 * (to keep its id counter above every id in use).
 */
public final class CatalogTable extends Table {
    CatalogTable(Handle h) {
        super(h);
    }

    public static byte[] key(String name) {
        return name.getBytes(StandardCharsets.UTF_8);
    }

    /** The viewId of a catalog value (0 for a snapshot). */
    static long viewIdOf(byte[] value) {
        Decoder d = new Decoder(value);
        d.u8();
        d.id();
        return d.varlong();
    }
}
