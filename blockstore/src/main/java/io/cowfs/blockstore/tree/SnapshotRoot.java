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
        Page p = scanPage(b);
        Inode[] out = new Inode[p.slots()];
        for (int i = 0; i < out.length; i++) {
            out[i] = p.inode(i);
        }
        return out;
    }

    /**
     * An inode page's bytes and where each record lies in them; an inode is decoded when asked
     * for. A mount's cache of these holds two arrays per page instead of ~2,000 objects (256
     * decoded inodes with their maps, lists, ids and record copies): a walk of a million files
     * went through 4,000 such pages, and the collector, promoting and compacting them, took more
     * than half of the mount's CPU (2026-12-06). Immutable; each {@link #inode} is a new object.
     */
    public static final class Page {
        private final long first;
        private final byte[] bytes;
        /** Per slot i, at[2i] the offset of its record and at[2i + 1] its length; offset -1 for a free slot. */
        private final int[] at;

        private Page(long first, byte[] bytes, int[] at) {
            this.first = first;
            this.bytes = bytes;
            this.at = at;
        }

        public int slots() {
            return at.length / 2;
        }

        /** {@link Inode#reportedIno()} of the inode in slot i, or 0 for a free slot (the rest is not decoded). */
        public long reportedIno(int i) {
            int off = at[2 * i];
            return off < 0 ? 0 : Inode.reportedIno(first + i, new Decoder(bytes, off, at[2 * i + 1]));
        }

        /** Whether slot i holds a directory (its record's first byte; nothing decoded). */
        public boolean isDirectory(int i) {
            int off = at[2 * i];
            return off >= 0 && at[2 * i + 1] > 0 && (bytes[off] & 0xFF) == FileType.DIRECTORY.code;
        }

        /** The inode in slot i (0 <= i < slots()), decoded now, or null for a free slot. */
        public Inode inode(int i) {
            int off = at[2 * i];
            return off < 0 ? null : Inode.decode(first + i, new Decoder(bytes, off, at[2 * i + 1]));
        }
    }

    /** Checks a page's layout and finds its records; the records themselves are decoded by {@link Page#inode}. */
    public static Page scanPage(byte[] b) {
        Decoder d = new Decoder(b);
        if (d.u8() != PAGE_TAG) {
            throw new StoreException("not an inode page");
        }
        long first = d.varlong();
        int n = d.varint();
        if (n < 0 || n > b.length) { // each slot takes a byte at least: a bad count is a StoreException, not a huge array
            throw new StoreException("inode page of " + n + " slots in " + b.length + " bytes");
        }
        int[] at = new int[2 * n];
        for (int i = 0; i < n; i++) {
            if (d.u8() == 1) {
                int len = d.varint();
                at[2 * i] = d.position();
                at[2 * i + 1] = len;
                d.skip(len);
            } else {
                at[2 * i] = -1;
            }
        }
        return new Page(first, b, at);
    }
}
