package io.cowfs.blockstore.store;

import java.util.Iterator;
import java.util.NoSuchElementException;
import org.lmdbjava.CursorIterable;
import org.lmdbjava.Dbi;
import org.lmdbjava.KeyRange;
import org.lmdbjava.PutFlags;
import org.lmdbjava.Stat;
import org.lmdbjava.Txn;

/**
 * One LMDB database of the index, with sealed values: in a store of format 2 or later every
 * value ends in a CRC-32C of its key and payload (docs/FORMAT.md, "LMDB"). LMDB checks nothing
 * it reads back; a flipped bit in a key or value (a view's block map, a catalog entry) would
 * otherwise show other bytes without a word. {@link LmdbPages} checks the seals of every entry
 * when the index opens; reads check them again and fail with IndexDamagedException.
 *
 * <p>This class is the raw access every database shares (keys and payloads as bytes); one
 * subclass per database ({@link Db}) knows its key and value layout.
 *
 * <p>Thread-safety: as LMDB's own handles (a Table is immutable; transactions are per call).
 */
public class Table {
    private final Dbi<byte[]> dbi;
    private final Db db;
    private final String name;
    private final boolean sealed;
    private final SafeReader reader;

    Table(Handle h) {
        this.dbi = h.dbi();
        this.db = h.db();
        this.name = h.db().dbName();
        this.sealed = h.sealed();
        this.reader = h.reader();
    }

    /** What StoreIndex opens for each database. */
    record Handle(Dbi<byte[]> dbi, Db db, boolean sealed, SafeReader reader) {
    }

    public Db db() {
        return db;
    }

    /** One entry: its key and its payload (the seal removed). */
    public record Entry(byte[] key, byte[] val) {
    }

    public String name() {
        return name;
    }

    /** The payload stored under key, or null. */
    public byte[] get(Txn<byte[]> txn, byte[] key) {
        if (txn.isReadOnly()) {
            // in Java, page by page checked: a page damaged since the index was opened fails this
            // lookup instead of crashing the process in liblmdb
            byte[] raw = reader.get(txn.getId(), name, key);
            if (raw != SafeReader.FALLBACK) {
                return raw == null ? null : unseal(key, raw);
            }
        } else {
            checkPath(txn, key);
        }
        byte[] v = dbi.get(txn, key);
        return v == null ? null : unseal(key, v);
    }

    public void put(Txn<byte[]> txn, byte[] key, byte[] val) {
        checkPath(txn, key);
        dbi.put(txn, key, seal(key, val));
    }

    /** As LMDB's put with flags: false if MDB_NOOVERWRITE found the key present. */
    public boolean put(Txn<byte[]> txn, byte[] key, byte[] val, PutFlags... flags) {
        checkPath(txn, key);
        return dbi.put(txn, key, seal(key, val), flags);
    }

    public boolean delete(Txn<byte[]> txn, byte[] key) {
        checkPath(txn, key);
        return dbi.delete(txn, key);
    }

    /**
     * Before liblmdb descends to key in a write transaction, the same descent through the last
     * committed pages (the transaction's base, which no other writer can replace meanwhile) is
     * checked in Java: a page damaged since the index was opened aborts this write with
     * IndexDamagedException instead of crashing the process.
     */
    private void checkPath(Txn<byte[]> txn, byte[] key) {
        if (!txn.isReadOnly()) {
            reader.checkWritePath(txn, txn.getId() - 1, name, key);
        }
    }

    public Stat stat(Txn<byte[]> txn) {
        return dbi.stat(txn);
    }

    /** Every entry in key order. */
    public Iterable<Entry> iterate(Txn<byte[]> txn) {
        return iterate(txn, KeyRange.all());
    }

    /** The entries in range, in key order; the cursor is closed when the loop ends. */
    public Iterable<Entry> iterate(Txn<byte[]> txn, KeyRange<byte[]> range) {
        if (range.getType() != org.lmdbjava.KeyRangeType.FORWARD_ALL) {
            // a bounded scan (a view's entries: loading it, truncating a file) can run in a
            // long-lived mount: its pages are checked in Java first, as of the snapshot it reads
            reader.checkRange(txn, txn.isReadOnly() ? txn.getId() : txn.getId() - 1, name, range.getStart(), range.getStop());
        }
        return () -> new Iterator<>() {
            private final CursorIterable<byte[]> it = dbi.iterate(txn, range);
            private final Iterator<CursorIterable.KeyVal<byte[]>> in = it.iterator();
            private boolean open = true;

            @Override
            public boolean hasNext() {
                if (!open) {
                    return false;
                }
                if (in.hasNext()) {
                    return true;
                }
                open = false;
                it.close();
                return false;
            }

            @Override
            public Entry next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                CursorIterable.KeyVal<byte[]> kv = in.next();
                return new Entry(kv.key(), unseal(kv.key(), kv.val()));
            }
        };
    }

    /** Stores raw (already sealed) bytes: how a salvage copies what it read. */
    void putRaw(Txn<byte[]> txn, byte[] key, byte[] raw) {
        dbi.put(txn, key, raw);
    }

    private byte[] seal(byte[] key, byte[] val) {
        return sealed ? Seal.seal(key, val) : val;
    }

    private byte[] unseal(byte[] key, byte[] raw) {
        if (!sealed) {
            return raw;
        }
        if (!Seal.ok(key, raw)) {
            throw new StoreException.IndexDamagedException("an entry of the index's '" + name + "' database fails its checksum"
                    + " (the index is damaged; cowfs fsck --repair rebuilds it)");
        }
        return Seal.payload(raw);
    }
}
