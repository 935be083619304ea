package io.cowfs.blockstore.store;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** Appends the primitive encodings of docs/FORMAT.md ("Encodings") to a growable byte array. */
public final class Encoder {
    private byte[] buf;
    private int len;

    public Encoder() {
        this(128);
    }

    public Encoder(int capacity) {
        buf = new byte[Math.max(16, capacity)];
    }

    private void ensure(int extra) {
        if (len + extra > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + extra));
        }
    }

    public Encoder u8(int v) {
        ensure(1);
        buf[len++] = (byte) v;
        return this;
    }

    /** Unsigned LEB128. */
    public Encoder varlong(long v) {
        ensure(10);
        while ((v & ~0x7FL) != 0) {
            buf[len++] = (byte) ((v & 0x7F) | 0x80);
            v >>>= 7;
        }
        buf[len++] = (byte) v;
        return this;
    }

    /** Fixed 8 bytes, big-endian (used for signed times). */
    public Encoder i64(long v) {
        ensure(8);
        for (int i = 7; i >= 0; i--) {
            buf[len++] = (byte) (v >>> (i * 8));
        }
        return this;
    }

    public Encoder bytes(byte[] b) {
        varlong(b.length);
        return raw(b, 0, b.length);
    }

    public Encoder raw(byte[] b, int off, int n) {
        ensure(n);
        System.arraycopy(b, off, buf, len, n);
        len += n;
        return this;
    }

    public Encoder id(ChunkId id) {
        byte[] b = id.bytes();
        return raw(b, 0, b.length);
    }

    public Encoder string(String s) {
        return bytes(s.getBytes(StandardCharsets.UTF_8));
    }

    public int length() {
        return len;
    }

    /** Empties the encoder, keeping its buffer (an encoder reused for one object after another). */
    public Encoder reset() {
        len = 0;
        return this;
    }

    /** The encoder's own buffer, valid in [0, {@link #length()}) until the next call (no copy, unlike {@link #toBytes}). */
    public byte[] buffer() {
        return buf;
    }

    public byte[] toBytes() {
        return Arrays.copyOf(buf, len);
    }
}
