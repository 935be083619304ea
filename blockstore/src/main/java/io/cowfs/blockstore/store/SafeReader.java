package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * Point lookups in the index done in Java, as of an LMDB read transaction (which keeps the pages
 * of its snapshot from being reused). The open-time walk ({@link LmdbPages}) finds damage that is
 * there when a process starts; this is what keeps a long-running process (a mount) alive when a
 * page is damaged later: every page a lookup touches is checked (number in range and repeated in
 * its header, branch or leaf at the right depth, node offsets and sizes inside the page) and a
 * bad one is an IndexDamagedException for that lookup (EIO for that file), never a wild read in
 * liblmdb. liblmdb still does every write and every cursor scan.
 *
 * <p>Thread-safety: lookups run concurrently on shared read-only mappings; {@code map} is
 * replaced (never unmapped: another thread may still be reading it) when the file has grown;
 * {@code roots} is an immutable snapshot replaced whole.
 */
final class SafeReader {
    /** Returned when the transaction's meta page has been reused: the caller asks liblmdb instead. */
    static final byte[] FALLBACK = new byte[0];
    private static final int WINDOW_SHIFT = 30;

    private final Path file;
    private volatile Mapping map;
    private volatile Roots roots;

    private record Mapping(long size, ByteBuffer[] windows) {
    }

    /** The database roots of one transaction: name -> {root, depth}; main under "". */
    private record Roots(long txnid, int slot, int psize, long lastPage, Map<String, long[]> dbs, boolean confirmed) {
    }

    SafeReader(Path file) {
        this.file = file;
        this.map = new Mapping(0, new ByteBuffer[0]);
    }

    /** The raw value of key in db as of txnid, null if absent, or FALLBACK. */
    byte[] get(long txnid, String db, byte[] key) {
        Roots r = roots(txnid);
        if (r == null) {
            return FALLBACK;
        }
        byte[] v;
        try {
            long[] root = r.dbs().get(db);
            if (root == null) {
                root = lookupDb(r, db);
            }
            v = root == null ? null : find(r, db, root[0], (int) root[1], key);
        } catch (StoreException.IndexDamagedException e) {
            if (!r.confirmed() && !stillThere(r)) {
                return FALLBACK; // the meta slot was rewritten while it was read: not damage
            }
            throw e;
        }
        if (v == null && !r.confirmed() && !stillThere(r)) {
            return FALLBACK;
        }
        return v;
    }

    /**
     * True if the meta page these roots were read from still carries their transaction: then it
     * was not being rewritten (by the second commit after it) while it was read. Roots read in a
     * lookup that found its key are right (the key was there), and so are roots seen again later.
     */
    private boolean stillThere(Roots r) {
        ByteBuffer m = slice((long) r.slot() * r.psize(), 160);
        boolean there = m != null && m.getLong(144) == r.txnid();
        if (there && roots == r) {
            roots = new Roots(r.txnid(), r.slot(), r.psize(), r.lastPage(), r.dbs(), true);
        }
        return there;
    }

    private Roots roots(long txnid) {
        Roots r = roots;
        if (r != null && r.txnid() == txnid) {
            return r;
        }
        ByteBuffer m0 = slice(0, 160);
        if (m0 == null) {
            return null;
        }
        int psize = m0.getInt(40);
        if (psize < 512 || psize > 65536 || Integer.bitCount(psize) != 1) {
            throw damaged("meta page 0 names page size " + psize);
        }
        for (int slot = 0; slot < 2; slot++) {
            ByteBuffer m = slot == 0 ? m0 : slice(psize, 160);
            if (m == null || m.getLong(144) != txnid) {
                continue;
            }
            long lastPage = m.getLong(136);
            long mainRoot = m.getLong(88 + 40);
            int mainDepth = LmdbPages.u16(m, 88 + 6);
            if (m.getLong(144) != txnid) {
                continue; // rewritten while being read
            }
            Map<String, long[]> dbs = new HashMap<>();
            dbs.put("", new long[] {mainRoot, mainDepth});
            r = new Roots(txnid, slot, psize, lastPage, dbs, false);
            roots = r;
            return r;
        }
        return null;
    }

