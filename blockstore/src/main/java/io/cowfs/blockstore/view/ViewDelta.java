package io.cowfs.blockstore.view;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.BigEndian;
import io.cowfs.blockstore.store.Db;
import io.cowfs.blockstore.store.StoreIndex;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.FileType;
import io.cowfs.blockstore.tree.Inode;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.lmdbjava.KeyRange;
import org.lmdbjava.Txn;

/**
 * A view's delta over its base snapshot, as kept in the {@code vinode}, {@code vdirent} and
 * {@code vblock} databases (key layouts in docs/FORMAT.md, "Views"). This class is the only
 * code that reads or writes those keys.
 */
public final class ViewDelta {
    /** Marks a deleted inode or a whiteout entry (an empty value). */
    public static final byte[] TOMBSTONE = new byte[0];
    /** vinode key (view, 0) holds the next free inode number. */
    private static final long NEXT_INO_SLOT = 0;

    private final StoreIndex index;

    public ViewDelta(StoreIndex index) {
        this.index = index;
    }

    /** The whole delta of a view, decoded: what a mount loads and what a freeze reads. */
    public static final class State {
        public long nextIno;
        /** Changed or new inodes; a null value is a deleted base inode. */
        public final Map<Long, Inode> inodes = new HashMap<>();
        /** Per directory: names added or replaced (an entry) or removed (null). */
        public final Map<Long, TreeMap<String, DirObject.Entry>> dirents = new HashMap<>();
        /** Per file: block overrides; a null value is a hole. */
        public final Map<Long, TreeMap<Long, ChunkId>> blocks = new HashMap<>();
        /**
         * The overrides above that are sub-block deltas ({@link SubBlock}), each with the chunk it
         * applies to: a whole chunk, or (a chained delta, format 5) a delta that is a key here too.
         * A reader of {@link #blocks} must apply these, never read them as data.
         */
        public final Map<ChunkId, ChunkId> deltaBases = new HashMap<>();
    }

    public State load(Txn<byte[]> txn, long view) {
        State s = new State();
        byte[] lo = BigEndian.longKey(view);
        byte[] hi = BigEndian.longKey(view + 1);
        s.nextIno = loadInodes(txn, view, s.inodes);
        for (var kv : index.vdirent.iterate(txn, KeyRange.closedOpen(lo, hi))) {
            long dir = BigEndian.getLong(kv.key(), 8);
            String name = new String(kv.key(), 16, kv.key().length - 16, StandardCharsets.UTF_8);
            byte[] v = kv.val();
            DirObject.Entry e = v.length == 0 ? null : new DirObject.Entry(BigEndian.getLong(v, 0), FileType.ofCode(v[8]));
            s.dirents.computeIfAbsent(dir, k -> new TreeMap<>()).put(name, e);
        }
        for (var kv : index.vblock.iterate(txn, KeyRange.closedOpen(lo, hi))) {
            long ino = BigEndian.getLong(kv.key(), 8);
            long idx = BigEndian.getLong(kv.key(), 16);
            byte[] v = kv.val();
            ChunkId id = v.length == 0 ? null : ChunkId.of(Arrays.copyOf(v, ChunkId.LENGTH));
            // a sub-block delta, then what it applies to: its base (format 3), or the deltas of
            // its chain down to the whole chunk under them (format 5)
            for (int at = 0; at + 2 * ChunkId.LENGTH <= v.length; at += ChunkId.LENGTH) {
                ChunkId delta = at == 0 ? id : ChunkId.of(Arrays.copyOfRange(v, at, at + ChunkId.LENGTH));
                s.deltaBases.put(delta, ChunkId.of(Arrays.copyOfRange(v, at + ChunkId.LENGTH, at + 2 * ChunkId.LENGTH)));
            }
            s.blocks.computeIfAbsent(ino, k -> new TreeMap<>()).put(idx, id);
        }
        return s;
    }

