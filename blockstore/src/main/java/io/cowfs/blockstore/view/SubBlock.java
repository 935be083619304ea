package io.cowfs.blockstore.view;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Decoder;
import io.cowfs.blockstore.store.Encoder;
import io.cowfs.blockstore.store.StoreException;

/**
 * A sub-block delta ("P" object, docs/FORMAT.md): the pages of one block that a view changed,
 * over a whole base chunk; or a chained delta ("Q" object, format 5): the pages changed since an
 * earlier delta of the block, over that delta. A small rewrite of a big block stores these pages
 * instead of a whole new block; reads apply the chain over its base; a freeze folds it into a
 * whole chunk. Only a view's {@code vblock} overrides name deltas (the vblock value then also names
 * every delta below and the base, so gc keeps them without reading the delta); snapshot block lists
 * never do.
 *
 * <p>A block is split into {@link #pageSize} pages (4 KiB; blockSize/64 above 256 KiB blocks, so
 * that a block never has more than 64 pages). The delta's block is blockLen bytes: the base's
 * bytes (cut at blockLen, zeros past the base's end), then each listed page replaced: a zero page
 * by zeros, a data page by its bytes (min(pageSize, blockLen - page * pageSize) of them).
 *
 * @param base     the whole chunk the delta applies to, or (chained) the delta it applies to
 * @param blockLen bytes of the block once applied
 * @param pageSize bytes per page
 * @param pages    per page of the block: null = the base's bytes, empty = zeros, else the bytes
 * @param chained  base is a delta ("Q"), not a whole chunk ("P")
 */
public record SubBlock(ChunkId base, int blockLen, int pageSize, byte[][] pages, boolean chained) {
    static final int TAG = 'P';
    static final int CHAINED_TAG = 'Q';
    /**
     * Deltas a chain may have at most, read or written: a longer one is malformed (EIO). Writers
     * fold long before (WriteBack's chain limit); this bounds what a damaged store can make a reader do.
     */
    public static final int MAX_CHAIN = 64;
    /** Pages a block may have at most (a long bit mask covers them). */
    public static final int MAX_PAGES = 64;
    /** An empty array: the page reads as zeros. */
    public static final byte[] ZERO_PAGE = new byte[0];

    /** A delta over a whole chunk ("P"). */
    public SubBlock(ChunkId base, int blockLen, int pageSize, byte[][] pages) {
        this(base, blockLen, pageSize, pages, false);
    }

