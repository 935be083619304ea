package io.cowfs.blockstore.store;

import java.nio.charset.StandardCharsets;

/**
 * Reads what {@link Encoder} wrote, from an array or from a buffer where it lies (a direct one:
 * an object read from its pack into native memory is decoded there, with no copy on the heap); a
 * truncated or malformed input is a {@link StoreException}.
 */
public final class Decoder {
    private final byte[] buf;
    /** The buffer read instead of buf (absolute positions; its position and limit are not used), or null. */
    private final java.nio.ByteBuffer bb;
    private int pos;
    private final int end;

    public Decoder(byte[] buf) {
        this(buf, 0, buf.length);
    }

    public Decoder(byte[] buf, int off, int len) {
        this.buf = buf;
        this.bb = null;
        this.pos = off;
        this.end = off + len;
    }

    /** Reads bytes [off, off+len) of b (b's position and limit are not used). */
    public Decoder(java.nio.ByteBuffer b, int off, int len) {
        this.buf = null;
        this.bb = b;
        this.pos = off;
        this.end = off + len;
    }

    private void need(int n) {
        if (n < 0 || n > end - pos) { // not pos + n > end: that overflows for a length near 2^31
            throw new StoreException("truncated object at byte " + pos);
        }
    }

    public int u8() {
        need(1);
        return (bb == null ? buf[pos++] : bb.get(pos++)) & 0xFF;
    }

    public long varlong() {
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            int b = u8();
            v |= (long) (b & 0x7F) << shift;
            if ((b & 0x80) == 0) {
                return v;
            }
        }
        throw new StoreException("bad varint at byte " + pos);
    }

    public int varint() {
        long v = varlong();
        if (v > Integer.MAX_VALUE) {
            throw new StoreException("varint out of range at byte " + pos);
        }
        return (int) v;
    }

    public long i64() {
        need(8);
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | u8();
        }
        return v;
    }

    public byte[] bytes() {
        int n = varint();
        need(n); // before the allocation: a bad length is a StoreException, not a 2 GiB array
        byte[] b = new byte[n];
        raw(b, 0, n);
        return b;
    }

    /** Copies n raw bytes into out at off (no length prefix: the caller knows n). */
    public void raw(byte[] out, int off, int n) {
        need(n);
        if (bb == null) {
            System.arraycopy(buf, pos, out, off, n);
        } else {
            bb.get(pos, out, off, n);
        }
        pos += n;
    }

    /** As {@link #raw(byte[], int, int)}, into out at off (out's position and limit are not used). */
    public void raw(java.nio.ByteBuffer out, int off, int n) {
        need(n);
        if (bb == null) {
            out.put(off, buf, pos, n);
        } else {
            out.put(off, bb, pos, n);
        }
        pos += n;
    }

    public ChunkId id() {
        byte[] b = new byte[ChunkId.LENGTH];
        raw(b, 0, b.length);
        return ChunkId.of(b);
    }

    public String string() {
        return new String(bytes(), StandardCharsets.UTF_8);
    }

    /** Where the next read starts (an offset into the array or buffer). */
    public int position() {
        return pos;
    }

    /** Skips n bytes. */
    public void skip(int n) {
        need(n);
        pos += n;
    }

    public boolean hasMore() {
        return pos < end;
    }
}