    /**
     * The view's changed inodes only (null: deleted), into inodes; returns the next inode number
     * recorded (0 if none). What a view's size needs (list, show), without its names and blocks.
     */
    public long loadInodes(Txn<byte[]> txn, long view, java.util.Map<Long, Inode> inodes) {
        long next = 0;
        for (var kv : index.vinode.iterate(txn, KeyRange.closedOpen(BigEndian.longKey(view), BigEndian.longKey(view + 1)))) {
            long ino = BigEndian.getLong(kv.key(), 8);
            if (ino == NEXT_INO_SLOT) {
                next = BigEndian.getLong(kv.val(), 0);
            } else {
                inodes.put(ino, kv.val().length == 0 ? null : Inode.decode(ino, kv.val()));
            }
        }
        return next;
    }

    public void setNextIno(Txn<byte[]> txn, long view, long next) {
        index.vinode.put(txn, BigEndian.longKey(view, NEXT_INO_SLOT), BigEndian.longKey(next));
    }

    /** The inode the view's delta records, or null if it records none or a deletion (tombstone). */
    public Inode inode(Txn<byte[]> txn, long view, long ino) {
        byte[] v = index.vinode.get(txn, BigEndian.longKey(view, ino));
        return v == null || v.length == 0 ? null : Inode.decode(ino, v);
    }

    public void putInode(Txn<byte[]> txn, long view, Inode n) {
        index.vinode.put(txn, BigEndian.longKey(view, n.ino), n.encode());
    }

    /** Records that a base inode is gone (a tombstone), or forgets a view-created one. */
    public void deleteInode(Txn<byte[]> txn, long view, long ino, boolean inBase) {
        if (inBase) {
            index.vinode.put(txn, BigEndian.longKey(view, ino), TOMBSTONE);
        } else {
            index.vinode.delete(txn, BigEndian.longKey(view, ino));
        }
        deleteBlocksFrom(txn, view, ino, 0);
    }

    private static byte[] direntKey(long view, long dir, String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        byte[] k = Arrays.copyOf(BigEndian.longKey(view, dir), 16 + n.length);
        System.arraycopy(n, 0, k, 16, n.length);
        return k;
    }

    /** Sets a name in a directory (entry), or whites it out (null). */
    public void putDirent(Txn<byte[]> txn, long view, long dir, String name, DirObject.Entry e) {
        byte[] v;
        if (e == null) {
            v = TOMBSTONE;
        } else {
            v = Arrays.copyOf(BigEndian.longKey(e.ino()), 9);
            v[8] = (byte) e.type().code;
        }
        index.vdirent.put(txn, direntKey(view, dir, name), v);
    }

    /** Forgets a delta entry for a name (used when a view-created directory is removed). */
    public void dropDirent(Txn<byte[]> txn, long view, long dir, String name) {
        index.vdirent.delete(txn, direntKey(view, dir, name));
    }

    public void dropDir(Txn<byte[]> txn, long view, long dir) {
        deleteRange(txn, index.vdirent, BigEndian.longKey(view, dir), BigEndian.longKey(view, dir + 1));
    }

    public void putBlock(Txn<byte[]> txn, long view, long ino, long idx, ChunkId id) {
        putBlock(txn, view, ino, idx, id, java.util.List.of());
    }

    /**
     * Sets a block override: a whole chunk (below empty), a sub-block delta (below: the chunk it
     * applies to, and if that is a delta too (format 5) the rest of the chain down to the whole
     * chunk; stores of format 3 and later only), or a hole (id null).
     */
    public void putBlock(Txn<byte[]> txn, long view, long ino, long idx, ChunkId id, java.util.List<ChunkId> below) {
        byte[] v;
        if (id == null) {
            v = TOMBSTONE;
        } else {
            v = Arrays.copyOf(id.bytes(), (1 + below.size()) * ChunkId.LENGTH);
            for (int i = 0; i < below.size(); i++) {
                System.arraycopy(below.get(i).bytes(), 0, v, (1 + i) * ChunkId.LENGTH, ChunkId.LENGTH);
            }
        }
        index.vblock.put(txn, BigEndian.longKey(view, ino, idx), v);
    }