    private long[] lookupDb(Roots r, String db) {
        long[] main = r.dbs().get("");
        byte[] rec = find(r, "(main)", main[0], (int) main[1], db.getBytes(StandardCharsets.UTF_8));
        if (rec == null) {
            return null;
        }
        if (rec.length != 48) {
            throw damaged("the record of the '" + db + "' database is " + rec.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(rec).order(ByteOrder.LITTLE_ENDIAN);
        long[] root = {b.getLong(40), LmdbPages.u16(b, 6)};
        Map<String, long[]> dbs = new HashMap<>(r.dbs());
        dbs.put(db, root);
        if (roots == r) {
            roots = new Roots(r.txnid(), r.slot(), r.psize(), r.lastPage(), dbs, r.confirmed());
        }
        return root;
    }

    private byte[] find(Roots r, String db, long root, int depth, byte[] key) {
        if (root == LmdbPages.P_INVALID) {
            return null;
        }
        int psize = r.psize();
        long pg = root;
        for (int level = 1; ; level++) {
            if (pg < 2 || pg > r.lastPage() || level > 32) {
                throw damaged(db, pg, "page number out of range");
            }
            ByteBuffer p = slice(pg * psize, psize);
            if (p == null) {
                throw damaged(db, pg, "past the end of the file");
            }
            if (p.getLong(0) != pg) {
                throw damaged(db, pg, "its header names page " + p.getLong(0));
            }
            int flags = LmdbPages.u16(p, 10) & ~LmdbPages.P_DIRTY;
            boolean leaf = flags == LmdbPages.P_LEAF;
            if ((!leaf && flags != LmdbPages.P_BRANCH) || leaf != (level == depth)) {
                throw damaged(db, pg, "not the branch or leaf page it should be (flags 0x" + Integer.toHexString(flags) + ")");
            }
            int lower = LmdbPages.u16(p, 12);
            int upper = LmdbPages.u16(p, 14);
            if (lower < LmdbPages.PAGEHDRSZ + 2 || (lower & 1) != 0 || lower > upper || upper > psize) {
                throw damaged(db, pg, "bad free-space bounds");
            }
            int n = (lower - LmdbPages.PAGEHDRSZ) >> 1;
            if (!leaf) {
                int lo = 1;
                int hi = n - 1;
                int at = 0;
                while (lo <= hi) {
                    int mid = (lo + hi) >>> 1;
                    if (compare(p, node(p, db, pg, mid, upper, psize), key) <= 0) {
                        at = mid;
                        lo = mid + 1;
                    } else {
                        hi = mid - 1;
                    }
                }
                int ptr = node(p, db, pg, at, upper, psize);
                pg = LmdbPages.u16(p, ptr) | ((long) LmdbPages.u16(p, ptr + 2) << 16) | ((long) LmdbPages.u16(p, ptr + 4) << 32);
                continue;
            }
            int lo = 0;
            int hi = n - 1;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                int ptr = node(p, db, pg, mid, upper, psize);
                int c = compare(p, ptr, key);
                if (c < 0) {
                    lo = mid + 1;
                } else if (c > 0) {
                    hi = mid - 1;
                } else {
                    return value(r, db, pg, p, ptr, psize);
                }
            }
            return null;
        }
    }

    /** Offset of node i, checked to lie inside the page with its key. */
    private int node(ByteBuffer p, String db, long pg, int i, int upper, int psize) {
        int ptr = LmdbPages.u16(p, LmdbPages.PAGEHDRSZ + 2 * i);
        if (ptr < upper || ptr + 8 > psize || (ptr & 1) != 0) {
            throw damaged(db, pg, "node " + i + " lies outside the page's node area");
        }
        int ksize = LmdbPages.u16(p, ptr + 6);
        if (ksize > 511 || ptr + 8 + ksize > psize) {
            throw damaged(db, pg, "node " + i + " has a key of " + ksize + " bytes");
        }
        return ptr;
    }

    private byte[] value(Roots r, String db, long pg, ByteBuffer p, int ptr, int psize) {
        int ksize = LmdbPages.u16(p, ptr + 6);
        long dsize = LmdbPages.u16(p, ptr) | ((long) LmdbPages.u16(p, ptr + 2) << 16);
        int nflags = LmdbPages.u16(p, ptr + 4);
        int voff = ptr + 8 + ksize;
        if ((nflags & LmdbPages.F_BIGDATA) == 0) {
            if (voff + dsize > psize) {
                throw damaged(db, pg, "an entry runs past the page");
            }
            byte[] v = new byte[(int) dsize];
            p.get(voff, v);
            return v;
        }
        if (voff + 8 > psize) {
            throw damaged(db, pg, "an entry runs past the page");
        }
        long opg = p.getLong(voff);
        if (opg < 2 || opg > r.lastPage()) {
            throw damaged(db, pg, "an overflow page number out of range");
        }
        ByteBuffer h = slice(opg * psize, LmdbPages.PAGEHDRSZ);
        long pages = h == null ? 0 : h.getInt(12) & 0xFFFFFFFFL;
        if (h == null || h.getLong(0) != opg || (LmdbPages.u16(h, 10) & LmdbPages.P_OVERFLOW) == 0
                || pages * psize < dsize + LmdbPages.PAGEHDRSZ || opg + pages - 1 > r.lastPage() || dsize > (64 << 20)) {
            throw damaged(db, opg, "a damaged overflow page");
        }
        byte[] v = new byte[(int) dsize];
        for (int done = 0; done < v.length; ) { // page by page: pages never straddle two mappings
            long off = opg * psize + LmdbPages.PAGEHDRSZ + done;
            int n = (int) Math.min(v.length - done, psize - (off % psize));
            ByteBuffer b = slice(off, n);
            if (b == null) {
                throw damaged(db, opg, "past the end of the file");
            }
            b.get(0, v, done, n);
            done += n;
        }
        return v;
    }

    private static int compare(ByteBuffer p, int ptr, byte[] key) {
        int ksize = LmdbPages.u16(p, ptr + 6);
        int n = Math.min(ksize, key.length);
        for (int i = 0; i < n; i++) {
            int c = (p.get(ptr + 8 + i) & 0xFF) - (key[i] & 0xFF);
            if (c != 0) {
                return c;
            }
        }
        return ksize - key.length;
    }

    /** len bytes at off, or null if the file does not reach that far. */
    private ByteBuffer slice(long off, int len) {
        Mapping m = map;
        if (off + len > m.size()) {
            m = remap(off + len);
            if (off + len > m.size()) {
                return null;
            }
        }
        int w = (int) (off >>> WINDOW_SHIFT);
        int at = (int) (off & ((1L << WINDOW_SHIFT) - 1));
        return m.windows()[w].slice(at, len).order(ByteOrder.LITTLE_ENDIAN);
    }

    private synchronized Mapping remap(long need) {
        Mapping m = map;
        if (need <= m.size()) {
            return m;
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            int n = (int) ((size + (1L << WINDOW_SHIFT) - 1) >>> WINDOW_SHIFT);
            ByteBuffer[] w = new ByteBuffer[n];
            for (int i = 0; i < n; i++) {
                long start = (long) i << WINDOW_SHIFT;
                w[i] = ch.map(FileChannel.MapMode.READ_ONLY, start, Math.min(1L << WINDOW_SHIFT, size - start));
            }
            m = new Mapping(size, w);
            map = m;
            return m;
        } catch (IOException e) {
            throw new StoreException("cannot read the index " + file + ": " + e.getMessage(), e);
        }
    }

    private StoreException damaged(String db, long pg, String why) {
        return damaged("page " + pg + " of the '" + db + "' database: " + why);
    }

    private StoreException damaged(String what) {
        return new StoreException.IndexDamagedException("the index " + file + " is damaged (" + what + "); cowfs fsck --repair rebuilds it");
    }
}
