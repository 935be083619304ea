package io.cowfs.blockstore.store;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * The name of a chunk: always exactly 32 bytes. Either the SHA-256 of the chunk's raw
 * (uncompressed) bytes, or (format 7 on, for a view's sub-block deltas only) a <em>sequenced</em>
 * id: {@link #SEQUENCED} in byte 0, a sequence number in bytes 1-7 that grows with time, and the
 * first 24 bytes of the SHA-256 in bytes 8-31 (docs/FORMAT.md, "Chunk ids"). Both name their
 * content: {@link #names} is the one check every read makes.
 */
public final class ChunkId implements Comparable<ChunkId> {
    public static final int LENGTH = 32;
    /** Byte 0 of a sequenced id (a SHA-256 starts with it too, 1 in 256: {@link #names} takes either). */
    public static final byte SEQUENCED = (byte) 0xFF;
    /** Bytes of the SHA-256 a sequenced id keeps (192 bits). */
    static final int SEQUENCED_HASH = 24;

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

    /**
     * The sequenced id of the chunk whose SHA-256 is hash, with sequence number seq (its low 56
     * bits). Keys that grow with time go into the index's B-tree where the last ones went: a
     * commit of thousands of them dirties a few leaf pages instead of one per key (a view's
     * random 4 KiB writes store one delta per block: docs/DESIGN-DECISIONS.md, "Sequenced delta
     * ids").
     */
    public static ChunkId sequenced(ChunkId hash, long seq) {
        byte[] b = new byte[LENGTH];
        b[0] = SEQUENCED;
        for (int i = 7; i >= 1; i--) {
            b[i] = (byte) seq;
            seq >>>= 8;
        }
        System.arraycopy(hash.bytes, 0, b, 8, SEQUENCED_HASH);
        return new ChunkId(b);
    }

    /**
     * True if this id names content whose SHA-256 is digest: it is that digest, or a sequenced id
     * carrying its first 24 bytes. A damaged chunk fails both (a 192-bit match by chance is out of
     * reach), whichever form its id has.
     */
    public boolean names(byte[] digest) {
        return Arrays.equals(bytes, digest)
                || bytes[0] == SEQUENCED && Arrays.equals(bytes, 8, LENGTH, digest, 0, SEQUENCED_HASH);
    }

    /** As {@link #names(byte[])} for the id computed from the content. */
    public boolean names(ChunkId hash) {
        return names(hash.bytes);
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