    /**
     * A block override as stored: the chunk, then (a sub-block delta) what it applies to down to
     * the whole chunk (empty list: a hole); null if the view has no override for the block.
     */
    public java.util.List<ChunkId> block(Txn<byte[]> txn, long view, long ino, long idx) {
        byte[] v = index.vblock.get(txn, BigEndian.longKey(view, ino, idx));
        if (v == null) {
            return null;
        }
        java.util.List<ChunkId> ids = new java.util.ArrayList<>(v.length / ChunkId.LENGTH);
        for (int at = 0; at + ChunkId.LENGTH <= v.length; at += ChunkId.LENGTH) {
            ids.add(ChunkId.of(Arrays.copyOfRange(v, at, at + ChunkId.LENGTH)));
        }
        return ids;
    }

    public void deleteBlocksFrom(Txn<byte[]> txn, long view, long ino, long fromIdx) {
        deleteRange(txn, index.vblock, BigEndian.longKey(view, ino, fromIdx), BigEndian.longKey(view, ino + 1, 0));
    }

    /** Removes the whole delta of a view. */
    public void drop(Txn<byte[]> txn, long view) {
        byte[] lo = BigEndian.longKey(view);
        byte[] hi = BigEndian.longKey(view + 1);
        deleteRange(txn, index.vinode, lo, hi);
        deleteRange(txn, index.vdirent, lo, hi);
        deleteRange(txn, index.vblock, lo, hi);
    }

    private static void deleteRange(Txn<byte[]> txn, io.cowfs.blockstore.store.Table db, byte[] lo, byte[] hi) {
        java.util.List<byte[]> keys = new java.util.ArrayList<>();
        for (var kv : db.iterate(txn, KeyRange.closedOpen(lo, hi))) {
            keys.add(kv.key());
        }
        for (byte[] k : keys) {
            db.delete(txn, k);
        }
    }

    /**
     * Inodes of a view whose delta entries may have been lost with damaged index pages (a
     * salvaged index): null if none. Reading such an inode must fail rather than show the base
     * snapshot's bytes where the view had changed them.
     */
    public static java.util.function.LongPredicate lostInodes(StoreIndex index, long viewId) {
        java.util.List<long[]> spans = new java.util.ArrayList<>();
        for (Db db : Db.OF_VIEWS) {
            for (byte[][] r : index.read(txn -> index.lost(txn, db))) {
                long vLo = part(r[0], 0, 0);
                long iLo = part(r[0], 8, 0);
                long vHi = part(r[1], 0, -1);
                long iHi = part(r[1], 8, -1);
                if (Long.compareUnsigned(viewId, vLo) < 0 || Long.compareUnsigned(viewId, vHi) > 0) {
                    continue;
                }
                spans.add(new long[] {viewId == vLo ? iLo : 0, viewId == vHi ? iHi : -1});
            }
        }
        if (spans.isEmpty()) {
            return null;
        }
        return ino -> spans.stream().anyMatch(sp -> Long.compareUnsigned(ino, sp[0]) >= 0 && Long.compareUnsigned(ino, sp[1]) <= 0);
    }

    /** The u64 at off of a range bound; missing bytes read as pad (0 for a lower bound, 0xFF.. for an upper). */
    private static long part(byte[] key, int off, long unbounded) {
        if (key == null) {
            return unbounded;
        }
        long v = 0;
        for (int i = 0; i < 8; i++) {
            int b = off + i < key.length ? key[off + i] & 0xFF : (unbounded == 0 ? 0 : 0xFF);
            v = (v << 8) | b;
        }
        return v;
    }
}
