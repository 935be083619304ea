package io.cowfs.blockstore.store;

/**
 * Big-endian integers in index keys and values: LMDB orders keys as unsigned bytes, so a
 * big-endian key sorts in numeric order (docs/FORMAT.md, "LMDB databases").
 */
public final class BigEndian {
    private BigEndian() {
    }

    /** The parts, 8 bytes each, one after the other. */
    public static byte[] longKey(long... parts) {
        byte[] k = new byte[parts.length * 8];
        for (int p = 0; p < parts.length; p++) {
            putLong(k, p * 8, parts[p]);
        }
        return k;
    }

    public static void putLong(byte[] b, int off, long v) {
        for (int i = 0; i < 8; i++) {
            b[off + i] = (byte) (v >>> (56 - 8 * i));
        }
    }

    public static long getLong(byte[] b, int off) {
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | (b[off + i] & 0xFF);
        }
        return v;
    }

    public static void putInt(byte[] b, int off, int v) {
        for (int i = 0; i < 4; i++) {
            b[off + i] = (byte) (v >>> (24 - 8 * i));
        }
    }

    public static int getInt(byte[] b, int off) {
        int v = 0;
        for (int i = 0; i < 4; i++) {
            v = (v << 8) | (b[off + i] & 0xFF);
        }
        return v;
    }
}
