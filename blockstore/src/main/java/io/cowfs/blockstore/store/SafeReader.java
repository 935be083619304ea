package io.cowfs.blockstore.store;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Point lookups in the index done in Java, as of an LMDB read transaction (which keeps the pages
 * of its snapshot from being reused). The open-time walk ({@link LmdbPages}) finds damage that is
 * there when a process starts; this is what keeps a long-running process (a mount) alive when a
 * page is damaged later: every page a lookup touches is checked (number in range and repeated in
 * its header, branch or leaf at the right depth, node offsets and sizes inside the page) and a
 * bad one is an IndexDamagedException for that lookup (EIO for that file), never a wild read in
 * liblmdb. liblmdb still does every write and every cursor scan. Pages are read in place
 * ({@link Page}: bounded loads, cheap under C1), not through ByteBuffer slices.
 *
 * <p>Thread-safety: lookups run concurrently on the shared read-only {@link MappedFile} (grown
 * when the file has, unmapped only by {@link #close}); {@code roots} is
 * an immutable snapshot replaced whole.
 */
final class SafeReader {
    /** Returned when the transaction's meta page has been reused: the caller asks liblmdb instead. */
    static final byte[] FALLBACK = new byte[0];

    private final Path file;
    private final MappedFile mapped;
    private volatile Roots roots;

    /** The database roots of one transaction: name -> {root, depth}; main under "". */
    private record Roots(long txnid, int slot, int psize, long lastPage, Map<String, long[]> dbs, boolean confirmed) {
    }

    SafeReader(Path file) {
        this.file = file;
        this.mapped = new MappedFile(file);
    }

    /**
     * Unmaps the index now, at the close of the store, when no lookup runs any more (liblmdb's
     * own map goes at the same moment): a long-lived process that closed a store (the CLI agent,
     * a test) would otherwise keep data.mdb mapped until the GC, and the filesystem holding it
     * could not be unmounted.
     */
    void close() {
        mapped.close();
    }

    /** The raw value of key in db as of txnid, null if absent, or FALLBACK. */
    byte[] get(long txnid, String db, byte[] key) {
        return get(txnid, db, key, false);
    }

    /**
     * The check before a write: the path to key as get takes it, and on each page of it every
     * node, not only those a search looks at (liblmdb reads them all when it splits or moves
     * them). Pages are checked once per transaction.
     */
    void checkWritePath(Object txn, long baseTxnid, String db, byte[] key) {
        scope.set(txn);
        try {
            get(baseTxnid, db, key, true);
        } finally {
            scope.remove();
        }
    }

    /** The transaction a full check runs for: checked pages are remembered within it only. */
    private final ThreadLocal<Object> scope = new ThreadLocal<>();

    /**
     * Checks, fully, every page a cursor over [lo, hi) (null = unbounded, hi exclusive) will read
     * as of txnid: the branch pages above the range and every leaf in it.
     */
    void checkRange(Object txn, long txnid, String db, byte[] lo, byte[] hi) {
        scope.set(txn);
        try {
            Roots r = roots(txnid);
            if (r == null) {
                return; // the transaction's meta page is gone: nothing to check against
            }
            long[] root = r.dbs().get(db);
            if (root == null) {
                root = lookupDb(r, db);
            }
            if (root != null && root[0] != LmdbPages.P_INVALID) {
                visit(r, db, root[0], 1, (int) root[1], lo, hi);
            }
        } catch (InternalError e) {
            throw damaged("the file is shorter than its meta page says (" + e.getMessage() + ")");
        } finally {
            scope.remove();
        }
    }

    private void visit(Roots r, String db, long pg, int level, int depth, byte[] lo, byte[] hi) {
        int psize = r.psize();
        Page p = page(r, db, pg, level, depth);
        boolean leaf = level == depth;
        int upper = p.u16(14);
        int lower = p.u16(12);
        int n = (lower - LmdbPages.PAGEHDRSZ) >> 1;
        checkAll(r, db, pg, p, n, leaf, upper, psize);
        if (leaf) {
            return;
        }
        for (int i = 0; i < n; i++) {
            // child i holds keys in [key i, key i+1); key 0 is implicit (the parent's bound)
            if (i + 1 < n && lo != null && compare(p, node(p, db, pg, i + 1, upper, psize, false), lo) <= 0) {
                continue; // wholly below the range
            }
            // the first child wholly above the range is read too: a cursor reads the entry after
            // the range's last one to see that it is past the end
            boolean above = i > 0 && hi != null && compare(p, node(p, db, pg, i, upper, psize, false), hi) >= 0;
            int ptr = node(p, db, pg, i, upper, psize, false);
            long child = p.u16(ptr) | ((long) p.u16(ptr + 2) << 16) | ((long) p.u16(ptr + 4) << 32);
            visit(r, db, child, level + 1, depth, lo, hi);
            if (above) {
                break;
            }
        }
    }

    /**
     * Pages fully checked within one transaction (many puts of one commit share their paths).
     * Never longer: a page damaged after a check must be seen by the next transaction's check.
     */
    private record Checked(Object txn, java.util.Set<Long> pages) {
    }

    private volatile Checked checked = new Checked(null, java.util.Set.of());

    private byte[] get(long txnid, String db, byte[] key, boolean full) {
        Roots r;
        try {
            r = roots(txnid);
        } catch (InternalError e) {
            throw damaged("the file is shorter than its meta pages (" + e.getMessage() + ")");
        }
        if (r == null) {
            return FALLBACK;
        }
        byte[] v;
        try {
            long[] root = r.dbs().get(db);
            if (root == null) {
                root = lookupDb(r, db);
            }
            v = root == null ? null : find(r, db, root[0], (int) root[1], key, full);
        } catch (StoreException.IndexDamagedException e) {
            if (!r.confirmed() && !stillThere(r)) {
                return FALLBACK; // the meta slot was rewritten while it was read: not damage
            }
            throw e;
        } catch (InternalError e) {
            throw damaged("the file is shorter than its meta page says (" + e.getMessage() + ")");
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
        Page m = slice((long) r.slot() * r.psize(), 160);
        boolean there = m != null && m.s64(144) == r.txnid();
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
        Page m0 = slice(0, 160);
        if (m0 == null) {
            return null;
        }
        int psize = m0.s32(40);
        if (psize < 512 || psize > 65536 || Integer.bitCount(psize) != 1) {
            throw damaged("meta page 0 names page size " + psize);
        }
        for (int slot = 0; slot < 2; slot++) {
            Page m = slot == 0 ? m0 : slice(psize, 160);
            if (m == null || m.s64(144) != txnid) {
                continue;
            }
            long lastPage = m.s64(136);
            long mainRoot = m.s64(88 + 40);
            int mainDepth = m.u16(88 + 6);
            if (m.s64(144) != txnid) {
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
        byte[] rec = find(r, "(main)", main[0], (int) main[1], db.getBytes(StandardCharsets.UTF_8), false);
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

    private byte[] find(Roots r, String db, long root, int depth, byte[] key, boolean full) {
        if (root == LmdbPages.P_INVALID) {
            return null;
        }
        int psize = r.psize();
        long pg = root;
        for (int level = 1; ; level++) {
            Page p = page(r, db, pg, level, depth);
            boolean leaf = level == depth;
            int upper = p.u16(14);
            int lower = p.u16(12);
            int n = (lower - LmdbPages.PAGEHDRSZ) >> 1;
            if (full) {
                checkAll(r, db, pg, p, n, leaf, upper, psize);
            }
            if (!leaf) {
                int lo = 1;
                int hi = n - 1;
                int at = 0;
                while (lo <= hi) {
                    int mid = (lo + hi) >>> 1;
                    if (compare(p, node(p, db, pg, mid, upper, psize, false), key) <= 0) {
                        at = mid;
                        lo = mid + 1;
                    } else {
                        hi = mid - 1;
                    }
                }
                int ptr = node(p, db, pg, at, upper, psize, false);
                pg = p.u16(ptr) | ((long) p.u16(ptr + 2) << 16) | ((long) p.u16(ptr + 4) << 32);
                continue;
            }
            int lo = 0;
            int hi = n - 1;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                int ptr = node(p, db, pg, mid, upper, psize, true);
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

    private void checkAll(Roots r, String db, long pg, Page p, int n, boolean leaf, int upper, int psize) {
        Object txn = scope.get();
        Checked c = checked;
        if (c.txn() != txn || txn == null) {
            c = new Checked(txn, java.util.concurrent.ConcurrentHashMap.newKeySet());
            checked = c;
        }
        if (c.pages().contains(pg)) {
            return;
        }
        for (int i = 0; i < n; i++) {
            int ptr = node(p, db, pg, i, upper, psize, leaf);
            int ksize = p.u16(ptr + 6);
            long lo16 = p.u16(ptr);
            long hi16 = p.u16(ptr + 2);
            int nflags = p.u16(ptr + 4);
            // node() checked offsets and sizes; what is left are the page numbers a node names
            long named = !leaf ? lo16 | (hi16 << 16) | ((long) nflags << 32)
                    : (nflags & LmdbPages.F_BIGDATA) != 0 ? p.s64(ptr + 8 + ksize) : 2;
            if (named < 2 || named > r.lastPage()) {
                throw damaged(db, pg, "node " + i + " names page " + named);
            }
        }
        c.pages().add(pg);
    }

    /**
     * Page pg at level (1 = root) of a tree depth deep, its header checked: number in range and
     * repeated in the header, a branch or a leaf where the depth says, sane free-space bounds.
     */
    private Page page(Roots r, String db, long pg, int level, int depth) {
        int psize = r.psize();
        if (pg < 2 || pg > r.lastPage() || level > 32) {
            throw damaged(db, pg, "page number out of range");
        }
        Page p = slice(pg * psize, psize);
        if (p == null) {
            throw damaged(db, pg, "past the end of the file");
        }
        String bad = LmdbPages.headerProblem(p, pg, psize, level == depth);
        if (bad != null) {
            throw damaged(db, pg, bad);
        }
        return p;
    }

    /** Offset of node i, checked to lie inside the page with its key (and data, on a leaf). */
    private int node(Page p, String db, long pg, int i, int upper, int psize, boolean leaf) {
        String bad = LmdbPages.nodeProblem(p, i, upper, psize, leaf);
        if (bad != null) {
            throw damaged(db, pg, bad);
        }
        return p.u16(LmdbPages.PAGEHDRSZ + 2 * i);
    }

    /** The value of the leaf node at ptr, which node() has checked to fit its page. */
    private byte[] value(Roots r, String db, long pg, Page p, int ptr, int psize) {
        int ksize = p.u16(ptr + 6);
        long dsize = p.u16(ptr) | ((long) p.u16(ptr + 2) << 16);
        int nflags = p.u16(ptr + 4);
        int voff = ptr + 8 + ksize;
        if ((nflags & LmdbPages.F_BIGDATA) == 0) {
            byte[] v = new byte[(int) dsize];
            p.get(voff, v, 0, v.length);
            return v;
        }
        long opg = p.s64(voff);
        if (opg < 2 || opg > r.lastPage()) {
            throw damaged(db, pg, "an overflow page number out of range");
        }
        Page h = slice(opg * psize, LmdbPages.PAGEHDRSZ);
        long pages = h == null ? 0 : h.s32(12) & 0xFFFFFFFFL;
        if (h == null || h.s64(0) != opg || (h.u16(10) & LmdbPages.P_OVERFLOW) == 0
                || pages * psize < dsize + LmdbPages.PAGEHDRSZ || opg + pages - 1 > r.lastPage() || dsize > (64 << 20)) {
            throw damaged(db, opg, "a damaged overflow page");
        }
        byte[] v = new byte[(int) dsize];
        for (int done = 0; done < v.length; ) { // page by page: pages never straddle two mappings
            long off = opg * psize + LmdbPages.PAGEHDRSZ + done;
            int n = (int) Math.min(v.length - done, psize - (off % psize));
            Page b = slice(off, n);
            if (b == null) {
                throw damaged(db, opg, "past the end of the file");
            }
            b.get(0, v, done, n);
            done += n;
        }
        return v;
    }

    private static int compare(Page p, int ptr, byte[] key) {
        return p.compare(ptr + 8, p.u16(ptr + 6), key); // node() checked that the key fits the page
    }

    /** len bytes at off (never across two pages), or null if the file does not reach that far. */
    private Page slice(long off, int len) {
        return mapped.page(off, len);
    }

    private StoreException damaged(String db, long pg, String why) {
        return damaged("page " + pg + " of the '" + db + "' database: " + why);
    }

    private StoreException damaged(String what) {
        return new StoreException.IndexDamagedException("the index " + file + " is damaged (" + what + "); cowfs fsck --repair rebuilds it");
    }
}
