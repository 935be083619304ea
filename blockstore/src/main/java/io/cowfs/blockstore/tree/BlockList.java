package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Decoder;
import io.cowfs.blockstore.store.Encoder;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.util.ArrayList;
import java.util.List;

/** A file's block list, split into pages of {@link #PAGE} entries ("L" objects, docs/FORMAT.md). */
public final class BlockList {
    public static final int PAGE = 2048;
    /** Block lists of at most this many entries are kept in the inode (format 6, {@link Inode#inlineBlocks}). */
    public static final int INLINE = 4;
    static final int TAG = 'L';

    private BlockList() {
    }

    /** Encodes one page; a null entry is a hole. */
    public static byte[] encodePage(ChunkId[] entries, int from, int to) {
        Encoder e = new Encoder(16 + (to - from) * 33);
        e.u8(TAG);
        writeEntries(e, entries, from, to);
        return e.toBytes();
    }

    public static ChunkId[] decodePage(byte[] b) {
        Decoder d = new Decoder(b);
        if (d.u8() != TAG) {
            throw new StoreException("not a block-list page");
        }
        return readEntries(d, d.varint());
    }

    /** Entries [from, to) as a page holds them, count first (also an inline list's encoding, in the inode). */
    static void writeEntries(Encoder e, ChunkId[] entries, int from, int to) {
        e.varlong(to - from);
        for (int i = from; i < to; i++) {
            if (entries[i] == null) {
                e.u8(0);
            } else {
                e.u8(1).id(entries[i]);
            }
        }
    }

    /** n entries as {@link #writeEntries} wrote them after the count. */
    static ChunkId[] readEntries(Decoder d, int n) {
        ChunkId[] out = new ChunkId[n];
        for (int i = 0; i < n; i++) {
            out[i] = d.u8() == 1 ? d.id() : null;
        }
        return out;
    }

    /**
     * Gives file n the block list blocks: inside the inode when it is short and the store's format
     * has inline lists (6), else as pages. Trailing holes are dropped (size says how long the file is).
     */
    public static void set(Store store, Inode n, ChunkId[] blocks) {
        int len = blocks.length;
        while (len > 0 && blocks[len - 1] == null) {
            len--;
        }
        if (len > 0 && len <= INLINE && store.format() >= Store.FORMAT_INLINE_LISTS) {
            n.inlineBlocks = java.util.Arrays.copyOf(blocks, len);
            n.blockPages = new ArrayList<>();
        } else {
            n.inlineBlocks = null;
            n.blockPages = store(store, blocks);
        }
    }

    /** Stores a whole block list as pages; trailing holes are dropped (size says how long the file is). */
    public static List<ChunkId> store(Store store, ChunkId[] blocks) {
        int n = blocks.length;
        while (n > 0 && blocks[n - 1] == null) {
            n--;
        }
        List<ChunkId> pages = new ArrayList<>();
        for (int from = 0; from < n; from += PAGE) {
            int to = Math.min(n, from + PAGE);
            pages.add(store.put(encodePage(blocks, from, to)));
        }
        return pages;
    }
}