    /**
     * The key the block a stored delta stands for is cached under in the store's block cache
     * (Store.readDerived): the delta's id with every bit flipped. No chunk has that id (it would
     * take a SHA-256 preimage), so the key never shadows a chunk, and it names one block for good:
     * a delta's id fixes its chain and base.
     */
    public static ChunkId blockKey(ChunkId delta) {
        byte[] b = delta.bytes();
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) ~b[i];
        }
        return ChunkId.of(b);
    }

    /** The page size of a store's blocks. */
    public static int pageSize(int blockSize) {
        return Math.max(4096, blockSize / MAX_PAGES);
    }

    /** Pages listed (changed over the base). */
    public int changedPages() {
        int n = 0;
        for (byte[] p : pages) {
            if (p != null) {
                n++;
            }
        }
        return n;
    }

    public byte[] encode() {
        int size = 64;
        for (byte[] p : pages) {
            size += p == null ? 0 : p.length + 12; // page index, kind and bytes: one buffer, no regrowth
        }
        return encodeTo(new Encoder(size)).toBytes();
    }

    /**
     * Encodes the delta into e, emptied first, and returns e: a writer that stores many deltas
     * reuses one encoder instead of two arrays per delta (random writes made a young collection
     * every few hundred of them).
     */
    public Encoder encodeTo(Encoder e) {
        e.reset().u8(chained ? CHAINED_TAG : TAG).id(base).varlong(blockLen).varlong(pageSize).varlong(changedPages());
        for (int i = 0; i < pages.length; i++) {
            byte[] p = pages[i];
            if (p == null) {
                continue;
            }
            e.varlong(i);
            if (p.length == 0) {
                e.u8(0);
            } else {
                if (p.length != pageLen(i)) {
                    throw new IllegalArgumentException("page " + i + " has " + p.length + " bytes, not " + pageLen(i));
                }
                e.u8(1).raw(p, 0, p.length);
            }
        }
        return e;
    }

    /** Bytes of page i within blockLen. */
    int pageLen(int i) {
        return Math.max(0, Math.min(pageSize, blockLen - i * pageSize));
    }

    /** Decodes a "P" or "Q" object; a malformed one is a {@link StoreException} (EIO for the reader). */
    public static SubBlock decode(byte[] b) {
        Decoder d = new Decoder(b);
        SubBlock s = header(d);
        int count = d.varint();
        byte[][] pages = s.pages;
        s.eachPage(d, count, (i, data) -> {
            if (data) {
                pages[i] = new byte[s.pageLen(i)];
                d.raw(pages[i], 0, pages[i].length);
            } else {
                pages[i] = ZERO_PAGE;
            }
        });
        return s;
    }

    /** A "P" or "Q" object's header read from d, up to its page count: the delta with no page listed yet. */
    private static SubBlock header(Decoder d) {
        int tag = d.u8();
        if (tag != TAG && tag != CHAINED_TAG) {
            throw new StoreException("not a sub-block delta");
        }
        ChunkId base = d.id();
        int blockLen = d.varint();
        int pageSize = d.varint();
        if (pageSize <= 0 || blockLen < 0 || (blockLen + pageSize - 1) / pageSize > MAX_PAGES) {
            throw new StoreException("malformed sub-block delta: blockLen " + blockLen + " pageSize " + pageSize);
        }
        return new SubBlock(base, blockLen, pageSize, new byte[(blockLen + pageSize - 1) / pageSize][], tag == CHAINED_TAG);
    }

    /** Takes one listed page: data, its pageLen(i) bytes are next in the decoder (to be read); else a zero page. */
    private interface PageSink {
        void page(int i, boolean data);
    }

    /** Walks the count pages listed next in d, each checked and handed to sink. */
    private void eachPage(Decoder d, int count, PageSink sink) {
        for (int k = 0; k < count; k++) {
            int i = d.varint();
            if (i >= pages.length) {
                throw new StoreException("malformed sub-block delta: page " + i + " of " + pages.length);
            }
            sink.page(i, d.u8() != 0);
        }
    }

    /**
     * Makes the block a chain of stored deltas stands for in place: in out at [at, at+room), where
     * the caller has put the bytes of the chain's whole base chunk (baseLen of them, verified).
     * encoded holds the deltas as stored (verified), each its bytes [0, limit), top first, as
     * chain names them; chain ends with the base chunk's id. The pages are copied from where the
     * deltas lie (a direct buffer: no copy of them on the heap), applied as {@link #readInto}
     * applies them. Returns the block's length, or -1 where the deltas are not that chain or the
     * block is longer than room (out's bytes there are then undefined: the caller reads the block
     * the usual way, which says what is wrong); a malformed delta is a {@link StoreException}.
     */
    public static int applyInPlace(java.nio.ByteBuffer[] encoded, java.util.List<ChunkId> chain, java.nio.ByteBuffer out, int at, int room, int baseLen) {
        int n = encoded.length;
        if (n == 0 || n > MAX_CHAIN || chain.size() != n + 1) {
            return -1;
        }
        Link[] links = new Link[n];
        for (int i = 0; i < n; i++) {
            links[i] = Link.of(new Decoder(encoded[i], 0, encoded[i].limit()));
            if (links[i].head.chained != (i < n - 1) || !links[i].head.base.equals(chain.get(i + 1))) {
                return -1;
            }
        }
        return longest(links) > room ? -1 : apply(links, out, at, baseLen);
    }

    /** One delta of a chain read where it lies: its header (no pages listed), and d at its count pages. */
    private record Link(SubBlock head, Decoder d, int count) {
        static Link of(Decoder d) {
            SubBlock head = header(d);
            return new Link(head, d, d.varint());
        }
    }

    /** The longest block of a chain's links: what the block needs room for while it is made. */
    private static int longest(Link[] links) {
        int max = 0;
        for (Link l : links) {
            max = Math.max(max, l.head.blockLen);
        }
        return max;
    }

    /**
     * Makes the block of links (top first) in out at [at, ...), where the base's bytes are (baseLen
     * of them): zeros past the base's end, then each link from the bottom up cuts the block to its
     * length and writes its pages, read from where it lies. Returns the block's length.
     */
    private static int apply(Link[] links, java.nio.ByteBuffer out, int at, int baseLen) {
        int max = longest(links);
        int len = Math.min(baseLen, max);
        zero(out, at + len, at + max); // zeros past the base's end
        for (int i = links.length - 1; i >= 0; i--) {
            SubBlock x = links[i].head;
            Decoder d = links[i].d;
            if (len > x.blockLen) {
                zero(out, at + x.blockLen, at + len); // the block is cut here
            }
            x.eachPage(d, links[i].count, (p, data) -> {
                int from = at + p * x.pageSize;
                if (data) {
                    d.raw(out, from, x.pageLen(p));
                } else {
                    zero(out, from, from + x.pageLen(p));
                }
            });
            len = x.blockLen;
        }
        return len;
    }

    /** The block: baseBytes (the base chunk's bytes) with the pages applied. */
    public byte[] apply(byte[] baseBytes) {
        byte[] out = new byte[blockLen];
        System.arraycopy(baseBytes, 0, out, 0, Math.min(baseBytes.length, blockLen));
        applyPages(out);
        return out;
    }

    /** Writes the listed pages into block (at least blockLen bytes). */
    private void applyPages(byte[] block) {
        applyPages(java.nio.ByteBuffer.wrap(block));
    }

    /**
     * The deltas of a stored delta's chain, decoded, the named one first and the one over a whole
     * chunk ("P") last; read with get. A chain longer than {@link #MAX_CHAIN} is malformed.
     */
    public static java.util.List<SubBlock> chain(java.util.function.Function<ChunkId, byte[]> get, ChunkId delta) {
        java.util.List<SubBlock> chain = new java.util.ArrayList<>(4);
        SubBlock s = decode(get.apply(delta));
        chain.add(s);
        while (s.chained) {
            if (chain.size() >= MAX_CHAIN) {
                throw new StoreException("sub-block delta chain longer than " + MAX_CHAIN + " at " + delta);
            }
            s = decode(get.apply(s.base));
            chain.add(s);
        }
        return chain;
    }

    /**
     * The bytes of the block a stored delta stands for (a chain applied over its base, in one
     * buffer), every chunk read with get (Store.get, or Store.getOnce where they are wanted once;
     * verified as any read).
     */
    public static byte[] read(java.util.function.Function<ChunkId, byte[]> get, ChunkId delta) {
        java.util.List<SubBlock> chain = chain(get, delta);
        SubBlock bottom = chain.get(chain.size() - 1);
        if (chain.size() == 1) {
            return bottom.apply(get.apply(bottom.base));
        }
        int max = 0;
        for (SubBlock s : chain) {
            max = Math.max(max, s.blockLen);
        }
        byte[] block = new byte[max];
        byte[] base = get.apply(bottom.base);
        int len = Math.min(base.length, max); // zeros past the base's end
        System.arraycopy(base, 0, block, 0, len);
        for (int i = chain.size() - 1; i >= 0; i--) {
            SubBlock s = chain.get(i);
            if (len > s.blockLen) {
                io.cowfs.blockstore.store.Store.zero(block, s.blockLen, len); // the block is cut here
            }
            s.applyPages(block);
            len = s.blockLen;
        }
        return len == block.length ? block : java.util.Arrays.copyOf(block, len);
    }

    /** Puts a whole chunk's verified bytes at the start of a buffer and returns their count. */
    public interface BaseInto {
        int put(ChunkId base, java.nio.ByteBuffer block);
    }

    /**
     * As {@link #read}, into block (its bytes from 0; it must hold the longest block of the chain)
     * rather than a new array: the base's bytes are put there by base (straight from the block
     * cache or the pack: no copy of the base on the heap), the chain's pages applied over them.
     * Returns the block's length. The deltas themselves are read with get.
     */
    public static int readInto(java.util.function.Function<ChunkId, byte[]> get, ChunkId delta, java.nio.ByteBuffer block, BaseInto base) {
        java.util.List<Link> chain = new java.util.ArrayList<>(4);
        Link l = Link.of(new Decoder(get.apply(delta)));
        chain.add(l);
        while (l.head.chained) {
            if (chain.size() >= MAX_CHAIN) {
                throw new StoreException("sub-block delta chain longer than " + MAX_CHAIN + " at " + delta);
            }
            l = Link.of(new Decoder(get.apply(l.head.base)));
            chain.add(l);
        }
        Link[] links = chain.toArray(new Link[0]);
        int max = longest(links);
        if (max > block.capacity()) {
            throw new StoreException("a sub-block delta of a " + max + "-byte block, more than a block holds, at " + delta);
        }
        return apply(links, block, 0, base.put(l.head.base, block));
    }

    /** Writes the listed pages into block (at least blockLen bytes from 0). */
    private void applyPages(java.nio.ByteBuffer block) {
        for (int i = 0; i < pages.length; i++) {
            byte[] p = pages[i];
            if (p == null) {
                continue;
            }
            int at = i * pageSize;
            int n = pageLen(i);
            if (p.length == 0) {
                zero(block, at, at + n);
            } else {
                block.put(at, p, 0, n);
            }
        }
    }

    private static final byte[] ZEROS = new byte[16 << 10];

    private static void zero(java.nio.ByteBuffer b, int from, int to) {
        for (int at = from; at < to; at += ZEROS.length) {
            b.put(at, ZEROS, 0, Math.min(ZEROS.length, to - at));
        }
    }

    /**
     * One delta over the chain's whole base chunk ("P") that reads as the chain does (chain as
     * {@link #chain} returns it, top first), without reading that base; null if a page would need
     * some of the base's bytes but not all (a delta in the chain cut the block inside that page).
     */
    public static SubBlock flatten(java.util.List<SubBlock> chain) {
        SubBlock top = chain.get(0);
        if (chain.size() == 1 && !top.chained) {
            return top;
        }
        int ps = top.pageSize;
        int npages = top.pages.length;
        byte[][] out = new byte[npages][];
        boolean[] done = new boolean[npages];
        int cut = Integer.MAX_VALUE; // the block is zeros from here on, for the deltas below the ones seen
        for (SubBlock s : chain) {
            if (s.pageSize != ps) {
                throw new StoreException("malformed sub-block delta chain: page sizes " + ps + " and " + s.pageSize);
            }
            for (int i = 0; i < npages; i++) {
                if (done[i] || i >= s.pages.length || s.pages[i] == null) {
                    continue;
                }
                done[i] = true;
                byte[] p = s.pages[i];
                int at = i * ps;
                int n = top.pageLen(i);
                int keep = Math.max(0, Math.min(Math.min(n, p.length), cut - at)); // its bytes below cut
                if (keep == 0) {
                    out[i] = ZERO_PAGE;
                } else {
                    out[i] = java.util.Arrays.copyOf(p, n); // zeros past what it holds
                    io.cowfs.blockstore.store.Store.zero(out[i], keep, n);
                }
            }
            cut = Math.min(cut, s.blockLen);
        }
        for (int i = 0; i < npages; i++) {
            int at = i * ps;
            if (done[i] || at + top.pageLen(i) <= cut) {
                continue; // a delta's page, or all the base's bytes
            }
            if (at >= cut) {
                out[i] = ZERO_PAGE;
            } else {
                return null; // the base's bytes up to cut, zeros after
            }
        }
        return new SubBlock(chain.get(chain.size() - 1).base, top.blockLen, ps, out);
    }
}
