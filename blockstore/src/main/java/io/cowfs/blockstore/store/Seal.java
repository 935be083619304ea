package io.cowfs.blockstore.store;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The seal of an index value (format 2; docs/FORMAT.md, "Sealed values"): the value's payload
 * followed by the CRC-32C, big-endian, of the entry's key and that payload. The one check of a
 * seal, used by reads ({@link Table}) and by the page walk ({@link LmdbPages}) alike.
 */
final class Seal {
    static final int SIZE = 4;

    private Seal() {
    }

    /** payload followed by its seal. */
    static byte[] seal(byte[] key, byte[] payload) {
        byte[] out = java.util.Arrays.copyOf(payload, payload.length + SIZE);
        CRC32C c = new CRC32C();
        c.update(key);
        c.update(payload);
        BigEndian.putInt(out, payload.length, (int) c.getValue());
        return out;
    }

    /** True if raw (a stored value) ends in the seal of key and the bytes before it. */
    static boolean ok(byte[] key, byte[] raw) {
        return ok(ByteBuffer.wrap(key), 0, key.length, ByteBuffer.wrap(raw), 0, raw.length, new CRC32C());
    }

    /**
     * As {@link #ok(byte[], byte[])} in place: the key at [koff, koff + klen) of k and the stored
     * value at [voff, voff + vlen) of v (no copies: the open-time walk checks every entry so).
     */
    static boolean ok(ByteBuffer k, int koff, int klen, ByteBuffer v, int voff, int vlen, CRC32C crc) {
        if (vlen < SIZE) {
            return false;
        }
        crc.reset();
        ByteBuffer d = k.duplicate();
        d.limit(koff + klen).position(koff);
        crc.update(d);
        d = v.duplicate();
        d.limit(voff + vlen - SIZE).position(voff);
        crc.update(d);
        int at = voff + vlen - SIZE;
        int stored = ((v.get(at) & 0xFF) << 24) | ((v.get(at + 1) & 0xFF) << 16) | ((v.get(at + 2) & 0xFF) << 8) | (v.get(at + 3) & 0xFF);
        return stored == (int) crc.getValue();
    }

    /**
     * As {@link #ok(ByteBuffer, int, int, ByteBuffer, int, int, CRC32C)} for a leaf node of one
     * page, whose value follows its key: the node's bytes copied once into scratch (reused) and
     * summed in one call. The open-time walk checks every entry of the index this way; with two
     * buffer duplicates and two CRC calls per entry (~50 bytes each) it spent more time on the
     * calls than on the bytes in the CLI's short-lived JVM.
     */
    static boolean okAdjacent(ByteBuffer page, int koff, int klen, int vlen, CRC32C crc, byte[] scratch) {
        if (vlen < SIZE) {
            return false;
        }
        int n = klen + vlen - SIZE;
        if (n + SIZE > scratch.length) {
            return ok(page, koff, klen, page, koff + klen, vlen, crc);
        }
        page.get(koff, scratch, 0, n + SIZE);
        crc.reset();
        crc.update(scratch, 0, n);
        return BigEndian.getInt(scratch, n) == (int) crc.getValue();
    }

    /** The payload of a stored value (the seal cut off). */
    static byte[] payload(byte[] raw) {
        return java.util.Arrays.copyOf(raw, raw.length - SIZE);
    }
}
