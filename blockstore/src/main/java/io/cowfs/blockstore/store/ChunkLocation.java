package io.cowfs.blockstore.store;

/**
 * Where a chunk lives: the value of the {@code chunks} database (docs/FORMAT.md).
 *
 * @param pack      pack file id
 * @param offset    offset of the record header in the pack
 * @param storedLen bytes of (compressed) payload after the header
 * @param rawLen    bytes once decoded
 * @param gen       store generation of the commit that last wrote or touched the entry (gc uses it with leases)
 */
public record ChunkLocation(long pack, long offset, int storedLen, int rawLen, long gen) {
    static final int ENCODED = 32;

    public byte[] encode() {
        byte[] b = new byte[ENCODED];
        BigEndian.putLong(b, 0, pack);
        BigEndian.putLong(b, 8, offset);
        BigEndian.putInt(b, 16, storedLen);
        BigEndian.putInt(b, 20, rawLen);
        BigEndian.putLong(b, 24, gen);
        return b;
    }

    public static ChunkLocation decode(byte[] b) {
        if (b.length != ENCODED) {
            throw new StoreException("index entry of " + b.length + " bytes, expected " + ENCODED);
        }
        return new ChunkLocation(BigEndian.getLong(b, 0), BigEndian.getLong(b, 8),
                BigEndian.getInt(b, 16), BigEndian.getInt(b, 20), BigEndian.getLong(b, 24));
    }

    public ChunkLocation withGen(long g) {
        return new ChunkLocation(pack, offset, storedLen, rawLen, g);
    }
}
