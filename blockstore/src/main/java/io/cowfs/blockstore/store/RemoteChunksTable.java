package io.cowfs.blockstore.store;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.lmdbjava.Txn;

/**
 * The {@code rchunks} database (docs/FORMAT.md, "LMDB databases", row {@code rchunks}; format 4):
 * chunks a lazily pulled snapshot refers to that this store has not fetched yet. Key the chunk id
 * (32 bytes); value the remote record: pack object name (32 bytes), offset of the record in it
 * (u64), storedLen (u32), rawLen (u32), then the remote's name (UTF-8, the rest). The entry is
 * removed in the commit that adds the fetched chunk to {@code chunks}.
 */
public final class RemoteChunksTable extends Table {
    RemoteChunksTable(Handle h) {
        super(h);
    }

    /**
     * Where a chunk is on a remote.
     *
     * @param remote    the remote's name (remotes/NAME.properties)
     * @param pack      the pack object's name (32 random bytes)
     * @param offset    offset of the record header in the pack object
     * @param storedLen bytes of payload after the header
     * @param rawLen    bytes once decoded
     */
    public record Ref(String remote, ChunkId pack, long offset, int storedLen, int rawLen) {
        byte[] encode() {
            byte[] name = remote.getBytes(StandardCharsets.UTF_8);
            byte[] b = new byte[48 + name.length];
            System.arraycopy(pack.bytes(), 0, b, 0, 32);
            BigEndian.putLong(b, 32, offset);
            BigEndian.putInt(b, 40, storedLen);
            BigEndian.putInt(b, 44, rawLen);
            System.arraycopy(name, 0, b, 48, name.length);
            return b;
        }

        static Ref decode(byte[] b) {
            if (b.length < 49) {
                throw new StoreException.IndexDamagedException("rchunks entry of " + b.length + " bytes, expected at least 49");
            }
            return new Ref(new String(b, 48, b.length - 48, StandardCharsets.UTF_8), ChunkId.of(Arrays.copyOf(b, 32)),
                    BigEndian.getLong(b, 32), BigEndian.getInt(b, 40), BigEndian.getInt(b, 44));
        }

        /** Bytes of the whole record (header and payload) in the pack object. */
        public int recordLen() {
            return PackRecord.HEADER + storedLen;
        }
    }

    /** Where the chunk is on a remote, or null if this store does not expect it from one. */
    public Ref ref(Txn<byte[]> txn, ChunkId id) {
        byte[] v = get(txn, id.bytes());
        return v == null ? null : Ref.decode(v);
    }

    public void put(Txn<byte[]> txn, ChunkId id, Ref ref) {
        put(txn, id.bytes(), ref.encode());
    }

    public boolean delete(Txn<byte[]> txn, ChunkId id) {
        return delete(txn, id.bytes());
    }

    /** The entry's id and ref, for walks over the whole table (gc, fsck). */
    public static Ref decodeValue(byte[] val) {
        return Ref.decode(val);
    }
}
