package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A bounds-checked reader of LMDB's on-disk format (data.mdb, LMDB 0.9, 64-bit little-endian).
 *
 * <p>LMDB keeps no page checksums and trusts every page it reads: a damaged branch or leaf page
 * sends liblmdb past the end of its map and the process dies. Before cowfs lets liblmdb read an
 * index, this class walks every tree of it in Java, where a wild offset is an exception, not a
 * crash: page numbers within the file, each page's header repeating its own number, node offsets
 * and sizes inside the page, keys in order and inside their parent's range, overflow pages where
 * their node says, entry and page counts equal to what the database record says. The same walk,
 * collecting, is how a damaged index is salvaged: every entry on a readable page is kept.
 * The file is read through {@link MappedFile}, the header and node checks are shared with
 * {@link SafeReader} ({@link #headerProblem}, {@link #nodeProblem}), the seal check with
 * {@link Table} ({@link Seal}).
 *
 * <p>Format facts used (mdb.c): page header {pgno:u64, pad:u16, flags:u16, lower:u16, upper:u16}
 * (overflow pages: pages:u32 in place of lower/upper); node {lo:u16, hi:u16, flags:u16,
 * ksize:u16, key, data}; meta {magic, version, address, mapsize, dbs[2] (free, main), last_pg,
 * txnid} after the page header of pages 0 and 1; db record {pad(=page size in the free db),
 * flags:u16, depth:u16, branch, leaf, overflow, entries, root}.
 */
public final class LmdbPages implements AutoCloseable {
    static final int PAGEHDRSZ = 16;
    static final int P_BRANCH = 0x01;
    static final int P_LEAF = 0x02;
    static final int P_OVERFLOW = 0x04;
    static final int P_META = 0x08;
    static final int P_DIRTY = 0x10;
    static final int F_BIGDATA = 0x01;
    static final int F_SUBDATA = 0x02;
    static final int MAGIC = 0xBEEFC0DE;
    static final long P_INVALID = -1L;

    /** A database record (MDB_db). */
    public record DbRecord(int flags, int depth, long branchPages, long leafPages, long overflowPages, long entries, long root) {
        static DbRecord read(ByteBuffer b, int off) {
            return new DbRecord(u16(b, off + 4), u16(b, off + 6), b.getLong(off + 8), b.getLong(off + 16),
                    b.getLong(off + 24), b.getLong(off + 32), b.getLong(off + 40));
        }
    }

    /** One of the two meta pages; problem is null if it is usable. */
    public record Meta(int slot, long txnid, int pageSize, long lastPage, DbRecord free, DbRecord main, String problem) {
    }

    /** Entries of one database: how many the walk read, and how many its record says it holds. */
    public record Count(long read, long recorded) {
    }

    /** What a walk found: damage (one line each), entry counts, and with collect the entries. */
    public static final class Walk {
        public final List<String> damage = new ArrayList<>();
        /** Entries per named database (only when collecting), in key order. */
        public final Map<String, List<byte[][]>> entries = new LinkedHashMap<>();
        /** Entries read per named database, and what its record says it holds. */
        public final Map<String, Count> counts = new LinkedHashMap<>();
        /**
         * Per named database, the key ranges {lo, hi} (null = unbounded; lo inclusive, hi
         * exclusive) whose entries lay below a damaged page: what a salvage could not read.
         */
        public final Map<String, List<byte[][]>> lost = new LinkedHashMap<>();
        /** Leaf pages per named database, for tests that damage a chosen one. */
        public final Map<String, List<Long>> leafPages = new LinkedHashMap<>();
        public long pages;

        public boolean clean() {
            return damage.isEmpty();
        }
    }

    private final MappedFile mapped;
    /** The file's size when it was opened: what the meta pages are checked against. */
    private final long size;

    private LmdbPages(Path file) throws IOException {
        this.mapped = MappedFile.map(file);
        this.size = mapped.size();
    }

    public static LmdbPages open(Path dataFile) throws IOException {
        return new LmdbPages(dataFile);
    }

    /**
     * The largest map a meta page may name: 128 TiB, the user address space of x86-64 and arm64
     * with 4-level page tables (no process could map more; cowfs's map starts at
     * cowfs.lmdb.initialMapSize, 256 MiB by default, and doubles when full).
     */
    static final long MAX_MAP = 1L << 47;

    /** Both meta pages, checked on their own (magic, version, page size, numbers in range). */
    public Meta[] metas() {
        Meta[] m = new Meta[2];
        int psize = 4096;
        for (int slot = 0; slot < 2; slot++) {
            long off = (long) slot * psize;
            if (off + 160 > size) {
                m[slot] = new Meta(slot, -1, psize, -1, null, null, "meta page " + slot + " lies past the end of the file");
                continue;
            }
            ByteBuffer b = slice(off, 160);
            int flags = u16(b, 10);
            int magic = b.getInt(16);
            int version = b.getInt(20);
            DbRecord free = DbRecord.read(b, 40);
            DbRecord main = DbRecord.read(b, 88);
            long mapSize = b.getLong(32);
            long lastPg = b.getLong(136);
            long txnid = b.getLong(144);
            int ps = b.getInt(40);
            String problem = null;
            if ((flags & P_META) == 0 || magic != MAGIC) {
                problem = "meta page " + slot + " is not an LMDB meta page";
            } else if (version != 1) {
                problem = "meta page " + slot + " has LMDB data version " + version;
            } else if (ps < 512 || ps > 65536 || Integer.bitCount(ps) != 1) {
                problem = "meta page " + slot + " names page size " + ps;
            } else if (lastPg < 1) {
                problem = "meta page " + slot + " names last page " + lastPg;
            } else if (mapSize < 0 || mapSize > MAX_MAP || lastPg >= mapSize / ps) {
                // liblmdb maps at least (last_pg + 1) pages: a bit flipped high in last_pg would
                // make it ask for more than the address space (ENOMEM, a refusal that is no
                // damage to StoreIndex). The LMDB that wrote the page kept last_pg below its map.
                problem = "meta page " + slot + " names last page " + lastPg + " beyond its map of " + mapSize + " bytes";
            } else if (!rootOk(main.root, lastPg) || !rootOk(free.root, lastPg)) {
                problem = "meta page " + slot + " names a root page out of range";
            } else if (!inFile(main.root, ps) || !inFile(free.root, ps)) {
                // last_pg itself may lie past the end: LMDB counts pages it allocated and freed again
                // within a transaction (loose pages) that it never writes; only pages a tree refers to must be there
                problem = "meta page " + slot + " names a root page past the end of the file (" + size / ps + " pages)";
            }
            if (slot == 0 && problem == null) {
                psize = ps;
            }
            m[slot] = new Meta(slot, txnid, ps, lastPg, free, main, problem);
        }
        return m;
    }

    private boolean inFile(long root, int ps) {
        return root == P_INVALID || (root + 1) * ps <= size;
    }

    private static boolean rootOk(long root, long lastPg) {
        return root == P_INVALID || (root >= 2 && root <= lastPg);
    }

    /** The meta with the given transaction id (the one a read transaction was given), or null. */
    public Meta meta(long txnid) {
        for (Meta m : metas()) {
            if (m.problem() == null && m.txnid() == txnid) {
                return m;
            }
        }
        return null;
    }

    /** The usable meta with the highest transaction id, or null if neither is usable. */
    public Meta newest() {
        Meta best = null;
        for (Meta m : metas()) {
            if (m.problem() == null && (best == null || m.txnid() > best.txnid())) {
                best = m;
            }
        }
        return best;
    }

    /** Walks the free list, the main database and every named database below meta. */
    public Walk walk(Meta meta, boolean collect, boolean sealed) {
        Walker w = new Walker(meta, collect, sealed);
        w.tree("(free list)", meta.free(), true);
        Map<String, DbRecord> named = new LinkedHashMap<>();
        w.named = named;
        w.tree("(main)", meta.main(), false);
        w.named = null;
        for (var e : named.entrySet()) {
            w.tree(e.getKey(), e.getValue(), false);
        }
        return w.out;
    }

    private final class Walker {
        final Meta meta;
        final int psize;
        final boolean collect;
        final boolean sealed;
        final BitSet seen = new BitSet();
        final Walk out = new Walk();
        Map<String, DbRecord> named; // non-null while walking the main database
        String db;
        boolean integerKeys;
        List<byte[][]> sink;
        long branch;
        long leaf;
        long overflow;
        long entries;
        boolean damaged;

        Walker(Meta meta, boolean collect, boolean sealed) {
            this.meta = meta;
            this.psize = meta.pageSize();
            this.collect = collect;
            this.sealed = sealed;
        }

        void tree(String name, DbRecord d, boolean integer) {
            db = name;
            integerKeys = integer;
            branch = leaf = overflow = entries = 0;
            damaged = false;
            sink = collect && named == null && !integer ? new ArrayList<>() : null;
            if (sink != null) {
                out.entries.put(name, sink);
            }
            if (named == null && !integer) {
                out.leafPages.put(name, new ArrayList<>());
            }
            rangeLo = null;
            rangeHi = null;
            if (d.root() != P_INVALID) {
                if (d.root() < 2 || d.root() > meta.lastPage()) {
                    damage("its root page " + d.root() + " is out of range");
                } else if (d.depth() < 1 || d.depth() > 32) {
                    damage("its record names depth " + d.depth());
                } else {
                    page(d.root(), 1, d.depth(), null, null);
                }
            }
            out.counts.put(name, new Count(entries, d.entries()));
            if (!damaged && (entries != d.entries() || branch != d.branchPages() || leaf != d.leafPages()
                    || overflow != d.overflowPages())) {
                damage("it holds " + entries + " entries in " + branch + "+" + leaf + "+" + overflow
                        + " pages, its record says " + d.entries() + " in " + d.branchPages() + "+" + d.leafPages() + "+"
                        + d.overflowPages());
            }
        }

        private void damage(String what) {
            damaged = true;
            out.damage.add("the '" + db + "' database: " + what);
            lose(null, null); // where the damage lies cannot be told
        }

        private void damage(long pgno, String what) {
            damaged = true;
            out.damage.add("page " + pgno + " of the '" + db + "' database: " + what);
            lose(rangeLo, rangeHi);
        }

        /** Entries in [lo, hi) could not be read. */
        private void lose(byte[] lo, byte[] hi) {
            out.lost.computeIfAbsent(db, k -> new ArrayList<>()).add(new byte[][] {lo, hi});
        }

        byte[] rangeLo; // key range of the page being checked (for the lost-range record)
        byte[] rangeHi;

        /** Checks page pgno at level (1 = root) and everything below it; keys must lie in [lo, hi). */
        void page(long pgno, int level, int depth, byte[] lo, byte[] hi) {
            rangeLo = lo;
            rangeHi = hi;
            if (pgno < 2 || pgno > meta.lastPage()) {
                damage(pgno, "page number out of range (last page " + meta.lastPage() + ")");
                return;
            }
            if ((pgno + 1) * psize > size) {
                damage(pgno, "page past the end of the file (" + size / psize + " pages)");
                return;
            }
            if (seen.get((int) pgno)) {
                damage(pgno, "reached twice");
                return;
            }
            seen.set((int) pgno);
            out.pages++;
            ByteBuffer p = slice(pgno * psize, psize);
            Page checked = Page.of(p);
            String bad = headerProblem(checked, pgno, psize, level == depth);
            if (bad != null) {
                damage(pgno, bad);
                return;
            }
            boolean isLeaf = level == depth;
            int lower = u16(p, 12);
            int upper = u16(p, 14);
            int n = (lower - PAGEHDRSZ) >> 1;
            byte[][] keys = new byte[n][];
            long[] children = isLeaf ? null : new long[n];
            byte[] prev = lo; // the bound the first key is checked against
            int prevOff = -1; // then the previous key, in place
            int prevLen = 0;
            List<byte[][]> found = new ArrayList<>(isLeaf ? n : 0);
            for (int i = 0; i < n; i++) {
                String badNode = nodeProblem(checked, i, upper, psize, isLeaf);
                if (badNode != null) {
                    damage(pgno, badNode);
                    return;
                }
                int ptr = u16(p, PAGEHDRSZ + 2 * i);
                int nlo = u16(p, ptr);
                int nhi = u16(p, ptr + 2);
                int nflags = u16(p, ptr + 4);
                int ksize = u16(p, ptr + 6);
                int koff = ptr + 8;
                boolean ignoreKey = !isLeaf && i == 0; // a branch's first key is implicit
                if (!ignoreKey) {
                    int c = prevOff >= 0 ? compare(p, koff, ksize, p, prevOff, prevLen)
                            : prev == null ? 1 : compare(p, koff, ksize, prev);
                    if (c < (isLeaf && i == 0 ? 0 : 1)) {
                        damage(pgno, "key " + i + " is out of order");
                        return;
                    }
                    if (hi != null && compare(p, koff, ksize, hi) >= 0) {
                        damage(pgno, "key " + i + " lies beyond its parent's range");
                        return;
                    }
                    prevOff = koff;
                    prevLen = ksize;
                }
                if (!isLeaf) {
                    keys[i] = bytes(p, koff, ksize);
                    children[i] = nlo | ((long) nhi << 16) | ((long) nflags << 32);
                    continue;
                }
                long dsize = nlo | ((long) nhi << 16);
                int voff = koff + ksize;
                boolean big = (nflags & F_BIGDATA) != 0;
                if (!big && sink == null && named == null && !integerKeys) {
                    // the common case, checked in place: no copies
                    if (sealed && !Seal.okAdjacent(p, koff, ksize, (int) dsize, crc, sealScratch)) {
                        damage(pgno, "entry " + i + " fails its checksum");
                        return;
                    }
                    continue;
                }
                byte[] key = bytes(p, koff, ksize);
                byte[] value = big ? overflow(pgno, p.getLong(voff), dsize) : bytes(p, voff, (int) dsize);
                if (value == null) {
                    return;
                }
                if ((nflags & F_SUBDATA) != 0) {
                    if (named == null || value.length != 48) {
                        damage(pgno, "node " + i + " is a sub-database record where none can be");
                        return;
                    }
                } else if (named != null) {
                    damage(pgno, "node " + i + " of the main database is not a database record");
                    return;
                } else if (sealed && !integerKeys && !Seal.ok(key, value)) {
                    damage(pgno, "entry " + i + " fails its checksum");
                    return;
                }
                found.add(new byte[][] {key, value});
            }
            if (isLeaf) {
                leaf++;
                entries += n;
                if (out.leafPages.containsKey(db)) {
                    out.leafPages.get(db).add(pgno);
                }
                for (byte[][] kv : found) {
                    if (named != null) {
                        named.put(new String(kv[0], StandardCharsets.UTF_8),
                                DbRecord.read(ByteBuffer.wrap(kv[1]).order(ByteOrder.LITTLE_ENDIAN), 0));
                    } else if (sink != null) {
                        sink.add(kv);
                    }
                }
                return;
            }
            branch++;
            for (int i = 0; i < n; i++) {
                page(children[i], level + 1, depth, i == 0 ? lo : keys[i], i + 1 < n ? keys[i + 1] : hi);
            }
        }

        private byte[] overflow(long from, long opg, long dsize) {
            if (opg < 2 || opg > meta.lastPage() || (opg + 1) * psize > size) {
                damage(from, "an overflow page number " + opg + " out of range");
                return null;
            }
            ByteBuffer h = slice(opg * psize, PAGEHDRSZ);
            long pages = h.getInt(12) & 0xFFFFFFFFL;
            if (h.getLong(0) != opg || (u16(h, 10) & P_OVERFLOW) == 0 || pages < 1
                    || pages * psize < dsize + PAGEHDRSZ || opg + pages - 1 > meta.lastPage() || (opg + pages) * psize > size
                    || dsize > Integer.MAX_VALUE - 64) {
                damage(opg, "a damaged overflow page (referred to by page " + from + ")");
                return null;
            }
            int first = seen.nextSetBit((int) opg);
            if (first >= 0 && first < opg + pages) {
                damage(opg, "overflow pages reached twice");
                return null;
            }
            seen.set((int) opg, (int) (opg + pages));
            overflow += pages;
            out.pages += pages;
            byte[] v = new byte[(int) dsize];
            copy(opg * psize + PAGEHDRSZ, v);
            return v;
        }

        private int compare(ByteBuffer p, int off, int len, byte[] b) {
            return compare(p, off, len, ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN), 0, b.length);
        }

        /** LMDB's key order: memcmp, shorter first on a tie; native u64 order for integer keys. */
        private int compare(ByteBuffer a, int aOff, int aLen, ByteBuffer b, int bOff, int bLen) {
            if (integerKeys && aLen == 8 && bLen == 8) {
                return Long.compareUnsigned(a.getLong(aOff), b.getLong(bOff));
            }
            int n = Math.min(aLen, bLen);
            for (int i = 0; i < n; i++) {
                int c = (a.get(aOff + i) & 0xFF) - (b.get(bOff + i) & 0xFF);
                if (c != 0) {
                    return c;
                }
            }
            return aLen - bLen;
        }

        private final java.util.zip.CRC32C crc = new java.util.zip.CRC32C(); // reused by every in-place seal check
        private final byte[] sealScratch = new byte[4096]; // a node of one page: Seal.okAdjacent
    }

    /** len bytes at off; the walk checks page numbers against the meta page before it asks. */
    private ByteBuffer slice(long off, int len) {
        ByteBuffer b = mapped.slice(off, len);
        if (b == null) {
            throw new IndexOutOfBoundsException("offset " + off + " + " + len + " lies past the end of " + mapped.file());
        }
        return b;
    }

    private void copy(long off, byte[] dst) {
        if (!mapped.copy(off, dst)) {
            throw new IndexOutOfBoundsException("offset " + off + " + " + dst.length + " lies past the end of " + mapped.file());
        }
    }

    private static byte[] bytes(ByteBuffer p, int off, int len) {
        byte[] b = new byte[len];
        p.get(off, b);
        return b;
    }

    /**
     * Null if page p's header is sound: it names itself pgno, it is a leaf (or a branch, as
     * expected) and its free-space bounds fit the page; else why not. Shared by the walk at open
     * and by SafeReader's lookups.
     */
    static String headerProblem(Page p, long pgno, int psize, boolean leaf) {
        if (p.s64(0) != pgno) {
            return "its header names page " + p.s64(0);
        }
        int flags = p.u16(10) & ~P_DIRTY;
        if (flags != (leaf ? P_LEAF : P_BRANCH)) {
            return "not the " + (leaf ? "leaf" : "branch") + " page its parent says (flags 0x" + Integer.toHexString(flags) + ")";
        }
        int lower = p.u16(12);
        int upper = p.u16(14);
        if (lower < PAGEHDRSZ + 2 || (lower & 1) != 0 || lower > upper || upper > psize) {
            return "bad free-space bounds " + lower + ".." + upper;
        }
        return null;
    }

    /**
     * Null if node i of a page with a sound header lies inside the page's node area with its key
     * and (on a leaf) its data or overflow page number, with no flags LMDB would not write for
     * cowfs's databases; else why not.
     */
    static String nodeProblem(Page p, int i, int upper, int psize, boolean leaf) {
        int ptr = p.u16(PAGEHDRSZ + 2 * i);
        if (ptr < upper || ptr + 8 > psize || (ptr & 1) != 0) {
            return "node " + i + " at offset " + ptr + " lies outside the page's node area";
        }
        int ksize = p.u16(ptr + 6);
        if (ksize > 511 || ptr + 8 + ksize > psize) {
            return "node " + i + " has a key of " + ksize + " bytes";
        }
        if (!leaf) {
            return null;
        }
        int nflags = p.u16(ptr + 4);
        if ((nflags & ~(F_BIGDATA | F_SUBDATA)) != 0) {
            return "node " + i + " has flags 0x" + Integer.toHexString(nflags);
        }
        long dsize = p.u16(ptr) | ((long) p.u16(ptr + 2) << 16);
        int voff = ptr + 8 + ksize;
        if ((nflags & F_BIGDATA) != 0 ? voff + 8 > psize : voff + dsize > psize) {
            return "node " + i + " has " + dsize + " bytes of data, more than the page holds";
        }
        return null;
    }

    static int u16(ByteBuffer b, int off) {
        return b.getShort(off) & 0xFFFF;
    }

    public Path file() {
        return mapped.file();
    }

    /** Unmaps at once (a mapping left to the GC would keep the index's pages in this process's RSS). */
    @Override
    public void close() throws IOException {
        mapped.close();
    }
}
