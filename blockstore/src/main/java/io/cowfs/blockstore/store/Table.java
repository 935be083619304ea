package io.cowfs.blockstore.store;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.zip.CRC32C;
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
 * <p>Thread-safety: as LMDB's own handles (a Table is immutable; transactions are per call).
 */
public final class Table {
    public static final int SEAL = 4;

    private final Dbi<byte[]> dbi;
    private final String name;
    private final boolean sealed;
    private final SafeReader reader;

    Table(Dbi<byte[]> dbi, String name, boolean sealed, SafeReader reader) {
        this.dbi = dbi;
        this.name = name;
        this.sealed = sealed;
        this.reader = reader;
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
        if (!sealed) {
            return val;
        }
        byte[] out = java.util.Arrays.copyOf(val, val.length + SEAL);
        StoreIndex.putInt(out, val.length, (int) crc(key, val, val.length));
        return out;
    }

    private byte[] unseal(byte[] key, byte[] raw) {
        if (!sealed) {
            return raw;
        }
        if (!sealOk(key, raw)) {
            throw new StoreException.IndexDamagedException("an entry of the index's '" + name + "' database fails its checksum"
                    + " (the index is damaged; cowfs fsck --repair rebuilds it)");
        }
        return java.util.Arrays.copyOf(raw, raw.length - SEAL);
    }

    /** True if raw ends in the seal of key and the bytes before it. */
    static boolean sealOk(byte[] key, byte[] raw) {
        if (raw.length < SEAL) {
            return false;
        }
        int n = raw.length - SEAL;
        return StoreIndex.getInt(raw, n) == (int) crc(key, raw, n);
    }

    private static long crc(byte[] key, byte[] val, int len) {
        CRC32C c = new CRC32C();
        c.update(key);
        c.update(val, 0, len);
        return c.getValue();
    }
}
