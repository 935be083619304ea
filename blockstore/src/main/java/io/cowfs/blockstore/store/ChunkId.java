package io.cowfs.blockstore.store;

import java.util.Arrays;
import java.util.HexFormat;

/** The SHA-256 of a chunk's raw (uncompressed) bytes: always exactly 32 bytes. */
public final class ChunkId implements Comparable<ChunkId> {
    public static final int LENGTH = 32;

    private final byte[] bytes;
    private final int hash;

    private ChunkId(byte[] bytes) {
        this.bytes = bytes;
        this.hash = Arrays.hashCode(bytes);
    }

    public static ChunkId of(byte[] bytes) {
        if (bytes.length != LENGTH) {
            throw new IllegalArgumentException("a chunk id is 32 bytes, got " + bytes.length);
        }
        return new ChunkId(bytes.clone());
    }

    public static ChunkId read(java.nio.ByteBuffer buf) {
        byte[] b = new byte[LENGTH];
        buf.get(b);
        return new ChunkId(b);
    }

    public static ChunkId parse(String hex) {
        return of(HexFormat.of().parseHex(hex));
    }

    public static ChunkId hash(byte[] data, int off, int len) {
        return new ChunkId(Sha256.digest(data, off, len));
    }

    /** The id of the bytes between b's position and limit (b's position is not moved). */
    public static ChunkId hash(java.nio.ByteBuffer b) {
        return new ChunkId(Sha256.digest(b));
    }

    /**
     * The ids of data[i][0, lens[i]) for i in [0, n): hashed together, in parallel lanes where
     * the machine has them ({@link Sha256#digestAll}), else one at a time.
     */
    public static ChunkId[] hashAll(byte[][] data, int[] lens, int n) {
        byte[][] d = Sha256.digestAll(data, lens, n);
        ChunkId[] out = new ChunkId[n];
        for (int i = 0; i < n; i++) {
            out[i] = new ChunkId(d[i]);
        }
        return out;
    }

    public static ChunkId hash(byte[] data) {
        return hash(data, 0, data.length);
    }

    public byte[] bytes() {
        return bytes.clone();
    }

    public void writeTo(java.nio.ByteBuffer buf) {
        buf.put(bytes);
    }

    public String hex() {
        return HexFormat.of().formatHex(bytes);
    }

    public String shortHex() {
        return hex().substring(0, 12);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ChunkId c && Arrays.equals(bytes, c.bytes);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public int compareTo(ChunkId o) {
        return Arrays.compareUnsigned(bytes, o.bytes);
    }

    @Override
    public String toString() {
        return hex();
    }
}
