package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Decoder;
import io.cowfs.blockstore.store.Encoder;
import io.cowfs.blockstore.store.StoreException;
import java.util.List;

/**
 * The root object of a snapshot ("S", docs/FORMAT.md): the inode table as a list of pages of
 * {@link #INODES_PER_PAGE} inode records, inode 1 being the root directory, plus summary counts.
 */
public record SnapshotRoot(long maxIno, long files, long logicalBytes, List<ChunkId> inodePages) {
    public static final int INODES_PER_PAGE = 256;
    public static final long ROOT_INO = 1;
    static final int TAG = 'S';
    static final int PAGE_TAG = 'I';

    public byte[] encode() {
        Encoder e = new Encoder(64 + inodePages.size() * 32);
        e.u8(TAG).varlong(1).varlong(maxIno).varlong(files).varlong(logicalBytes).varlong(inodePages.size());
        inodePages.forEach(e::id);
        return e.toBytes();
    }

    public static SnapshotRoot decode(byte[] b) {
        Decoder d = new Decoder(b);
        if (d.u8() != TAG) {
            throw new StoreException("not a snapshot root object");
        }
        long version = d.varlong();
        if (version != 1) {
            throw new StoreException.StoreFormatException("snapshot root of unknown version " + version);
        }
        long maxIno = d.varlong();
        long files = d.varlong();
        long bytes = d.varlong();
        int n = d.varint();
        ChunkId[] pages = new ChunkId[n];
        for (int i = 0; i < n; i++) {
            pages[i] = d.id();
        }
        return new SnapshotRoot(maxIno, files, bytes, List.of(pages));
    }

    /** Encodes inode page number pageNo; slots with a null inode are free. */
    public static byte[] encodePage(long pageNo, Inode[] slots) {
        Encoder e = new Encoder(slots.length * 80);
        e.u8(PAGE_TAG).varlong(pageNo * INODES_PER_PAGE).varlong(slots.length);
        for (Inode n : slots) {
            if (n == null) {
                e.u8(0);
            } else {
                e.u8(1);
                e.bytes(n.encode());
            }
        }
        return e.toBytes();
    }

    public static Inode[] decodePage(byte[] b) {
        Decoder d = new Decoder(b);
        if (d.u8() != PAGE_TAG) {
            throw new StoreException("not an inode page");
        }
        long first = d.varlong();
        int n = d.varint();
        Inode[] out = new Inode[n];
        for (int i = 0; i < n; i++) {
            if (d.u8() == 1) {
                out[i] = Inode.decode(first + i, d.bytes());
            }
        }
        return out;
    }
}
