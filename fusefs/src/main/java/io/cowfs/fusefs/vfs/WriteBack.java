package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotReader;
import io.cowfs.blockstore.view.ViewDelta;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * File data of one view: blocks written but not yet stored (dirty, one block each, zero past
 * EOF), the view's block overrides over the base snapshot's block lists, and {@link #persist},
 * which stores dirty blocks and writes every pending change (namespace, attributes, block
 * overrides) to the view's delta in one LMDB transaction.
 *
 * <p>Durability: a file's recorded size never runs ahead of its stored data ({@link #durableSize}:
 * a crash shows old bytes or new ones, never zeros, as ext4's data=ordered does). Data of one
 * file is stored on its flush/fsync, or when unstored data passes {@link ViewFs#DIRTY_LIMIT}.
 *
 * <p>Locking: every field is guarded by the owning {@link ViewFs}'s lock (read lock to read,
 * write lock to change); store I/O for reads happens under the read lock only.
 */
final class WriteBack {
    /** {@link #persist(Long)}: namespace and attributes only, no file data. */
    static final Long METADATA_ONLY = -1L;

    private final Store store;
    private final SnapshotReader base;
    private final ViewDelta deltaDb;
    private final long viewId;
    private final int bs;
    private final ViewNamespace ns;

    /** Block overrides per file, persisted or {@link #pending}; a null value is a hole. */
    private final Map<Long, TreeMap<Long, ChunkId>> overrides = new HashMap<>(); // guarded by lock
    /** Overrides set without data (punched holes, shared blocks) and not yet persisted. */
    private final Map<Long, TreeSet<Long>> pending = new HashMap<>(); // guarded by lock
    /** Written, not yet persisted blocks (each exactly one block long, zero past EOF). */
    private final Map<Long, TreeMap<Long, byte[]>> dirty = new HashMap<>(); // guarded by lock
    private long dirtyBytes; // guarded by lock
    /** Files whose persisted block overrides at or past this index must be dropped. */
    private final Map<Long, Long> truncatedFrom = new HashMap<>(); // guarded by lock
    /** Size of each changed file as last recorded together with its data (see persist). */
    private final Map<Long, Long> durableSize = new HashMap<>(); // guarded by lock

    WriteBack(Store store, SnapshotReader base, long viewId, ViewNamespace ns) {
        this.store = store;
        this.base = base;
        this.deltaDb = new ViewDelta(store.index());
        this.viewId = viewId;
        this.bs = store.blockSize();
        this.zeros = new byte[bs];
        this.ns = ns;
    }

    void load(ViewDelta.State s) {
        s.inodes.forEach((ino, n) -> {
            if (n != null) {
                durableSize.put(ino, n.size);
            }
        });
        overrides.putAll(s.blocks);
    }

    int blockSize() {
        return bs;
    }

    private long durableSize(long ino) {
        Long d = durableSize.get(ino);
        if (d != null) {
            return d;
        }
        Inode b = base.inode(ino);
        return b == null ? 0 : b.size;
    }

    /** The inode was deleted: its data goes. */
    void forget(long ino) {
        if (dirty.remove(ino) != null) {
            recountDirty();
        }
        overrides.remove(ino);
        pending.remove(ino);
        truncatedFrom.put(ino, 0L);
    }

    /** Drops a file's unstored data (after its store failed: the writer was told ENOSPC). */
    void dropDirty(long ino) {
        if (dirty.remove(ino) != null) {
            recountDirty();
        }
    }

    private void recountDirty() {
        long n = 0;
        for (TreeMap<Long, byte[]> m : dirty.values()) {
            n += (long) m.size() * bs;
        }
        dirtyBytes = n;
    }

    // ------------------------------------------------------------------ block map

    /** The bytes of block idx (dirty or stored), null for a hole. Lock held. */
    byte[] blockData(long ino, Inode n, long idx) {
        TreeMap<Long, byte[]> d = dirty.get(ino);
        if (d != null) {
            byte[] b = d.get(idx);
            if (b != null) {
                return b;
            }
        }
        ChunkId id = storedBlock(ino, n, idx);
        return id == null ? null : store.get(id);
    }

    /** The stored chunk of block idx (override or base), null for a hole. Lock held. */
    ChunkId storedBlock(long ino, Inode n, long idx) {
        TreeMap<Long, ChunkId> ov = overrides.get(ino);
        if (ov != null && ov.containsKey(idx)) {
            return ov.get(idx);
        }
        return base.block(n, idx);
    }

    /** True if this view changed the file's blocks (written, shared in, punched) since it was opened. Lock held. */
    boolean touched(long ino) {
        return dirty.containsKey(ino) || overrides.containsKey(ino);
    }

    /**
     * True if block idx is known to be a hole: punched in this view, or a hole in the snapshot's
     * block list, and not written since. A block past what the vfs has seen of a file may still
     * be in the kernel's writeback cache, so it is not a known hole. Lock held.
     */
    boolean isKnownHole(long ino, Inode n, long idx) {
        if (isDirty(ino, idx)) {
            return false;
        }
        TreeMap<Long, ChunkId> ov = overrides.get(ino);
        if (ov != null && ov.containsKey(idx)) {
            return ov.get(idx) == null;
        }
        return base.listsHole(n, idx);
    }

    boolean isDirty(long ino, long idx) {
        TreeMap<Long, byte[]> d = dirty.get(ino);
        return d != null && d.containsKey(idx);
    }

    /** Block idx holds data: it is dirty, or stored as a chunk (not as a hole). Lock held. */
    boolean isData(long ino, Inode n, long idx) {
        return isDirty(ino, idx) || storedBlock(ino, n, idx) != null;
    }

    /** Makes block idx the given stored chunk (null: a hole) without data; persisted with the file's data. */
    void setStored(long ino, long idx, ChunkId id) {
        TreeMap<Long, byte[]> d = dirty.get(ino);
        if (d != null && d.remove(idx) != null) {
            dirtyBytes -= bs;
        }
        overrides.computeIfAbsent(ino, k -> new TreeMap<>()).put(idx, id);
        pending.computeIfAbsent(ino, k -> new TreeSet<>()).add(idx);
    }

    // ------------------------------------------------------------------ data (lock held)

    /** Reads up to len bytes at off of a regular file n; returns the count placed in out. Read lock held. */
    int read(long ino, Inode n, long off, byte[] out, int outOff, int len) {
        return read(ino, n, off, ByteBuffer.wrap(out), outOff, len);
    }

    /**
     * Reads up to len bytes at off of a regular file n into out at outPos (out's position and
     * limit are not used); returns the count. Stored blocks are copied from the store's block
     * cache straight into out (a reply's native buffer, for the kernel adapter). Read lock held.
     */
    int read(long ino, Inode n, long off, ByteBuffer out, int outPos, int len) {
        if (off >= n.size || len <= 0) {
            return 0;
        }
        int total = (int) Math.min(len, n.size - off);
        TreeMap<Long, byte[]> d = dirty.get(ino);
        int done = 0;
        while (done < total) {
            long pos = off + done;
            long idx = pos / bs;
            int inBlock = (int) (pos % bs);
            int chunk = Math.min(total - done, bs - inBlock);
            byte[] b = d == null ? null : d.get(idx);
            int avail;
            if (b != null) {
                avail = Math.max(0, Math.min(chunk, b.length - inBlock));
                out.put(outPos + done, b, inBlock, avail);
            } else {
                ChunkId id = storedBlock(ino, n, idx);
                avail = id == null ? 0 : store.read(id, inBlock, out, outPos + done, chunk);
            }
            if (avail < chunk) {
                out.put(outPos + done + avail, zeros, 0, chunk - avail);
            }
            done += chunk;
        }
        return total;
    }

    /** A block of zeros: what a hole, or the part of a block past its chunk's end, reads as. */
    private final byte[] zeros;

    /** Writes len bytes of data[dataOff..] at off (copy-on-write of the blocks touched). Write lock held. */
    void write(long ino, Inode cur, long off, byte[] data, int dataOff, int len) {
        TreeMap<Long, byte[]> d = dirty.computeIfAbsent(ino, k -> new TreeMap<>());
        int done = 0;
        while (done < len) {
            long pos = off + done;
            long idx = pos / bs;
            int inBlock = (int) (pos % bs);
            int chunk = Math.min(len - done, bs - inBlock);
            byte[] b = d.get(idx);
            if (b == null) {
                b = new byte[bs];
                if (chunk < bs && idx * bs < cur.size) {
                    byte[] old = blockData(ino, cur, idx);
                    if (old != null) {
                        System.arraycopy(old, 0, b, 0, Math.min(old.length, bs));
                    }
                }
                d.put(idx, b);
                dirtyBytes += bs;
            }
            System.arraycopy(data, dataOff + done, b, inBlock, chunk);
            done += chunk;
        }
        Inode n = ns.mutable(ino);
        n.size = Math.max(n.size, off + len);
        n.mtimeNs = n.ctimeNs = ViewNamespace.now();
        // setuid/setgid are not cleared here: only the kernel knows whether the writer has
        // CAP_FSETID, and without handle_killpriv it sends the mode change itself
        if (dirtyBytes > ViewFs.DIRTY_LIMIT) {
            try {
                persist(ino); // this file first: the one being written is the likely culprit
                if (dirtyBytes > ViewFs.DIRTY_LIMIT) {
                    persist(null);
                }
            } catch (StoreException.StoreFullException e) {
                dropDirty(ino);
                throw e;
            }
        }
    }

    /** Sets a regular file's size; bytes past a smaller size are gone for good. Write lock held. */
    void truncate(long ino, Inode cur, long size) {
        if (size < cur.size) {
            long keep = (size + bs - 1) / bs;
            int tail = (int) (size % bs);
            byte[] last = null;
            if (tail != 0) {
                byte[] old = blockData(ino, cur, size / bs);
                last = new byte[bs];
                if (old != null) {
                    System.arraycopy(old, 0, last, 0, Math.min(tail, old.length));
                }
            }
            TreeMap<Long, byte[]> d = dirty.get(ino);
            if (d != null) {
                d.tailMap(keep, true).clear();
            }
            TreeMap<Long, ChunkId> ov = overrides.get(ino);
            if (ov != null) {
                ov.tailMap(keep, true).clear();
            }
            TreeSet<Long> p = pending.get(ino);
            if (p != null) {
                p.tailSet(keep, true).clear();
            }
            truncatedFrom.merge(ino, keep, Math::min);
            Inode n = ns.mutable(ino);
            n.validBlocks = Math.min(n.validBlocks, keep);
            if (last != null) {
                dirty.computeIfAbsent(ino, k -> new TreeMap<>()).put(size / bs, last);
            }
            recountDirty();
        }
        Inode n = ns.mutable(ino);
        n.size = size;
        n.mtimeNs = n.ctimeNs = ViewNamespace.now();
    }

    /**
     * Makes [from, to) of a regular file read as zeros (the range lies within its size): blocks
     * wholly inside become holes, the partial blocks at the edges get zeros written. Write lock held.
     */
    void zero(long ino, Inode cur, long from, long to) {
        if (from >= to) {
            return;
        }
        long firstWhole = (from + bs - 1) / bs;
        long endWhole = to / bs;
        if (firstWhole >= endWhole) {
            writeZeros(ino, from, to);
            return;
        }
        writeZeros(ino, from, firstWhole * bs);
        for (long idx = firstWhole; idx < endWhole; idx++) {
            if (isData(ino, cur, idx)) {
                setStored(ino, idx, null);
            }
        }
        writeZeros(ino, endWhole * bs, to);
        Inode n = ns.mutable(ino);
        n.mtimeNs = n.ctimeNs = ViewNamespace.now();
    }

    private void writeZeros(long ino, long from, long to) {
        byte[] zeros = new byte[(int) Math.min(bs, Math.max(0, to - from))];
        for (long pos = from; pos < to; ) {
            int len = (int) Math.min(to - pos, bs - pos % bs);
            write(ino, ns.inode(ino), pos, zeros, 0, len);
            pos += len;
        }
    }

    // ------------------------------------------------------------------ persistence (write lock held)

    /** Stores each block (trimmed to the file size; all-zero blocks are holes, null). */
    private ChunkId[] storeBlocks(List<Map.Entry<Long, byte[]>> blocks, long size) {
        ChunkId[] ids = new ChunkId[blocks.size()];
        for (int i = 0; i < ids.length; i++) {
            Map.Entry<Long, byte[]> b = blocks.get(i);
            int len = (int) Math.min(bs, size - b.getKey() * bs);
            ids[i] = Store.isZero(b.getValue(), 0, len) ? null : store.put(b.getValue(), 0, len);
        }
        return ids;
    }

    private boolean hasData(Long dataOf) {
        if (dataOf == null) {
            return !dirty.isEmpty() || !pending.isEmpty();
        }
        return dirty.containsKey(dataOf) || pending.containsKey(dataOf);
    }

    /**
     * Writes unpersisted changes to the store in one transaction: every namespace and attribute
     * change, plus the data of one file (dataOf), of every file (null), or of none
     * ({@link #METADATA_ONLY}). Data of other files stays in memory until their own close, so a
     * file that cannot be stored (ENOSPC) never blocks the others.
     */
    void persist(Long dataOf) {
        if (ns.dirtyInodes.isEmpty() && ns.dirtyNames.isEmpty() && !hasData(dataOf) && truncatedFrom.isEmpty()) {
            return;
        }
        Set<Long> deferred = new HashSet<>();
        for (long ino : dirty.keySet()) {
            if (dataOf != null && !dataOf.equals(ino)) {
                deferred.add(ino);
            }
        }
        for (long ino : pending.keySet()) {
            if (dataOf != null && !dataOf.equals(ino)) {
                deferred.add(ino);
            }
        }
        Map<Long, TreeMap<Long, ChunkId>> newBlocks = new HashMap<>();
        for (Map.Entry<Long, TreeMap<Long, byte[]>> f : dirty.entrySet()) {
            if (dataOf != null && !dataOf.equals(f.getKey())) {
                continue;
            }
            Inode n = ns.changed.get(f.getKey());
            if (n == null) {
                continue;
            }
            TreeMap<Long, ChunkId> out = new TreeMap<>();
            List<Map.Entry<Long, byte[]>> blocks = new ArrayList<>();
            for (Map.Entry<Long, byte[]> b : f.getValue().entrySet()) {
                if (Math.min(bs, n.size - b.getKey() * bs) > 0) {
                    blocks.add(b);
                }
            }
            ChunkId[] ids = storeBlocks(blocks, n.size);
            for (int i = 0; i < ids.length; i++) {
                out.put(blocks.get(i).getKey(), ids[i]);
            }
            newBlocks.put(f.getKey(), out);
        }
        store.commit(txn -> {
            deltaDb.setNextIno(txn, viewId, ns.nextIno);
            for (Map.Entry<Long, Long> t : truncatedFrom.entrySet()) {
                deltaDb.deleteBlocksFrom(txn, viewId, t.getKey(), t.getValue());
            }
            for (long ino : ns.dirtyInodes) {
                Inode n = ns.changed.get(ino);
                if (n == null) {
                    deltaDb.deleteInode(txn, viewId, ino, base.inode(ino) != null);
                    deltaDb.dropDir(txn, viewId, ino);
                } else if (deferred.contains(ino)) {
                    // its data stays in memory: record it no longer than its stored data, so that a
                    // crash shows old bytes or new ones, never zeros (as ext4's data=ordered does)
                    Inode capped = n.copy();
                    capped.size = Math.min(n.size, durableSize(ino));
                    deltaDb.putInode(txn, viewId, capped);
                } else {
                    deltaDb.putInode(txn, viewId, n);
                }
            }
            for (Map.Entry<Long, Set<String>> d : ns.dirtyNames.entrySet()) {
                TreeMap<String, DirObject.Entry> ov = ns.overlay.get(d.getKey());
                for (String name : d.getValue()) {
                    if (ov != null && ov.containsKey(name)) {
                        deltaDb.putDirent(txn, viewId, d.getKey(), name, ov.get(name));
                    } else {
                        deltaDb.dropDirent(txn, viewId, d.getKey(), name);
                    }
                }
            }
            for (Map.Entry<Long, TreeSet<Long>> p : pending.entrySet()) {
                if (deferred.contains(p.getKey())) {
                    continue;
                }
                TreeMap<Long, ChunkId> ov = overrides.get(p.getKey());
                for (long idx : p.getValue()) {
                    if (ov != null && ov.containsKey(idx)) {
                        deltaDb.putBlock(txn, viewId, p.getKey(), idx, ov.get(idx));
                    }
                }
            }
            for (Map.Entry<Long, TreeMap<Long, ChunkId>> f : newBlocks.entrySet()) {
                for (Map.Entry<Long, ChunkId> b : f.getValue().entrySet()) {
                    deltaDb.putBlock(txn, viewId, f.getKey(), b.getKey(), b.getValue());
                }
            }
            return null;
        });
        for (Map.Entry<Long, TreeMap<Long, ChunkId>> f : newBlocks.entrySet()) {
            overrides.computeIfAbsent(f.getKey(), k -> new TreeMap<>()).putAll(f.getValue());
        }
        if (dataOf == null) {
            dirty.clear();
            pending.clear();
        } else {
            dirty.remove(dataOf);
            pending.remove(dataOf);
        }
        recountDirty();
        for (long ino : ns.dirtyInodes) {
            Inode n = ns.changed.get(ino);
            if (n != null && !deferred.contains(ino)) {
                durableSize.put(ino, n.size);
            }
        }
        ns.dirtyInodes.retainAll(deferred); // written again, whole, with their data
        ns.dirtyNames.clear();
        truncatedFrom.clear();
    }

    /**
     * Persists one file's data (and all metadata). If its data cannot be stored because the
     * store's disk is full, that data is dropped and the error rethrown (ENOSPC), as close() on
     * NFS does: the writer hears of it, and the rest of the view goes on working.
     */
    void persistFile(long ino) {
        try {
            persist(ino);
        } catch (StoreException.StoreFullException e) {
            dropDirty(ino);
            throw e;
        }
    }
}
