package io.cowfs.blockstore.catalog;

import io.cowfs.blockstore.store.CatalogTable;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.store.StoreException.CatalogException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.lmdbjava.PutFlags;
import org.lmdbjava.Txn;

/** Names of snapshots and views, in the {@code catalog} database ({@link CatalogTable}; values: {@link CatalogEntry}). */
public final class Catalog {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._@+-]{0,127}");

    private final Store store;

    public Catalog(Store store) {
        this.store = store;
    }

    public static void checkName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            // control characters escaped: the error stays one line
            String shown = name == null ? null : name.codePoints().mapToObj(c -> c < 0x20 || c == 0x7f
                    ? String.format("\\x%02x", c) : new String(Character.toChars(c))).collect(java.util.stream.Collectors.joining());
            throw new StoreException.InvalidRequestException("invalid name '" + shown + "': use 1-128 of letters, digits and ._@+- (not starting with . or -)");
        }
    }

    private static byte[] key(String name) {
        return CatalogTable.key(name);
    }

    public CatalogEntry find(String name) {
        return store.index().read(txn -> find(txn, name));
    }

    public CatalogEntry find(Txn<byte[]> txn, String name) {
        byte[] v = store.index().catalog.get(txn, key(name));
        return v == null ? null : CatalogEntry.decode(name, v);
    }

    /** The entry, or a CatalogException that says what to do. */
    public CatalogEntry get(String name) {
        CatalogEntry e = find(name);
        if (e == null) {
            throw new StoreException.NotFoundException("no snapshot or view named '" + name + "' (see: cowfs list)");
        }
        return e;
    }

    public List<CatalogEntry> list() {
        return store.index().read(this::list);
    }

    public List<CatalogEntry> list(Txn<byte[]> txn) {
        List<CatalogEntry> out = new ArrayList<>();
        for (var kv : store.index().catalog.iterate(txn)) {
            out.add(CatalogEntry.decode(new String(kv.key(), StandardCharsets.UTF_8), kv.val()));
        }
        return out;
    }

    /** Adds an entry inside a write transaction; fails if the name is taken. */
    public void add(Txn<byte[]> txn, CatalogEntry e) {
        checkName(e.name());
        if (!store.index().catalog.put(txn, key(e.name()), e.encode(), PutFlags.MDB_NOOVERWRITE)) {
            throw new CatalogException("the name '" + e.name() + "' is taken (see: cowfs list; cowfs rm " + e.name() + ")");
        }
    }

    public void checkFree(String name) {
        checkName(name);
        if (find(name) != null) {
            throw new CatalogException("the name '" + name + "' is taken (see: cowfs list; cowfs rm " + name + ")");
        }
    }

    public CatalogEntry addSnapshot(String name, ChunkId root, String parent, String source) {
        CatalogEntry e = new CatalogEntry(name, CatalogEntry.Kind.SNAPSHOT, root, 0, parent, System.currentTimeMillis(), source);
        store.commit(txn -> {
            add(txn, e);
            return null;
        });
        return e;
    }

    public boolean remove(Txn<byte[]> txn, String name) {
        return store.index().catalog.delete(txn, key(name));
    }
}
