package io.cowfs.blockstore.store;

import java.nio.charset.StandardCharsets;

/** Reads what {@link Encoder} wrote; a truncated or malformed input is a {@link StoreException}. */
public final class Decoder {
    private final byte[] buf;
    private int pos;
    private final int end;

    public Decoder(byte[] buf) {
        this(buf, 0, buf.length);
    }

    public Decoder(byte[] buf, int off, int len) {
        this.buf = buf;
        this.pos = off;
        this.end = off + len;
    }

    private void need(int n) {
        if (n < 0 || pos + n > end) {
            throw new StoreException("truncated object at byte " + pos);
        }
    }

    public int u8() {
        need(1);
        return buf[pos++] & 0xFF;
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
            v = (v << 8) | (buf[pos++] & 0xFF);
        }
        return v;
    }

    public byte[] bytes() {
        int n = varint();
        need(n);
        byte[] b = new byte[n];
        System.arraycopy(buf, pos, b, 0, n);
        pos += n;
        return b;
    }

    /** Copies n raw bytes into out at off (no length prefix: the caller knows n). */
    public void raw(byte[] out, int off, int n) {
        need(n);
        System.arraycopy(buf, pos, out, off, n);
        pos += n;
    }

    public ChunkId id() {
        need(ChunkId.LENGTH);
        byte[] b = new byte[ChunkId.LENGTH];
        System.arraycopy(buf, pos, b, 0, b.length);
        pos += b.length;
        return ChunkId.of(b);
    }

    public String string() {
        return new String(bytes(), StandardCharsets.UTF_8);
    }

    public boolean hasMore() {
        return pos < end;
    }
}
