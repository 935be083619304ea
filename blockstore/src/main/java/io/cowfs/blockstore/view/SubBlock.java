package io.cowfs.blockstore.view;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Decoder;
import io.cowfs.blockstore.store.Encoder;
import io.cowfs.blockstore.store.StoreException;

/**
 * A sub-block delta ("P" object, docs/FORMAT.md): the pages of one block that a view changed,
 * over a whole base chunk. A small rewrite of a big block stores these pages instead of a whole
 * new block; reads apply the delta over the base; a freeze folds it into a whole chunk. Only a
 * view's {@code vblock} overrides name deltas (the vblock value then also names the base, so gc
 * keeps it without reading the delta); snapshot block lists never do.
 *
 * <p>A block is split into {@link #pageSize} pages (4 KiB; blockSize/64 above 256 KiB blocks, so
 * that a block never has more than 64 pages). The delta's block is blockLen bytes: the base's
 * bytes (cut at blockLen, zeros past the base's end), then each listed page replaced: a zero page
 * by zeros, a data page by its bytes (min(pageSize, blockLen - page * pageSize) of them).
 *
 * @param base     the whole chunk the delta applies to
 * @param blockLen bytes of the block once applied
 * @param pageSize bytes per page
 * @param pages    per page of the block: null = the base's bytes, empty = zeros, else the bytes
 */
public record SubBlock(ChunkId base, int blockLen, int pageSize, byte[][] pages) {
    static final int TAG = 'P';
    /** Pages a block may have at most (a long bit mask covers them). */
    public static final int MAX_PAGES = 64;
    /** An empty array: the page reads as zeros. */
    public static final byte[] ZERO_PAGE = new byte[0];

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
        e.reset().u8(TAG).id(base).varlong(blockLen).varlong(pageSize).varlong(changedPages());
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

    /** Decodes a "P" object; a malformed one is a {@link StoreException} (EIO for the reader). */
    public static SubBlock decode(byte[] b) {
        Decoder d = new Decoder(b);
        if (d.u8() != TAG) {
            throw new StoreException("not a sub-block delta");
        }
        ChunkId base = d.id();
        int blockLen = d.varint();
        int pageSize = d.varint();
        int count = d.varint();
        if (pageSize <= 0 || blockLen < 0 || (blockLen + pageSize - 1) / pageSize > MAX_PAGES) {
            throw new StoreException("malformed sub-block delta: blockLen " + blockLen + " pageSize " + pageSize);
        }
        int npages = (blockLen + pageSize - 1) / pageSize;
        byte[][] pages = new byte[npages][];
        SubBlock s = new SubBlock(base, blockLen, pageSize, pages);
        for (int k = 0; k < count; k++) {
            int i = d.varint();
            if (i >= npages) {
                throw new StoreException("malformed sub-block delta: page " + i + " of " + npages);
            }
            if (d.u8() == 0) {
                pages[i] = ZERO_PAGE;
            } else {
                pages[i] = new byte[s.pageLen(i)];
                d.raw(pages[i], 0, pages[i].length);
            }
        }
        return s;
    }

    /** The block: baseBytes (the base chunk's bytes) with the pages applied. */
    public byte[] apply(byte[] baseBytes) {
        byte[] out = new byte[blockLen];
        System.arraycopy(baseBytes, 0, out, 0, Math.min(baseBytes.length, blockLen));
        for (int i = 0; i < pages.length; i++) {
            byte[] p = pages[i];
            if (p == null) {
                continue;
            }
            int at = i * pageSize;
            int n = pageLen(i);
            if (p.length == 0) {
                io.cowfs.blockstore.store.Store.zero(out, at, at + n);
            } else {
                System.arraycopy(p, 0, out, at, n);
            }
        }
        return out;
    }

    /**
     * The bytes of the block a stored delta stands for, both chunks read with get (Store.get, or
     * Store.getOnce where they are wanted once; verified as any read).
     */
    public static byte[] read(java.util.function.Function<ChunkId, byte[]> get, ChunkId delta) {
        SubBlock s = decode(get.apply(delta));
        return s.apply(get.apply(s.base));
    }
}
