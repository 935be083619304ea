package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.FileType;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotReader;
import io.cowfs.blockstore.tree.SnapshotRoot;
import io.cowfs.blockstore.view.ViewDelta;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

/**
 * The POSIX semantics of one mounted view (or, read-only, of one snapshot), addressed by inode
 * number. The base snapshot is read through a {@link SnapshotReader}; everything the view changed
 * is mirrored in memory (loaded at mount) and persisted to the view's delta in LMDB:
 * namespace and attribute changes at the end of each call, file data on flush/fsync/close and
 * whenever unpersisted data exceeds {@link #DIRTY_LIMIT}.
 *
 * <p>Locking: {@code lock} guards every mutable field below. Reads (getattr, lookup, readdir,
 * read) take the read lock and run concurrently; every change takes the write lock. Store I/O for
 * reads happens under the read lock only.
 */
public final class ViewFs implements NodeFs, AutoCloseable {
    /** Unpersisted file data above which a write persists it first (bounds a mount's memory). */
    public static final long DIRTY_LIMIT = Long.getLong("cowfs.dirtyLimit", 32L << 20);
    public static final int NAME_MAX = 255;
    public static final long OMIT = Long.MIN_VALUE;
    /** A utimens time meaning "the time of the call" (UTIME_NOW), the same for atime, mtime and ctime. */
    public static final long NOW = Long.MIN_VALUE + 1;
    public static final int XATTR_CREATE = 1;
    public static final int XATTR_REPLACE = 2;
    private static final int S_ISGID = 02000;
    private static final int S_ISUID = 04000;

    private final Store store;
    private final SnapshotReader base;
    private final long viewId;
    private final boolean readOnly;
    private final ViewDelta deltaDb;
    private final int bs;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();

    private long nextIno; // guarded by lock
    /** Current record of each inode that differs from the base; a null value is a deleted inode. */
    /** Inodes whose delta entries a damaged index lost (read-only salvage); null if none. Set once at open. */
    private java.util.function.LongPredicate lost;
    private final Map<Long, Inode> changed = new HashMap<>(); // guarded by lock
    /** Per directory, names that differ from the base; a null value is a removed name. */
    private final Map<Long, TreeMap<String, DirObject.Entry>> overlay = new HashMap<>(); // guarded by lock
    /** Persisted block overrides per file; a null value is a hole. */
    private final Map<Long, TreeMap<Long, ChunkId>> overrides = new HashMap<>(); // guarded by lock
    /** Written, not yet persisted blocks (each exactly one block long, zero past EOF). */
    private final Map<Long, TreeMap<Long, byte[]>> dirty = new HashMap<>(); // guarded by lock
    private long dirtyBytes; // guarded by lock
    private final Set<Long> dirtyInodes = new HashSet<>(); // guarded by lock
    private final Map<Long, Set<String>> dirtyNames = new HashMap<>(); // guarded by lock
    /** Files whose persisted block overrides at or past this index must be dropped. */
    private final Map<Long, Long> truncatedFrom = new HashMap<>(); // guarded by lock
    private final Map<Long, Integer> openCount = new HashMap<>(); // guarded by lock
    /** Size of each changed file as last recorded together with its data (see persist). */
    private final Map<Long, Long> durableSize = new HashMap<>(); // guarded by lock

    private long durableSize(long ino) {
        Long d = durableSize.get(ino);
        if (d != null) {
            return d;
        }
        Inode b = base.inode(ino);
        return b == null ? 0 : b.size;
    }
    /**
     * Per directory, the hidden names libfuse gave to open files it was asked to unlink or to
     * rename over (see {@link #isHiddenName}): resolvable (so fstat of such a file works and
     * shows nlink 0), never listed, never persisted (a crash leaves an inode with nlink 0,
     * reclaimed at the next mount).
     */
    private final Map<Long, Map<String, Long>> hidden = new HashMap<>(); // guarded by lock

    private ViewFs(Store store, SnapshotReader base, long viewId, boolean readOnly) {
        this.store = store;
        this.base = base;
        this.viewId = viewId;
        this.readOnly = readOnly;
        this.deltaDb = new ViewDelta(store.index());
        this.bs = store.blockSize();
    }

    /** A read-only filesystem over a snapshot. */
    public static ViewFs snapshot(Store store, ChunkId root) {
        ViewFs fs = new ViewFs(store, new SnapshotReader(store, root), 0, true);
        fs.nextIno = fs.base.maxIno() + 1;
        return fs;
    }

    /** A filesystem over a view: base snapshot plus the delta persisted so far. */
    public static ViewFs view(Store store, ChunkId baseRoot, long viewId, boolean readOnly) {
        ViewFs fs = new ViewFs(store, new SnapshotReader(store, baseRoot), viewId, readOnly);
        ViewDelta.State s = store.index().read(txn -> fs.deltaDb.load(txn, viewId));
        fs.nextIno = Math.max(s.nextIno, fs.base.maxIno() + 1);
        fs.changed.putAll(s.inodes);
        s.inodes.forEach((ino, n) -> {
            if (n != null) {
                fs.durableSize.put(ino, n.size);
            }
        });
        fs.overlay.putAll(s.dirents);
        fs.overrides.putAll(s.blocks);
        fs.lost = ViewDelta.lostInodes(store.index(), viewId);
        if (!readOnly) {
            fs.reclaimOrphans();
        }
        return fs;
    }

