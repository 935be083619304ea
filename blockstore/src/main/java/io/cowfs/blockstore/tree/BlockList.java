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

    /**
     * Builds a file's block list block by block and gives it as {@link #set} would (the same
     * pages, so the same ids), holding one page at a time instead of an array of every block: a
     * sparse file of terabytes has hundreds of millions of blocks, nearly all holes. Whole pages of
     * holes cost nothing until a block after them holds data (then they are one shared page each),
     * and trailing holes are never stored. One thread.
     */
    public static final class Builder {
        private final Store store;
        private final ChunkId[] cur = new ChunkId[PAGE];
        private int fill;
        private long curIndex; // the page number of cur
        private boolean curHasData;
        private final List<ChunkId> pages = new ArrayList<>(); // stored pages, 0 .. pages.size()-1
        private ChunkId[] held; // the last full page with data, not listed yet (it may be the list's end)
        private ChunkId heldId; // held's id if it is stored already ({@link #page}), else null
        private long heldIndex = -1;
        private ChunkId holes; // a full page of holes, once stored

        public Builder(Store store) {
            this.store = store;
        }

        public void add(ChunkId id) {
            cur[fill++] = id;
            curHasData |= id != null;
            if (fill == PAGE) {
                endPage();
            }
        }

        /**
         * A whole page stored already (id, of entries as {@link #encodePage} gives them), in place
         * of its blocks one by one: its id is listed as it is. Only at a page's start with a full
         * page; otherwise its entries are added one by one.
         */
        public void page(ChunkId id, ChunkId[] entries) {
            if (fill != 0 || entries.length != PAGE) {
                for (ChunkId c : entries) {
                    add(c);
                }
                return;
            }
            for (ChunkId c : entries) {
                if (c != null) {
                    storeUpTo(curIndex);
                    held = entries;
                    heldId = id;
                    heldIndex = curIndex;
                    break;
                }
            }
            curIndex++;
        }

        /** n holes. */
        public void holes(long n) {
            while (n > 0 && fill != 0) {
                add(null);
                n--;
            }
            curIndex += n / PAGE; // whole pages of holes: stored when data follows them
            for (long i = n % PAGE; i > 0; i--) {
                add(null);
            }
        }

        private void endPage() {
            if (curHasData) {
                storeUpTo(curIndex);
                held = cur.clone();
                heldId = null;
                heldIndex = curIndex;
            }
            java.util.Arrays.fill(cur, null);
            fill = 0;
            curHasData = false;
            curIndex++;
        }

        /** Stores the held page and pages of holes after it, so that pages are listed up to index (exclusive). */
        private void storeUpTo(long index) {
            if (held != null) {
                pages.add(heldId != null ? heldId : store.put(encodePage(held, 0, PAGE)));
                held = null;
            }
            while (pages.size() < index) {
                if (holes == null) {
                    holes = store.put(encodePage(new ChunkId[PAGE], 0, PAGE));
                }
                pages.add(holes);
            }
        }

        /** Gives n the list built. */
        public void finish(Inode n) {
            ChunkId[] last;
            long lastIndex;
            int len;
            if (curHasData) {
                storeUpTo(curIndex);
                last = cur;
                lastIndex = curIndex;
                len = fill;
            } else if (held != null) {
                last = held;
                lastIndex = heldIndex;
                len = PAGE;
            } else {
                set(store, n, new ChunkId[0]);
                return;
            }
            while (last[len - 1] == null) {
                len--;
            }
            if (lastIndex == 0) { // one page at most: inline when short, as set has it
                set(store, n, java.util.Arrays.copyOf(last, len));
                return;
            }
            pages.add(len == PAGE && last == held && heldId != null ? heldId : store.put(encodePage(last, 0, len)));
            n.inlineBlocks = null;
            n.blockPages = pages;
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
