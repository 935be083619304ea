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
        return addSnapshot(name, root, parent, source, null);
    }

    /**
     * As {@link #addSnapshot(String, ChunkId, String, String)}, for a root made from {@code from}
     * (a frozen view): the commit first checks that {@code from} is still in the catalog as it was
     * read ({@link #requireUnchanged}).
     */
    public CatalogEntry addSnapshot(String name, ChunkId root, String parent, String source, CatalogEntry from) {
        CatalogEntry e = new CatalogEntry(name, CatalogEntry.Kind.SNAPSHOT, root, 0, parent, System.currentTimeMillis(), source);
        store.commit(txn -> {
            if (from != null) {
                requireUnchanged(txn, from);
            }
            add(txn, e);
            return null;
        });
        return e;
    }

    /**
     * Inside the write transaction that names a root read from e (a fork, a snapshot of a view):
     * fails unless e is still in the catalog exactly as read. gc marks and sweeps in one write
     * transaction of its own (docs/GC.md), so a commit that passes this check runs either before
     * a sweep, which then marks the new entry, or after one that found e and so kept every chunk
     * e names. Without it, `rm` of the source and a gc between the read and the commit left a new
     * entry naming collected chunks: a lease keeps only chunks stamped after it, not a snapshot's.
     */
    public void requireUnchanged(Txn<byte[]> txn, CatalogEntry e) {
        CatalogEntry now = find(txn, e.name());
        // field by field, not the record's equals: its first call bootstraps ObjectMethods, ~15 ms
        // of method-handle spinning in a fresh CLI JVM (the whole fork takes ~5)
        if (now == null || now.kind() != e.kind() || !now.root().equals(e.root()) || now.viewId() != e.viewId()
                || now.createdMillis() != e.createdMillis() || !now.parent().equals(e.parent()) || !now.source().equals(e.source())) {
            throw new StoreException.NotFoundException("'" + e.name() + "' was removed or replaced while it was read; nothing was created");
        }
    }

    public boolean remove(Txn<byte[]> txn, String name) {
        return store.index().catalog.delete(txn, key(name));
    }
}