    public boolean readOnly() {
        return readOnly;
    }

    public long viewId() {
        return viewId;
    }

    public Store store() {
        return store;
    }

    // ------------------------------------------------------------------ helpers (lock held)

    private <T> T reading(Supplier<T> work) {
        lock.readLock().lock();
        try {
            return work.get();
        } catch (StoreException e) {
            throw storeError(e);
        } finally {
            lock.readLock().unlock();
        }
    }

    private <T> T changing(Supplier<T> work) {
        if (readOnly) {
            throw new FsException(Errno.EROFS, "read-only snapshot mount (fork it to write: cowfs fork)");
        }
        lock.writeLock().lock();
        try {
            T r = work.get();
            persist(METADATA_ONLY);
            return r;
        } catch (StoreException e) {
            throw storeError(e);
        } finally {
            lock.writeLock().unlock();
        }
    }

    private static FsException storeError(StoreException e) {
        if (e instanceof StoreException.StoreFullException) {
            return new FsException(Errno.ENOSPC, e.getMessage());
        }
        return new FsException(Errno.EIO, e.getMessage());
    }

    private static long now() {
        java.time.Instant i = java.time.Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    /** The current inode (shared when unchanged: do not modify), or ENOENT. */
    private Inode inode(long ino) {
        if (lost != null && lost.test(ino)) {
            throw new FsException(Errno.EIO, "inode " + ino + ": the view's changes to it lay on a damaged index page");
        }
        Inode n = changed.containsKey(ino) ? changed.get(ino) : base.inode(ino);
        if (n == null) {
            throw new FsException(Errno.ENOENT, "inode " + ino);
        }
        return n;
    }

    private Inode mutable(long ino) {
        Inode n = changed.get(ino);
        if (n == null) {
            n = inode(ino).copy();
            changed.put(ino, n);
        }
        dirtyInodes.add(ino);
        return n;
    }

    private Inode dirInode(long ino) {
        Inode d = inode(ino);
        if (d.type != FileType.DIRECTORY) {
            throw new FsException(Errno.ENOTDIR, "inode " + ino);
        }
        return d;
    }

    private DirObject.Entry entry(long dir, String name) {
        Inode d = dirInode(dir);
        if (isHiddenName(name)) {
            Map<String, Long> h = hidden.get(dir);
            Long ino = h == null ? null : h.get(name);
            if (ino != null) {
                Inode n = changed.containsKey(ino) ? changed.get(ino) : base.inode(ino);
                return n == null ? null : new DirObject.Entry(ino, n.type);
            }
        }
        TreeMap<String, DirObject.Entry> ov = overlay.get(dir);
        if (ov != null && ov.containsKey(name)) {
            return ov.get(name);
        }
        return base.dir(d.dirObject).get(name);
    }

    private void setEntry(long dir, String name, DirObject.Entry e) {
        Inode d = dirInode(dir);
        TreeMap<String, DirObject.Entry> ov = overlay.computeIfAbsent(dir, k -> new TreeMap<>());
        if (e == null && !base.dir(d.dirObject).containsKey(name)) {
            ov.remove(name);
        } else {
            ov.put(name, e);
        }
        dirtyNames.computeIfAbsent(dir, k -> new HashSet<>()).add(name);
        Inode m = mutable(dir);
        m.mtimeNs = m.ctimeNs = now();
    }

    private NavigableMap<String, DirObject.Entry> entries(long dir) {
        Inode d = dirInode(dir);
        NavigableMap<String, DirObject.Entry> b = base.dir(d.dirObject);
        TreeMap<String, DirObject.Entry> ov = overlay.get(dir);
        if (ov == null || ov.isEmpty()) {
            return b;
        }
        TreeMap<String, DirObject.Entry> all = new TreeMap<>(b);
        for (Map.Entry<String, DirObject.Entry> e : ov.entrySet()) {
            if (e.getValue() == null) {
                all.remove(e.getKey());
            } else {
                all.put(e.getKey(), e.getValue());
            }
        }
        return all;
    }

    /**
     * Without {@code hard_remove}, libfuse does not unlink an open file: it renames it to
     * {@code .fuse_hidden} + 16 hex digits in the same directory, and unlinks that name after the
     * last release. Keeping the node named is what lets the kernel's GETATTR of the open file
     * (fstat) reach us; this view makes such a rename an unlink whose inode stays reachable under
     * the hidden name only.
     */
    static boolean isHiddenName(String name) {
        if (name.length() != 28 || !name.startsWith(".fuse_hidden")) {
            return false;
        }
        for (int i = 12; i < 28; i++) {
            if (Character.digit(name.charAt(i), 16) < 0) {
                return false;
            }
        }
        return true;
    }

    static void checkName(String name) {
        if (name.isEmpty() || name.indexOf('/') >= 0 || name.indexOf('\0') >= 0) {
            throw new FsException(Errno.EINVAL, "bad name '" + name + "'");
        }
        if (name.getBytes(StandardCharsets.UTF_8).length > NAME_MAX) {
            throw new FsException(Errno.ENAMETOOLONG, name.substring(0, 32) + "...");
        }
    }

    private void deleteInode(long ino) {
        boolean inBase = base.inode(ino) != null;
        if (inBase) {
            changed.put(ino, null);
        } else {
            changed.remove(ino);
        }
        dirtyInodes.add(ino);
        if (dirty.remove(ino) != null) {
            recountDirty();
        }
        overrides.remove(ino);
        overlay.remove(ino);
        hidden.remove(ino);
        truncatedFrom.put(ino, 0L);
    }

    private void recountDirty() {
        long n = 0;
        for (TreeMap<Long, byte[]> m : dirty.values()) {
            n += (long) m.size() * bs;
        }
        dirtyBytes = n;
    }

    private void reclaimOrphans() {
        lock.writeLock().lock();
        try {
            List<Long> orphans = new ArrayList<>();
            for (Map.Entry<Long, Inode> e : changed.entrySet()) {
                if (e.getValue() != null && e.getValue().nlink == 0) {
                    orphans.add(e.getKey());
                }
            }
            orphans.forEach(this::deleteInode);
            persist(METADATA_ONLY);
        } finally {
            lock.writeLock().unlock();
        }
    }

    // ------------------------------------------------------------------ persistence

    /**
     * Hash and compress a flush's blocks on every core. Off by default: measured no faster
     * (writes are bound by GC of on-heap dirty blocks, docs/PERFORMANCE.md) and it makes the order
     * of records in a pack depend on scheduling.
     */
    static final boolean PARALLEL_FLUSH = Boolean.getBoolean("cowfs.parallelFlush");

    private static final java.util.concurrent.ExecutorService HASHERS = java.util.concurrent.Executors.newFixedThreadPool(
            Math.max(1, Runtime.getRuntime().availableProcessors()), r -> {
                Thread t = new Thread(r, "cowfs-flush");
                t.setDaemon(true);
                return t;
            });

    /** Stores each block (trimmed to the file size; all-zero blocks are holes, null). Write lock held. */
    private ChunkId[] storeBlocks(List<Map.Entry<Long, byte[]>> blocks, long size) {
        ChunkId[] ids = new ChunkId[blocks.size()];
        java.util.function.IntConsumer one = i -> {
            Map.Entry<Long, byte[]> b = blocks.get(i);
            int len = (int) Math.min(bs, size - b.getKey() * bs);
            ids[i] = Store.isZero(b.getValue(), 0, len) ? null : store.put(b.getValue(), 0, len);
        };
        if (!PARALLEL_FLUSH || blocks.size() < 4) {
            for (int i = 0; i < ids.length; i++) {
                one.accept(i);
            }
            return ids;
        }
        List<java.util.concurrent.Future<?>> fs = new ArrayList<>();
        for (int i = 0; i < ids.length; i++) {
            int k = i;
            fs.add(HASHERS.submit(() -> one.accept(k)));
        }
        for (java.util.concurrent.Future<?> fut : fs) {
            try {
                fut.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new StoreException("interrupted while storing blocks");
            } catch (java.util.concurrent.ExecutionException e) {
                if (e.getCause() instanceof RuntimeException r) {
                    throw r;
                }
                throw new StoreException(String.valueOf(e.getCause()), e.getCause());
            }
        }
        return ids;
    }

    /** {@link #persist(Long)}: namespace and attributes only, no file data. */
    private static final Long METADATA_ONLY = -1L;

    /**
     * Writes unpersisted changes to the store in one transaction: every namespace and attribute
     * change, plus the data of one file (dataOf), of every file (null), or of none
     * ({@link #METADATA_ONLY}). Data of other files stays in memory until their own close, so a
     * file that cannot be stored (ENOSPC) never blocks the others. Write lock held.
     */
    private void persist(Long dataOf) {
        boolean hasData = dataOf == null ? !dirty.isEmpty() : dirty.containsKey(dataOf);
        if (dirtyInodes.isEmpty() && dirtyNames.isEmpty() && !hasData && truncatedFrom.isEmpty()) {
            return;
        }
        Set<Long> deferred = new HashSet<>();
        for (long ino : dirty.keySet()) {
            if (dataOf != null && !dataOf.equals(ino)) {
                deferred.add(ino);
            }
        }
        Map<Long, TreeMap<Long, ChunkId>> newBlocks = new HashMap<>();
        for (Map.Entry<Long, TreeMap<Long, byte[]>> f : dirty.entrySet()) {
            if (dataOf != null && !dataOf.equals(f.getKey())) {
                continue;
            }
            Inode n = changed.get(f.getKey());
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
            deltaDb.setNextIno(txn, viewId, nextIno);
            for (Map.Entry<Long, Long> t : truncatedFrom.entrySet()) {
                deltaDb.deleteBlocksFrom(txn, viewId, t.getKey(), t.getValue());
            }
            for (long ino : dirtyInodes) {
                Inode n = changed.get(ino);
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
            for (Map.Entry<Long, Set<String>> d : dirtyNames.entrySet()) {
                TreeMap<String, DirObject.Entry> ov = overlay.get(d.getKey());
                for (String name : d.getValue()) {
                    if (ov != null && ov.containsKey(name)) {
                        deltaDb.putDirent(txn, viewId, d.getKey(), name, ov.get(name));
                    } else {
                        deltaDb.dropDirent(txn, viewId, d.getKey(), name);
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
        } else {
            dirty.remove(dataOf);
        }
        recountDirty();
        for (long ino : dirtyInodes) {
            Inode n = changed.get(ino);
            if (n != null && !deferred.contains(ino)) {
                durableSize.put(ino, n.size);
            }
        }
        dirtyInodes.retainAll(deferred); // written again, whole, with their data
        dirtyNames.clear();
        truncatedFrom.clear();
    }

    /** Persists everything now (the snapshot command asks a mounted view for this). */
    public void persistAll() {
        if (readOnly) {
            return;
        }
        lock.writeLock().lock();
        try {
            persist(null);
        } catch (StoreException e) {
            throw storeError(e);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Persists one file's data (and all metadata). If its data cannot be stored because the
     * store's disk is full, that data is dropped and ENOSPC returned, as close() on NFS does:
     * the writer hears of it, and the rest of the view goes on working.
     */
    private void persistFile(long ino) {
        if (readOnly) {
            return;
        }
        lock.writeLock().lock();
        try {
            persist(ino);
        } catch (StoreException.StoreFullException e) {
            if (dirty.remove(ino) != null) {
                recountDirty();
            }
            throw storeError(e);
        } catch (StoreException e) {
            throw storeError(e);
        } finally {
            lock.writeLock().unlock();
        }
    }

    // ------------------------------------------------------------------ paths

    /** Resolves an absolute path (no symlinks followed: the kernel resolves those). */
    public long resolve(String path) {
        return reading(() -> resolveLocked(path));
    }

    private long resolveLocked(String path) {
        long ino = SnapshotRoot.ROOT_INO;
        int i = 1;
        int n = path.length();
        while (i < n) {
            int j = path.indexOf('/', i);
            if (j < 0) {
                j = n;
            }
            if (j > i) {
                String name = path.substring(i, j);
                checkName(name);
                DirObject.Entry e = entry(ino, name);
                if (e == null) {
                    throw new FsException(Errno.ENOENT, path);
                }
                ino = e.ino();
            }
            i = j + 1;
        }
        return ino;
    }

    /** Splits a path into its parent's inode and its last name. */
    public record Parent(long dir, String name) {
    }

    public Parent parent(String path) {
        int k = path.lastIndexOf('/');
        String dir = k <= 0 ? "/" : path.substring(0, k);
        String name = path.substring(k + 1);
        checkName(name);
        return new Parent(resolve(dir), name);
    }

    // ------------------------------------------------------------------ attributes

    public Stat getattr(long ino) {
        return reading(() -> stat(inode(ino)));
    }

    private Stat stat(Inode n) {
        long size = n.size;
        long blocks = n.type == FileType.DIRECTORY ? (size + 511) / 512 : (n.type == FileType.REGULAR ? (size + 511) / 512 : 0);
        return new Stat(n.reportedIno(), n.mode(), n.nlink, n.uid, n.gid, size, blocks, n.atimeNs, n.mtimeNs, n.ctimeNs, n.rdev);
    }

    public long lookup(long dir, String name) {
        checkName(name);
        return reading(() -> {
            DirObject.Entry e = entry(dir, name);
            if (e == null) {
                throw new FsException(Errno.ENOENT, name);
            }
            return e.ino();
        });
    }

    public void chmod(long ino, int mode) {
        changing(() -> {
            Inode n = mutable(ino);
            n.perm = mode & 07777;
            n.ctimeNs = now();
            return null;
        });
    }

    /** uid or gid of -1 leaves it unchanged. */
    public void chown(long ino, int uid, int gid) {
        changing(() -> {
            Inode n = mutable(ino);
            if (uid != -1) {
                n.uid = uid;
            }
            if (gid != -1) {
                n.gid = gid;
            }
            if (n.type != FileType.DIRECTORY) {
                n.perm &= ~S_ISUID; // as the kernel does for unprivileged chown; root keeps it below
            }
            n.ctimeNs = now();
            return null;
        });
    }

    /** Times in ns since the epoch; {@link #OMIT} leaves one unchanged, {@link #NOW} sets it to now. */
    public void utimens(long ino, long atimeNs, long mtimeNs) {
        changing(() -> {
            Inode n = mutable(ino);
            long t = now();
            if (atimeNs != OMIT) {
                n.atimeNs = atimeNs == NOW ? t : atimeNs;
            }
            if (mtimeNs != OMIT) {
                n.mtimeNs = mtimeNs == NOW ? t : mtimeNs;
            }
            n.ctimeNs = t;
            return null;
        });
    }

    public byte[] readlink(long ino) {
        return reading(() -> {
            Inode n = inode(ino);
            if (n.type != FileType.SYMLINK) {
                throw new FsException(Errno.EINVAL, "not a symlink: inode " + ino);
            }
            return n.target;
        });
    }

    // ------------------------------------------------------------------ namespace

    /** One directory entry as readdir reports it. */
    public record DirEntry(String name, long ino, int mode) {
    }

    public List<DirEntry> readdir(long dir) {
        return reading(() -> {
            NavigableMap<String, DirObject.Entry> all = entries(dir);
            List<DirEntry> out = new ArrayList<>(all.size());
            for (Map.Entry<String, DirObject.Entry> e : all.entrySet()) {
                Inode c = changed.containsKey(e.getValue().ino()) ? changed.get(e.getValue().ino()) : base.inode(e.getValue().ino());
                long reported = c == null ? e.getValue().ino() : c.reportedIno();
                out.add(new DirEntry(e.getKey(), reported, e.getValue().type().modeBits));
            }
            return out;
        });
    }

    private Inode newInode(long dir, FileType type, int perm, int uid, int gid) {
        Inode parent = inode(dir);
        Inode n = new Inode();
        n.ino = nextIno++;
        n.type = type;
        n.perm = perm & 07777;
        n.uid = uid;
        n.gid = gid;
        if ((parent.perm & S_ISGID) != 0) {
            n.gid = parent.gid; // BSD group semantics of setgid directories
            if (type == FileType.DIRECTORY) {
                n.perm |= S_ISGID;
            }
        }
        n.nlink = type == FileType.DIRECTORY ? 2 : 1;
        n.atimeNs = n.mtimeNs = n.ctimeNs = now();
        n.size = type == FileType.DIRECTORY ? 4096 : 0;
        changed.put(n.ino, n);
        dirtyInodes.add(n.ino);
        return n;
    }

    /** A name that is not valid UTF-8 reaches us with U+FFFD in it: refuse to create it (docs/DESIGN-DECISIONS.md, 7). */
    static void checkNewName(String name) {
        checkName(name);
        if (name.indexOf('\uFFFD') >= 0) {
            throw new FsException(Errno.EINVAL, "file names must be valid UTF-8");
        }
    }

    private void checkFree(long dir, String name) {
        checkNewName(name);
        if (entry(dir, name) != null) {
            throw new FsException(Errno.EEXIST, name);
        }
    }

    /** Creates a regular file, fifo, socket or device node; returns its inode number. */
    public long mknod(long dir, String name, int mode, long rdev, int uid, int gid) {
        return changing(() -> {
            checkFree(dir, name);
            FileType t = FileType.ofMode(mode);
            if (t == null || t == FileType.DIRECTORY || t == FileType.SYMLINK) {
                t = FileType.REGULAR;
            }
            Inode n = newInode(dir, t, mode, uid, gid);
            n.rdev = rdev;
            setEntry(dir, name, new DirObject.Entry(n.ino, t));
            return n.ino;
        });
    }

    /** Creates and opens a regular file (O_CREAT); EEXIST if the name exists. */
    public long create(long dir, String name, int mode, int uid, int gid) {
        return changing(() -> {
            checkFree(dir, name);
            Inode n = newInode(dir, FileType.REGULAR, mode, uid, gid);
            setEntry(dir, name, new DirObject.Entry(n.ino, FileType.REGULAR));
            openCount.merge(n.ino, 1, Integer::sum);
            return n.ino;
        });
    }

    public long mkdir(long dir, String name, int mode, int uid, int gid) {
        return changing(() -> {
            checkFree(dir, name);
            Inode n = newInode(dir, FileType.DIRECTORY, mode, uid, gid);
            setEntry(dir, name, new DirObject.Entry(n.ino, FileType.DIRECTORY));
            mutable(dir).nlink++;
            return n.ino;
        });
    }

    public long symlink(byte[] target, long dir, String name, int uid, int gid) {
        return changing(() -> {
            checkFree(dir, name);
            Inode n = newInode(dir, FileType.SYMLINK, 0777, uid, gid);
            n.target = target;
            n.size = target.length;
            setEntry(dir, name, new DirObject.Entry(n.ino, FileType.SYMLINK));
            return n.ino;
        });
    }

    public void link(long ino, long dir, String name) {
        changing(() -> {
            Inode n = inode(ino);
            if (n.type == FileType.DIRECTORY) {
                throw new FsException(Errno.EPERM, "hard link to a directory");
            }
            checkFree(dir, name);
            Inode m = mutable(ino);
            m.nlink++;
            m.ctimeNs = now();
            setEntry(dir, name, new DirObject.Entry(ino, m.type));
            return null;
        });
    }

    private void dropLink(long ino) {
        Inode m = mutable(ino);
        m.nlink--;
        m.ctimeNs = now();
        if (m.nlink <= 0 && openCount.getOrDefault(ino, 0) == 0) {
            deleteInode(ino);
        }
    }

    public void unlink(long dir, String name) {
        changing(() -> {
            checkName(name);
            Map<String, Long> h = isHiddenName(name) ? hidden.get(dir) : null;
            Long hiddenIno = h == null ? null : h.remove(name);
            if (hiddenIno != null) {
                // its last link went when it was hidden; it goes with its last handle
                Inode n = changed.get(hiddenIno);
                if (n != null && n.nlink <= 0 && openCount.getOrDefault(hiddenIno, 0) == 0) {
                    deleteInode(hiddenIno);
                }
                return null;
            }
            DirObject.Entry e = entry(dir, name);
            if (e == null) {
                throw new FsException(Errno.ENOENT, name);
            }
            if (e.type() == FileType.DIRECTORY) {
                throw new FsException(Errno.EISDIR, name);
            }
            setEntry(dir, name, null);
            dropLink(e.ino());
            return null;
        });
    }

    public void rmdir(long dir, String name) {
        changing(() -> {
            if (name.equals(".")) {
                throw new FsException(Errno.EINVAL, "rmdir .");
            }
            checkName(name);
            DirObject.Entry e = entry(dir, name);
            if (e == null) {
                throw new FsException(Errno.ENOENT, name);
            }
            if (e.type() != FileType.DIRECTORY) {
                throw new FsException(Errno.ENOTDIR, name);
            }
            if (!entries(e.ino()).isEmpty()) {
                throw new FsException(Errno.ENOTEMPTY, name);
            }
            setEntry(dir, name, null);
            mutable(dir).nlink--;
            deleteInode(e.ino());
            return null;
        });
    }

    /**
     * POSIX rename. The caller (which knows paths) has already refused moving a directory into
     * its own subtree (EINVAL).
     */
    public void rename(long fromDir, String fromName, long toDir, String toName) {
        changing(() -> {
            checkName(fromName);
            checkNewName(toName);
            DirObject.Entry src = entry(fromDir, fromName);
            if (src == null) {
                throw new FsException(Errno.ENOENT, fromName);
            }
            dirInode(toDir);
            if (fromDir == toDir && fromName.equals(toName)) {
                return null;
            }
            DirObject.Entry dst = entry(toDir, toName);
            boolean srcDir = src.type() == FileType.DIRECTORY;
            if (!srcDir && dst == null && fromDir == toDir && isHiddenName(toName)) {
                // libfuse hiding an open file instead of unlinking it (or before replacing it)
                setEntry(fromDir, fromName, null);
                hidden.computeIfAbsent(toDir, k -> new HashMap<>()).put(toName, src.ino());
                dropLink(src.ino());
                return null;
            }
            if (dst != null) {
                if (dst.ino() == src.ino()) {
                    return null; // two links to one file: POSIX says do nothing
                }
                boolean dstDir = dst.type() == FileType.DIRECTORY;
                if (srcDir && !dstDir) {
                    throw new FsException(Errno.ENOTDIR, toName);
                }
                if (!srcDir && dstDir) {
                    throw new FsException(Errno.EISDIR, toName);
                }
                if (dstDir) {
                    if (!entries(dst.ino()).isEmpty()) {
                        throw new FsException(Errno.ENOTEMPTY, toName);
                    }
                    mutable(toDir).nlink--;
                    deleteInode(dst.ino());
                } else {
                    dropLink(dst.ino());
                }
            }
            setEntry(fromDir, fromName, null);
            setEntry(toDir, toName, src);
            if (srcDir && fromDir != toDir) {
                mutable(fromDir).nlink--;
                mutable(toDir).nlink++;
            }
            mutable(src.ino()).ctimeNs = now();
            return null;
        });
    }

    // ------------------------------------------------------------------ files

    /** Registers an open handle (the inode lives until its last release even if unlinked). */
    public void open(long ino, boolean write) {
        if (write && readOnly) {
            throw new FsException(Errno.EROFS, "read-only mount");
        }
        lock.writeLock().lock();
        try {
            Inode n = inode(ino);
            if (write && n.type == FileType.DIRECTORY) {
                throw new FsException(Errno.EISDIR, "inode " + ino);
            }
            if (!readOnly) {
                openCount.merge(ino, 1, Integer::sum);
            }
        } catch (StoreException e) {
            throw storeError(e);
        } finally {
            lock.writeLock().unlock();
        }
    }

    public void release(long ino) {
        if (readOnly) {
            return;
        }
        lock.writeLock().lock();
        try {
            int c = openCount.merge(ino, -1, Integer::sum);
            if (c <= 0) {
                openCount.remove(ino);
                Inode n = changed.get(ino);
                if (n != null && n.nlink <= 0) {
                    deleteInode(ino);
                }
            }
            persist(METADATA_ONLY);
        } catch (StoreException e) {
            throw storeError(e);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** close(): persists the file's data so that it survives a kill of the mount process. */
    public void flush(long ino) {
        persistFile(ino);
    }

    /** fsync(): persists and forces packs and index to disk. */
    public void fsync(long ino) {
        if (readOnly) {
            return;
        }
        persistFile(ino);
        try {
            store.sync();
        } catch (StoreException e) {
            throw storeError(e);
        }
    }

    private byte[] blockData(long ino, Inode n, long idx) {
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
    private ChunkId storedBlock(long ino, Inode n, long idx) {
        TreeMap<Long, ChunkId> ov = overrides.get(ino);
        if (ov != null && ov.containsKey(idx)) {
            return ov.get(idx);
        }
        return base.block(n, idx);
    }

    // ------------------------------------------------------------------ read-ahead

    /** Blocks fetched ahead of a sequential reader (decompressed and verified on other cores). */
    static final int READ_AHEAD_BLOCKS = Integer.getInteger("cowfs.readAheadBlocks", 8);
    /** Per inode: the block a sequential reader asks for next, and how far ahead was already fetched. */
    private final java.util.concurrent.ConcurrentHashMap<Long, long[]> readers = new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.concurrent.ExecutorService prefetcher = new java.util.concurrent.ThreadPoolExecutor(
            2, 2, 30, java.util.concurrent.TimeUnit.SECONDS, new java.util.concurrent.ArrayBlockingQueue<>(64), r -> {
                Thread t = new Thread(r, "cowfs-readahead");
                t.setDaemon(true);
                return t;
            }, new java.util.concurrent.ThreadPoolExecutor.DiscardPolicy());

    /** After a read of blocks [first, last]: if it continues the previous one, fetch the next blocks ahead. */
    private void readAhead(long ino, Inode n, long first, long last) {
        if (READ_AHEAD_BLOCKS <= 0) {
            return;
        }
        long[] st = readers.computeIfAbsent(ino, k -> new long[] {-1, -1});
        long from;
        long to;
        synchronized (st) {
            boolean sequential = st[0] == first || st[0] == first + 1 || (first == 0 && st[0] < 0);
            st[0] = last + 1;
            if (!sequential) {
                st[1] = last;
                return;
            }
            from = Math.max(last + 1, st[1] + 1);
            to = Math.min(last + READ_AHEAD_BLOCKS, (n.size - 1) / bs);
            if (from > to) {
                return;
            }
            st[1] = to;
        }
        java.util.List<ChunkId> ids = new java.util.ArrayList<>();
        for (long i = from; i <= to; i++) {
            ChunkId id = storedBlock(ino, n, i);
            if (id != null && !store.cached(id)) {
                ids.add(id);
            }
        }
        for (ChunkId id : ids) {
            prefetcher.execute(() -> {
                try {
                    store.get(id);
                } catch (StoreException e) {
                    // the reader gets the error when it reaches the block
                }
            });
        }
    }

    /** Reads up to len bytes at off; returns the number of bytes placed in out. */
    public int read(long ino, long off, byte[] out, int len) {
        return reading(() -> {
            Inode n = inode(ino);
            if (n.type == FileType.DIRECTORY) {
                throw new FsException(Errno.EISDIR, "inode " + ino);
            }
            if (off >= n.size || len <= 0) {
                return 0;
            }
            int total = (int) Math.min(len, n.size - off);
            int done = 0;
            while (done < total) {
                long pos = off + done;
                long idx = pos / bs;
                int inBlock = (int) (pos % bs);
                int chunk = Math.min(total - done, bs - inBlock);
                byte[] b = blockData(ino, n, idx);
                int avail = b == null ? 0 : Math.max(0, Math.min(chunk, b.length - inBlock));
                if (avail > 0) {
                    System.arraycopy(b, inBlock, out, done, avail);
                }
                java.util.Arrays.fill(out, done + avail, done + chunk, (byte) 0);
                done += chunk;
            }
            readAhead(ino, n, off / bs, (off + total - 1) / bs);
            return total;
        });
    }

    /** Writes len bytes of data at off (copy-on-write of the blocks touched). */
    public int write(long ino, long off, byte[] data, int len) {
        if (off < 0 || off + len < 0) {
            throw new FsException(Errno.EFBIG, "offset " + off);
        }
        return changingData(() -> {
            Inode cur = inode(ino);
            if (cur.type != FileType.REGULAR) {
                throw new FsException(Errno.EINVAL, "write to a non-regular file");
            }
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
                System.arraycopy(data, done, b, inBlock, chunk);
                done += chunk;
            }
            Inode n = mutable(ino);
            n.size = Math.max(n.size, off + len);
            n.mtimeNs = n.ctimeNs = now();
            // setuid/setgid are not cleared here: only the kernel knows whether the writer has
            // CAP_FSETID, and without handle_killpriv it sends the mode change itself
            if (dirtyBytes > DIRTY_LIMIT) {
                try {
                    persist(ino); // this file first: the one being written is the likely culprit
                    if (dirtyBytes > DIRTY_LIMIT) {
                        persist(null);
                    }
                } catch (StoreException.StoreFullException e) {
                    if (dirty.remove(ino) != null) {
                        recountDirty();
                    }
                    throw e;
                }
            }
            return len;
        });
    }

    /** Like {@link #changing} but leaves data unpersisted (it is persisted on flush). */
    private <T> T changingData(Supplier<T> work) {
        if (readOnly) {
            throw new FsException(Errno.EROFS, "read-only snapshot mount");
        }
        lock.writeLock().lock();
        try {
            return work.get();
        } catch (StoreException e) {
            throw storeError(e);
        } finally {
            lock.writeLock().unlock();
        }
    }

    public void truncate(long ino, long size) {
        if (size < 0) {
            throw new FsException(Errno.EINVAL, "negative size");
        }
        changing(() -> {
            Inode cur = inode(ino);
            if (cur.type == FileType.DIRECTORY) {
                throw new FsException(Errno.EISDIR, "inode " + ino);
            }
            if (cur.type != FileType.REGULAR) {
                throw new FsException(Errno.EINVAL, "truncate of a non-regular file");
            }
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
                truncatedFrom.merge(ino, keep, Math::min);
                Inode n = mutable(ino);
                n.validBlocks = Math.min(n.validBlocks, keep);
                if (last != null) {
                    dirty.computeIfAbsent(ino, k -> new TreeMap<>()).put(size / bs, last);
                }
                recountDirty();
            }
            Inode n = mutable(ino);
            n.size = size;
            n.mtimeNs = n.ctimeNs = now();
            return null;
        });
    }

    // ------------------------------------------------------------------ xattrs

    /**
     * POSIX ACLs are not supported: the kernel passes their xattrs through to us (no
     * FUSE_POSIX_ACL in libfuse 2) but would not enforce them, and storing one would not change
     * the mode as it must. EOPNOTSUPP makes tools fall back to chmod (libacl's perm_copy_fd, as
     * used by sed -i, cp -p, vim); an ACL imported from the host stays stored, unseen, and is
     * exported again.
     */
    private static void refuseAcl(String name) {
        if (name.equals("system.posix_acl_access") || name.equals("system.posix_acl_default")) {
            throw new FsException(Errno.EOPNOTSUPP, name);
        }
    }

    public void setxattr(long ino, String name, byte[] value, int flags) {
        refuseAcl(name);
        changing(() -> {
            Inode cur = inode(ino);
            boolean exists = cur.xattrs.containsKey(name);
            if ((flags & XATTR_CREATE) != 0 && exists) {
                throw new FsException(Errno.EEXIST, name);
            }
            if ((flags & XATTR_REPLACE) != 0 && !exists) {
                throw new FsException(Errno.ENODATA, name);
            }
            Inode n = mutable(ino);
            n.xattrs.put(name, value.clone());
            n.ctimeNs = now();
            return null;
        });
    }

    public byte[] getxattr(long ino, String name) {
        refuseAcl(name);
        return reading(() -> {
            byte[] v = inode(ino).xattrs.get(name);
            if (v == null) {
                throw new FsException(Errno.ENODATA, name);
            }
            return v;
        });
    }

    public List<String> listxattr(long ino) {
        return reading(() -> {
            List<String> names = new ArrayList<>(inode(ino).xattrs.keySet());
            names.remove("system.posix_acl_access");
            names.remove("system.posix_acl_default");
            return names;
        });
    }

    public void removexattr(long ino, String name) {
        refuseAcl(name);
        changing(() -> {
            if (!inode(ino).xattrs.containsKey(name)) {
                throw new FsException(Errno.ENODATA, name);
            }
            Inode n = mutable(ino);
            n.xattrs.remove(name);
            n.ctimeNs = now();
            return null;
        });
    }

    // ------------------------------------------------------------------ filesystem

    /** statfs numbers: what the store's host filesystem has. */
    public record FsStat(long blockSize, long blocks, long blocksFree, long blocksAvail, long files, long filesFree, int nameMax) {
    }

    public FsStat statfs() {
        try {
            FileStore fsx = Files.getFileStore(store.dir());
            long b = 4096;
            long used = reading(() -> nextIno); // inode numbers handed out: an upper bound of those in use
            long files = Math.max(used * 2, 1L << 20);
            return new FsStat(b, fsx.getTotalSpace() / b, fsx.getUnallocatedSpace() / b, fsx.getUsableSpace() / b,
                    files, files - used, NAME_MAX);
        } catch (IOException e) {
            throw new FsException(Errno.EIO, "statfs: " + e.getMessage());
        }
    }

    @Override
    public void close() {
        prefetcher.shutdownNow();
        persistAll();
    }
}
