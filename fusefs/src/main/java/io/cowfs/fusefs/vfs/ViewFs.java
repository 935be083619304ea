package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.tree.DirEntries;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.FileType;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotReader;
import io.cowfs.blockstore.view.ViewDelta;
import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

/**
 * The POSIX semantics of one mounted view (or, read-only, of one snapshot), addressed by inode
 * number, as a kernel filesystem has them: an unlinked open file keeps its inode (nlink 0,
 * reachable by number) until its last {@link #release}. The base snapshot is read through a
 * {@link SnapshotReader}; everything the view changed is mirrored in memory (loaded at mount) and
 * persisted to the view's delta in LMDB: namespace and attribute changes at the end of each
 * call, file data on flush/fsync/close and whenever unpersisted data exceeds {@link #DIRTY_LIMIT}.
 *
 * <p>This class is the front: it checks arguments, takes the lock and delegates to
 * {@link ViewNamespace} (names, links, orphans), {@link WriteBack} (file data, persistence),
 * {@link FileRanges} (fallocate, seek, copy_file_range), {@link Attributes} and
 * {@link ReadAhead}. Store failures become {@link FsException}s here, in one place
 * ({@link FsException#of}: ENOSPC for a full store, EIO otherwise). It is longer than the
 * house's ~500 lines because it is the whole API two adapters call, each operation documented
 * with the errnos it throws; the bodies live in the classes above.
 *
 * <p>Locking: {@code lock} guards every mutable field of the namespace and the write-back. Reads
 * (getattr, lookup, readdir, read, seek) take the read lock and run concurrently; every change
 * takes the write lock. Store I/O for reads happens under the read lock only. flush/fsync, and a
 * write that took unstored data past {@link #DIRTY_LIMIT} once its change is made, hash, compress
 * and append a file's blocks with the write lock downgraded to the read lock ({@link WriteBack}:
 * readers go on meanwhile), then commit under the write lock. {@code relieving} (atomic) lets
 * one thread at a time do that for the dirty limit.
 *
 * <p>Not checked here, because a kernel checks it before calling a filesystem: moving a
 * directory into its own subtree (the path adapter refuses it from the paths).
 */
public final class ViewFs implements NodeFs, AutoCloseable {
    /** Unpersisted file data above which a write persists it first (bounds a mount's memory). */
    public static final long DIRTY_LIMIT = io.cowfs.blockstore.Config.fromSystemProperties().dirtyLimit();
    public static final int NAME_MAX = 255;
    public static final long OMIT = Long.MIN_VALUE;
    /** A utimens time meaning "the time of the call" (UTIME_NOW), the same for atime, mtime and ctime. */
    public static final long NOW = Long.MIN_VALUE + 1;
    public static final int XATTR_CREATE = 1;
    public static final int XATTR_REPLACE = 2;
    /** fallocate mode bits (linux/falloc.h). */
    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    public static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;

    private final Store store;
    private final long viewId;
    private final boolean readOnly;
    private final int bs;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final ViewNamespace ns;
    private final WriteBack data;
    private final ReadAhead readAhead;
    private final FileRanges ranges;
    private final Attributes attrs;
    /** The snapshot under the view (its caches guard themselves). */
    private final SnapshotReader base;

    private ViewFs(Store store, SnapshotReader base, long viewId, boolean readOnly) {
        this.store = store;
        this.base = base;
        this.viewId = viewId;
        this.readOnly = readOnly;
        this.bs = store.blockSize();
        this.maxFileSize = maxFileSize(bs);
        this.readAhead = new ReadAhead(store);
        this.ns = new ViewNamespace(base, this::deleted);
        this.data = new WriteBack(store, base, viewId, ns);
        this.ranges = new FileRanges(ns, data);
        this.attrs = new Attributes(ns);
    }

    /**
     * Frees the native memory kept for dirty pages when none is in use; returns the bytes freed.
     * The idle trimmer's call (write lock: the arena is the write path's).
     */
    public long trimMemory() {
        base.dropCaches(); // thread-safe caches, no lock needed
        return locked(data::trimMemory);
    }

    /**
     * Reads up to maxInodes of the base snapshot's inodes and their directories into its caches
     * (SnapshotReader#warm); returns how many inodes and directory entries. No lock: the caches
     * guard themselves, and the base never changes.
     */
    public long[] warmMetadata(long maxInodes, java.util.function.BooleanSupplier stop) {
        return base.warm(maxInodes, stop);
    }

    /** A read-only filesystem over a snapshot. */
    public static ViewFs snapshot(Store store, ChunkId root) {
        return new ViewFs(store, new SnapshotReader(store, root), 0, true);
    }

    /** A filesystem over a view: base snapshot plus the delta persisted so far. */
    public static ViewFs view(Store store, ChunkId baseRoot, long viewId, boolean readOnly) {
        ViewFs fs = new ViewFs(store, new SnapshotReader(store, baseRoot), viewId, readOnly);
        ViewDelta delta = new ViewDelta(store.index());
        ViewDelta.State s = store.index().read(txn -> delta.load(txn, viewId));
        fs.ns.load(s, ViewDelta.lostInodes(store.index(), viewId));
        fs.data.load(s);
        if (!readOnly) {
            fs.lock.writeLock().lock();
            try {
                fs.ns.reclaimOrphans();
                fs.data.persist(WriteBack.METADATA_ONLY);
            } finally {
                fs.ns.generation++;
                fs.lock.writeLock().unlock();
            }
        }
        return fs;
    }

    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public long generation() {
        return ns.generation;
    }

    public long viewId() {
        return viewId;
    }

    public Store store() {
        return store;
    }

    /** An inode was deleted (write lock held): its data and read-ahead state go with it. */
    private void deleted(long ino) {
        data.forget(ino);
        readAhead.forget(ino);
    }

    // ------------------------------------------------------------------ locking and errors

    private <T> T reading(Supplier<T> work) {
        lock.readLock().lock();
        try {
            return work.get();
        } catch (StoreException e) {
            throw FsException.of(e);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** A change of names or attributes: persisted before the call returns. */
    private <T> T changing(Supplier<T> work) {
        return changingData(() -> {
            T r = work.get();
            data.persist(WriteBack.METADATA_ONLY);
            return r;
        });
    }

    private void change(Runnable work) {
        changing(() -> {
            work.run();
            return null;
        });
    }

    /** A change of file data: left unpersisted (it is persisted on flush). */
    private <T> T changingData(Supplier<T> work) {
        checkWritable();
        return locked(work);
    }

    /** Under the write lock, writable or not. */
    private <T> T locked(Supplier<T> work) {
        lock.writeLock().lock();
        try {
            return work.get();
        } catch (StoreException e) {
            throw FsException.of(e);
        } finally {
            ns.generation++;
            lock.writeLock().unlock();
        }
    }

    private void checkWritable() {
        if (readOnly) {
            throw new FsException(Errno.EROFS, "read-only snapshot mount (fork it to write: cowfs fork)");
        }
    }

    // ------------------------------------------------------------------ paths

    /** Resolves an absolute path (no symlinks followed: the kernel resolves those). */
    public long resolve(String path) {
        return reading(() -> ns.resolve(path));
    }

    /** Splits a path into its parent's inode and its last name. */
    public record Parent(long dir, String name) {
    }

    public Parent parent(String path) {
        int k = path.lastIndexOf('/');
        String dir = k <= 0 ? "/" : path.substring(0, k);
        String name = path.substring(k + 1);
        ViewNamespace.checkName(name);
        return new Parent(resolve(dir), name);
    }

    // ------------------------------------------------------------------ attributes

    /** @throws FsException ENOENT if there is no such inode (deleted, or unlinked and released) */
    public Stat getattr(long ino) {
        return reading(() -> stat(ino, ns.inode(ino)));
    }

    /** {@link #getattr}, or null where it would count a large file's map now ({@link NodeFs#getattrIfCounted}). */
    @Override
    public Stat getattrIfCounted(long ino) {
        return reading(() -> {
            Inode n = ns.inode(ino);
            boolean counted = n.type != FileType.REGULAR || n.size < EXACT_BLOCKS_FROM * bs || data.holeUnitsKnown(ino, n);
            return counted ? stat(ino, n) : null;
        });
    }

    /** The inode's attributes with st_blocks from its size, not its block map ({@link NodeFs#attributes}). */
    @Override
    public Stat attributes(long ino) {
        return reading(() -> Attributes.stat(ns.inode(ino)));
    }

    /** {@link #getattr} of inode n. Read lock held. */
    private Stat stat(long ino, Inode n) {
        Stat s = Attributes.stat(n);
        if (n.type != FileType.REGULAR) {
            return s;
        }
        // a small file's block list is not read for a stat (a stat walk would read 100K of them)
        long blocks = n.size < EXACT_BLOCKS_FROM * bs ? s.blocks512() : allocated(ino, n);
        if (kernelHoldsWrites && blocks == 0) {
            // the kernel may hold data of this file that has not reached the vfs, and it shows
            // its own size with these blocks: 0 would tell tar -S that the file is one hole
            // (it then stores no data at all, without looking further); cp and tar ask lseek,
            // which counts what the kernel holds (kernel.Kernel.writeBackBeforeSeek)
            blocks = 1;
        }
        return blocks == s.blocks512() ? s : new Stat(s.ino(), s.mode(), s.nlink(), s.uid(), s.gid(), s.size(), blocks,
                s.atimeNs(), s.mtimeNs(), s.ctimeNs(), s.rdev());
    }

    /** Set once the kernel caches writes (writeback cache): see {@link #getattr}. */
    private volatile boolean kernelHoldsWrites;

    /**
     * st_blocks of a regular file: the 512-byte units of its blocks that are not known holes
     * (holes of the snapshot, blocks punched here), so that du shows what sparse files and punched
     * holes save; blocks the kernel may still hold count as data. Counted from the block map
     * ({@link WriteBack#knownHoleUnits}, remembered until the file's map changes). Read lock held.
     */
    private long allocated(long ino, Inode n) {
        long last = (n.size - 1) / bs;
        return last * data.unitsOf(n, 0) + data.unitsOf(n, last) - data.knownHoleUnits(ino, n);
    }

    /** {@link #allocated} counted block by block, as {@link WriteBack#isKnownHole} defines it (tests). */
    long allocatedBlockByBlock(long ino) {
        return reading(() -> {
            Inode n = ns.inode(ino);
            long units = 0;
            for (long idx = 0; idx * bs < n.size; idx++) {
                units += data.isKnownHole(ino, n, idx) ? 0 : data.unitsOf(n, idx);
            }
            return units;
        });
    }

    /**
     * {@link #seekData} (data) or {@link #seekHole} page by page, each page asked of {@link
     * WriteBack#holePages}; -1 for ENXIO (tests: what the block map's walk must agree with).
     */
    long seekPageByPage(long ino, long offset, boolean data) {
        return reading(() -> {
            Inode n = ns.inode(ino);
            int ps = io.cowfs.blockstore.view.SubBlock.pageSize(bs);
            for (long at = offset; at < n.size; ) {
                long idx = at / bs;
                int p = (int) (at % bs / ps);
                boolean hole = ((this.data.holePages(ino, n, idx) >>> p) & 1) != 0;
                if (hole != data) {
                    return at;
                }
                at = idx * bs + (long) (p + 1) * ps;
            }
            return data ? -1 : n.size;
        });
    }

    /** Files of at least this many blocks get st_blocks from their block map; smaller ones from their size. */
    static final int EXACT_BLOCKS_FROM = 16;

    /** @throws FsException ENOENT if dir has no such name, ENOTDIR if dir is not a directory */
    public long lookup(long dir, String name) {
        ViewNamespace.checkName(name);
        return reading(() -> {
            DirObject.Entry e = ns.entry(dir, name);
            if (e == null) {
                throw new FsException(Errno.ENOENT, name);
            }
            return e.ino();
        });
    }

    /**
     * A change of ino's attributes (mode, owner, times, xattrs): committed before the call returns,
     * with everything else pending, unless ino is a regular file with changes its close will
     * commit (a create not committed yet, written data not persisted yet); then it is committed
     * with those (at the file's FLUSH, an fsync, the dirty limit or the next commit). With the
     * writeback cache the kernel sends a written file's times just before the FLUSH of every
     * close() that wrote, and tar and cp -p set times, owner and mode on the open file before
     * closing it: a commit each was most of the commits of a small-file copy (docs/PERFORMANCE.md).
     * A killed mount shows such a file as it was before all of them, or not at all for a new one:
     * never new attributes over old bytes. Write lock held.
     */
    private void changeAttributes(long ino, Runnable work) {
        changingData(() -> {
            // an orphan (no name left: unlinked while open, or while the kernel holds its node) is
            // reclaimed by the next mount if this one dies, so what it is changed to goes with the
            // next commit: the kernel sends the ctime of every file `rm -rf` removes (SETATTR, with
            // the writeback cache), and committing each was a third of the removal (2026-12-05)
            boolean waits = data.hasData(ino) || ns.created.contains(ino) || ns.inode(ino).nlink == 0;
            work.run();
            if (!waits) {
                data.persist(WriteBack.METADATA_ONLY);
            }
            return null;
        });
    }

    public void chmod(long ino, int mode) {
        changeAttributes(ino, () -> attrs.chmod(ino, mode));
    }

    /** uid or gid of -1 leaves it unchanged. */
    public void chown(long ino, int uid, int gid) {
        changeAttributes(ino, () -> attrs.chown(ino, uid, gid));
    }

    /** Times in ns since the epoch; {@link #OMIT} leaves one unchanged, {@link #NOW} sets it to now. */
    public void utimens(long ino, long atimeNs, long mtimeNs) {
        utimens(ino, atimeNs, mtimeNs, OMIT);
    }

    @Override
    public void utimens(long ino, long atimeNs, long mtimeNs, long ctimeNs) {
        changeAttributes(ino, () -> attrs.utimens(ino, atimeNs, mtimeNs, ctimeNs));
    }

    @Override
    public void ctime(long ino, long ctimeNs) {
        changingData(() -> {
            ns.mutable(ino).ctimeNs = ctimeNs;
            return null;
        });
    }

    @Override
    public void kernelKeepsTimes() {
        locked(() -> {
            data.stampWrites = false;
            kernelHoldsWrites = true; // before the generation moves: getattr's answer changes with it
            return null;
        });
    }

    /** @throws FsException EINVAL if ino is not a symlink */
    public byte[] readlink(long ino) {
        return reading(() -> {
            Inode n = ns.inode(ino);
            if (n.type != FileType.SYMLINK) {
                throw new FsException(Errno.EINVAL, "not a symlink: inode " + ino);
            }
            return n.target;
        });
    }

    // ------------------------------------------------------------------ namespace

    /** One directory entry as readdir reports it: ino is st_ino (what stat shows), node the inode number the vfs is addressed by. */
    public record DirEntry(String name, long ino, int mode, long node) {
        /** An entry whose reported inode number is its node id. */
        public DirEntry(String name, long ino, int mode) {
            this(name, ino, mode, ino);
        }
    }

    public Dirents readdir(long dir) {
        return reading(() -> {
            DirEntries all = ns.entries(dir);
            long[] reported = new long[all.size()];
            for (int i = 0; i < reported.length; i++) {
                long r = ns.reportedIno(all.ino(i)); // no more of the inode: a walk lists a million
                // 0 when gone (a host's inode number may be negative as a long, never 0)
                reported[i] = r != 0 ? r : all.ino(i);
            }
            return new Dirents(all, reported);
        });
    }

    /** Creates a regular file, fifo, socket or device node; returns its inode number. */
    public long mknod(long dir, String name, int mode, long rdev, int uid, int gid) {
        return changing(() -> ns.mknod(dir, name, mode, rdev, uid, gid));
    }

    /**
     * Creates and opens a regular file (O_CREAT); EEXIST if the name exists. Release it like an open.
     * Not committed here: the new name and inode go with the next commit, at the latest with the
     * file's own close (its FLUSH finds them pending) or its fsync. A cp -r or a tar extraction
     * creates, writes and closes each file: committing the create apart cost one commit per file, a
     * sixth of a small-file copy (docs/PERFORMANCE.md). A file created and still open when the mount
     * is killed is gone after it, as its unclosed data would be (docs/DURABILITY.md); every other
     * namespace change commits everything pending, so what a killed mount leaves is still the view
     * as it was at one moment.
     */
    public long create(long dir, String name, int mode, int uid, int gid) {
        return changingData(() -> ns.create(dir, name, mode, uid, gid));
    }

    /**
     * open(O_TMPFILE) in dir: a regular file with no name, open, nlink 0 (an orphan, as a file
     * unlinked while open: the next mount reclaims it if this one dies, and a freeze skips it).
     * Nothing is committed: a link names it (and commits, as every link does); its last release
     * deletes it otherwise. docs/UNLINKED-OPEN-FILES.md.
     *
     * @throws FsException EROFS on a read-only mount, ENOTDIR if dir is not a directory
     */
    @Override
    public long tmpfile(long dir, int mode, int uid, int gid) {
        return changingData(() -> ns.tmpfile(dir, mode, uid, gid));
    }

    /** @throws FsException EEXIST if the name exists */
    public long mkdir(long dir, String name, int mode, int uid, int gid) {
        return changing(() -> ns.mkdir(dir, name, mode, uid, gid));
    }

    public long symlink(byte[] target, long dir, String name, int uid, int gid) {
        return changing(() -> ns.symlink(target, dir, name, uid, gid));
    }

    /** @throws FsException EPERM for a directory, EEXIST if the new name exists */
    public void link(long ino, long dir, String name) {
        change(() -> ns.link(ino, dir, name));
    }

    /**
     * Removes a name. The inode goes with its last name, unless it is open: then it keeps its
     * data (nlink 0, getattr by number works) until its last {@link #release}.
     *
     * @throws FsException ENOENT if there is no such name, EISDIR if it names a directory
     */
    public void unlink(long dir, String name) {
        change(() -> ns.unlink(dir, name));
    }

    /** @throws FsException ENOTEMPTY if the directory has entries, ENOTDIR if name is not one, EINVAL for "." */
    public void rmdir(long dir, String name) {
        change(() -> ns.rmdir(dir, name));
    }

    /**
     * POSIX rename, over an existing file or empty directory too. The caller has already refused
     * moving a directory into its own subtree (EINVAL): the kernel does, and the path adapter does.
     *
     * @throws FsException ENOENT if there is no source, ENOTDIR/EISDIR if a directory would replace
     *         a file or the other way round, ENOTEMPTY if the target is a non-empty directory
     */
    public void rename(long fromDir, String fromName, long toDir, String toName) {
        change(() -> ns.rename(fromDir, fromName, toDir, toName));
    }

    /**
     * renameat2(RENAME_EXCHANGE): the two names swap the files or directories they name, in one
     * commit. The caller has refused an exchange where one is an ancestor of the other (EINVAL):
     * the kernel does.
     *
     * @throws FsException ENOENT if either name does not exist
     */
    @Override
    public void exchange(long fromDir, String fromName, long toDir, String toName) {
        change(() -> ns.exchange(fromDir, fromName, toDir, toName));
    }

    // ------------------------------------------------------------------ files

    /**
     * Registers an open handle (the inode lives until its last release even if unlinked).
     *
     * @throws FsException EROFS to write on a read-only mount, EISDIR to write a directory
     */
    public void open(long ino, boolean write) {
        if (write) {
            checkWritable();
        }
        locked(() -> {
            Inode n = ns.inode(ino);
            if (write && n.type == FileType.DIRECTORY) {
                throw new FsException(Errno.EISDIR, "inode " + ino);
            }
            if (!readOnly) {
                ns.opened(ino);
            }
            return null;
        });
    }

    /**
     * One handle closed; after the last one, an unlinked inode is deleted. Nothing is committed
     * here: the file's close (FLUSH) came before and committed what it had to, and RELEASE comes
     * after it, asynchronously, often behind the next file's create, which a commit here would
     * take along (a commit per file of a cp -r again, measured). The deletion goes with the next
     * commit, the aged-writes persist ({@link #persistAged}) or the unmount; the unlink committed
     * the inode with nlink 0, so a mount killed before that leaves an orphan the next mount
     * reclaims. Until 2026-12-05 each deletion committed on its own: through the kernel adapter
     * every file `rm -rf` removes is one the kernel holds (it looked the name up), so that was a
     * second commit per file removed (docs/PERFORMANCE.md).
     */
    public void release(long ino) {
        releaseAll(new long[] {ino});
    }

    /** {@link #release} of several handles, persisted in one transaction (an adapter releasing a batch). */
    public void releaseAll(long[] inos) {
        if (inos.length == 0) {
            return;
        }
        if (readOnly) {
            for (long ino : inos) {
                readAhead.forget(ino);
            }
            return;
        }
        locked(() -> {
            for (long ino : inos) {
                if (ns.released(ino) != ViewNamespace.Released.STILL_OPEN) {
                    readAhead.forget(ino);
                }
            }
            return null;
        });
    }

    /**
     * close(): persists the file's data so that it survives a kill of the mount process; nothing
     * for a file with no name, which no one could reach after a kill (fsync still persists it).
     */
    public void flush(long ino) {
        flush(ino, false);
    }

    /** flush, or with nameless true the persist of fsync, which a file with no name needs too (fsync, then linkat). */
    private void flush(long ino, boolean nameless) {
        if (readOnly) {
            return;
        }
        // The kernel sends FLUSH at every close, also of files only read (a cat of 100K files in a
        // view: 100K of them). A clean file costs the read lock, not the write lock that would stop
        // every reader: what was written through this file before its close reached us before
        // the FLUSH did, so if nothing is dirty now, nothing of it is.
        //
        // A file with no name (unlinked while open, or made by O_TMPFILE and not linked yet) has
        // nothing its close must make durable: no one can reach it after a crash, and the next
        // mount reclaims whatever of it was committed. Its data waits in memory (the dirty limit
        // still bounds that) for an fsync, a link and a close after it, or its last release. What
        // others have pending waits for their own closes. A close of every O_TMPFILE file (Python's
        // TemporaryFile) was a commit and its bytes appended to a pack as garbage. Both checks
        // under one hold of the read lock.
        if (reading(() -> data.nothingToPersist(ino) || !nameless && ns.hasNoName(ino))) {
            return;
        }
        // After a commit failed (the store's filesystem went read-only, an I/O error), the changes
        // of other files wait for a commit that may never come: the close of a file with nothing of
        // its own waiting succeeds, so what can still be read can be copied out (cp checks its
        // closes). A file with changes of its own still tries, and fails.
        if (commitFailed && reading(() -> !data.ownChangesPending(ino))) {
            return;
        }
        try {
            data.persistFileOutsideLock(ino, lock); // stores the blocks under the read lock only
            commitFailed = false;
        } catch (StoreException e) {
            commitFailed = !(e instanceof StoreException.StoreFullException); // a full store still commits names (its reserve)
            throw FsException.of(e);
        }
    }

    /**
     * The last flush could not commit (see {@link #flush}); cleared by the next that can. Written
     * and read without a lock: a stale value costs one commit attempt more or less.
     */
    private volatile boolean commitFailed;

    /**
     * fsync(): persists and forces packs and index to disk.
     *
     * @throws FsException ENOSPC if the store is full, also when data written to the file earlier
     *         was dropped for want of space at another close (a reader's) since the last fsync
     *         that said so: Linux reports a writeback error to the next fsync of the file too
     */
    public void fsync(long ino) {
        if (readOnly) {
            return;
        }
        try {
            flush(ino, true);
        } catch (FsException e) {
            if (e.errno() == Errno.ENOSPC) {
                data.takeLoss(ino); // said now
            }
            throw e;
        }
        if (data.takeLoss(ino)) {
            throw new FsException(Errno.ENOSPC, "inode " + ino + ": data written to it could not be stored (the store is full)"
                    + " and was dropped at an earlier close");
        }
        try {
            store.fsync();
        } catch (StoreException e) {
            throw FsException.of(e);
        }
    }

    /**
     * Persists what was already waiting at the previous call, if anything waits now (written data
     * not stored yet, files created and not closed, inodes deleted at their last release). A
     * mount calls this every few seconds ({@code fusefs.mount.AgedWrites}), so that data of a
     * file that is never closed or fsynced (a log, a database with synchronous=OFF) survives a
     * kill of the mount once it has waited two periods here; before, it waited for a close
     * however long that took. True if it persisted.
     */
    public boolean persistAged() {
        if (readOnly) {
            return false;
        }
        boolean waiting = reading(() -> data.hasUnstored() || !ns.created.isEmpty() || !ns.dirtyInodes.isEmpty());
        boolean persist = waiting && waitingBefore;
        if (persist) {
            persistAll();
        }
        waitingBefore = waiting && !persist;
        return persist;
    }

    /** Something waited at the last {@link #persistAged}; only its caller's one thread touches it. */
    private boolean waitingBefore;

    /** Persists everything now (the snapshot command asks a mounted view for this). */
    public void persistAll() {
        if (readOnly) {
            return;
        }
        locked(() -> {
            data.persist(null);
            return null;
        });
    }

    /**
     * Reads up to len bytes at off; returns the number of bytes placed in out (0 at or past EOF).
     *
     * @throws FsException EISDIR for a directory
     */
    public int read(long ino, long off, byte[] out, int len) {
        return read(ino, off, java.nio.ByteBuffer.wrap(out), 0, len);
    }

    /** As {@link #read(long, long, byte[], int)}, into out at pos (out's position and limit are not used). */
    @Override
    public int read(long ino, long off, java.nio.ByteBuffer out, int pos, int len) {
        return reading(() -> {
            Inode n = ns.inode(ino);
            if (n.type == FileType.DIRECTORY) {
                throw new FsException(Errno.EISDIR, "inode " + ino);
            }
            int total = data.read(ino, n, off, out, pos, len);
            if (total > 0) {
                readAhead.after(ino, n.size, off / bs, (off + total - 1) / bs, WriteBack.placesWhole(out, off, total, n.size, bs),
                        i -> data.aheadBlock(ino, n, i));
            }
            return total;
        });
    }

    /**
     * Writes len bytes of data at off (copy-on-write of the blocks touched).
     *
     * @throws FsException EFBIG for a negative offset or a write that ends past {@link #maxFileSize()}
     *         (none of it is written), EINVAL for a non-regular
     *         file, EROFS on a read-only mount, ENOSPC if the store is full
     */
    public int write(long ino, long off, byte[] buf, int len) {
        return write(ino, off, java.nio.ByteBuffer.wrap(buf), 0, len);
    }

    /** As {@link #write(long, long, byte[], int)}, from buf at pos: a direct buffer is copied to the dirty pages without a heap copy. */
    @Override
    public int write(long ino, long off, java.nio.ByteBuffer buf, int pos, int len) {
        if (off < 0 || off + len < 0 || off + len > maxFileSize) {
            throw new FsException(Errno.EFBIG, "offset " + off);
        }
        boolean over = changingData(() -> data.write(ino, ranges.regular(ino, Errno.EINVAL, Errno.EINVAL), off, buf, pos, len));
        if (over) {
            relieve(ino);
        }
        return len;
    }

    /**
     * Appends len bytes of buf at pos at the file's end as this view holds it, under the write lock
     * (one append never splits or overlaps another). For an adapter whose kernel inodes may hold
     * a stale size (libfuse 2 gives each hardlink name its own, and without the writeback cache
     * the kernel places an O_APPEND write at the size its inode last saw).
     *
     * @throws FsException as {@link #write(long, long, byte[], int)}
     */
    public int append(long ino, java.nio.ByteBuffer buf, int pos, int len) {
        boolean over = changingData(() -> {
            Inode n = ranges.regular(ino, Errno.EINVAL, Errno.EINVAL);
            long off = n.size;
            if (off + len > maxFileSize) {
                throw new FsException(Errno.EFBIG, "append at " + off);
            }
            return data.write(ino, n, off, buf, pos, len);
        });
        if (over) {
            relieve(ino);
        }
        return len;
    }

    /**
     * The largest file a view takes (EFBIG past it, as ext4 past 16 TiB): 16 TiB, or less for a
     * store of small blocks, so that a freeze can list every block of any file (it failed the
     * whole snapshot with "file too large to freeze" for a sparse file of 2^50 bytes, which a
     * view had taken).
     */
    private final long maxFileSize;

    @Override
    public long maxFileSize() {
        return maxFileSize;
    }

    /** The largest file size a view of a store of this block size takes. */
    public static long maxFileSize(int blockSize) {
        return Math.min(16L << 40, (Integer.MAX_VALUE - 8L) * blockSize);
    }

    /** The write-back (tests). */
    WriteBack data() {
        return data;
    }

    /**
     * Set while one thread stores data a write took past {@link #DIRTY_LIMIT} ({@link #relieve}):
     * another write that finds the limit passed meanwhile leaves it to that thread.
     */
    private final java.util.concurrent.atomic.AtomicBoolean relieving = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * After a write that left unstored data past {@link #DIRTY_LIMIT}, with no lock held: stores the
     * written file's blocks as flush does (hashed, compressed and appended under the read lock
     * only, so readers of the view go on; committed under the write lock), then, if other files'
     * data still keeps it past the limit, everything under the write lock. A store that fails for
     * want of space drops the written file's unstored data and fails this write with ENOSPC (a
     * punch keeps it waiting instead: {@link #fallocate}).
     */
    private void relieve(long ino) {
        relieve(ino, false);
    }

    /** {@link #relieve(long)}; with keepOnFull a full store drops nothing, and the ENOSPC is still thrown. */
    private void relieve(long ino, boolean keepOnFull) {
        if (!relieving.compareAndSet(false, true)) {
            return;
        }
        try {
            data.persistFileOutsideLock(ino, lock, keepOnFull);
            locked(() -> {
                data.persistIfOver(ino, keepOnFull);
                return null;
            });
        } catch (StoreException e) {
            throw FsException.of(e);
        } finally {
            relieving.set(false);
        }
    }

    /** @throws FsException EINVAL for a negative size or a non-regular file, EISDIR for a directory */
    public void truncate(long ino, long size) {
        if (size < 0) {
            throw new FsException(Errno.EINVAL, "negative size");
        }
        if (size > maxFileSize) {
            throw new FsException(Errno.EFBIG, "size " + size);
        }
        changingData(() -> {
            Inode cur = ns.inode(ino);
            if (cur.type == FileType.DIRECTORY) {
                throw new FsException(Errno.EISDIR, "inode " + ino);
            }
            if (cur.type != FileType.REGULAR) {
                throw new FsException(Errno.EINVAL, "truncate of a non-regular file");
            }
            boolean waiting = data.hasData(ino);
            data.truncate(ino, cur, size);
            // Committed when it returns (docs/DURABILITY.md). A cut or a grow inside a block
            // leaves the file's last block in memory, and a commit records a file with data in
            // memory as last committed (its old size): a truncate(2) by path has no close to store
            // that block at, so it is stored now, with the new size. A file whose written data
            // was already waiting for its close keeps waiting (that close commits the size).
            if (!waiting && data.hasData(ino)) {
                try {
                    data.persist(ino);
                    return null;
                } catch (StoreException.StoreFullException e) {
                    // no room for the block: the truncate still succeeds (a shrink is how one
                    // makes room), the block waits for the next flush as other written data does
                }
            }
            data.persist(WriteBack.METADATA_ONLY);
            return null;
        });
    }

    /**
     * fallocate(2) on a regular file. Nothing is reserved (space is taken when data is stored):
     * <ul>
     * <li>mode 0: the size grows to offset+length if that is larger; data is unchanged;
     * <li>{@link #FALLOC_FL_KEEP_SIZE}: nothing changes;
     * <li>{@link #FALLOC_FL_PUNCH_HOLE} | {@link #FALLOC_FL_KEEP_SIZE}: the range (within the
     *     size) reads as zeros; blocks wholly inside become holes, edge bytes get zeros written;
     * <li>{@link #FALLOC_FL_ZERO_RANGE}, with or without KEEP_SIZE: as punching, and without
     *     KEEP_SIZE the size grows to offset+length if that is larger.
     * </ul>
     * Like a write, the change is persisted on flush/fsync.
     *
     * @throws FsException EINVAL if offset is negative or length is not positive;
     *         EOPNOTSUPP for any other mode (PUNCH_HOLE without KEEP_SIZE included, as Linux);
     *         EFBIG if offset+length overflows or passes {@link #maxFileSize()}, in every mode;
     *         EROFS on a read-only mount;
     *         EISDIR for a directory; ENODEV for any other non-regular file (man 2 fallocate);
     *         ENOSPC if the store is full, or if an allocation (mode 0, KEEP_SIZE) past the
     *         file's end is larger than the store's disk can take (nothing changes then)
     */
    public void fallocate(long ino, int mode, long offset, long length) {
        if (offset < 0 || length <= 0) {
            throw new FsException(Errno.EINVAL, "fallocate offset " + offset + " length " + length);
        }
        boolean punch = mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
        boolean zero = (mode & ~FALLOC_FL_KEEP_SIZE) == FALLOC_FL_ZERO_RANGE;
        if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE && !punch && !zero) {
            throw new FsException(Errno.EOPNOTSUPP, "fallocate mode 0x" + Integer.toHexString(mode));
        }
        long end = offset + length;
        // whatever the mode (KEEP_SIZE and punching too), as the kernel's vfs_fallocate answers
        // for a local filesystem past its s_maxbytes (FUSE's is unbounded: the view must say it)
        if (end < 0 || end > maxFileSize) {
            throw new FsException(Errno.EFBIG, "fallocate offset " + offset + " length " + length);
        }
        boolean over = changingData(() -> {
            ranges.fallocate(ino, punch || zero, (mode & FALLOC_FL_KEEP_SIZE) != 0, offset, end, this::usableBytes);
            return data.overDirtyLimit(); // punched pages make dirty blocks (WriteBack.BLOCK_COST)
        });
        if (over) {
            try {
                relieve(ino, true); // stored as a write's are: outside the write lock
            } catch (FsException e) {
                if (e.errno() != Errno.ENOSPC) {
                    throw e;
                }
                // a full store: the punched pages and the file's written data wait in memory, as
                // a truncate's cut block does (the range reads as punched), and the file's close
                // or fsync tries again (a punch is how one makes room, so it does not fail)
            }
        }
    }

    /**
     * lseek(2) SEEK_DATA: the first offset at or after offset that lies in data, to the page (4
     * KiB): a block stored as a whole chunk is data throughout; a block stored as a hole (never
     * written, punched, or all zeros) is not; in a block written and not yet stored, or stored as
     * a sub-block delta, a page is a hole if it was punched or zeroed, or was not written and is a
     * hole in the block under it; once stored, a page written with zeros only is one too
     * ({@link WriteBack#holePages}).
     *
     * @throws FsException ENXIO if offset is negative or at/past EOF, or no data follows it;
     *         EINVAL if ino is not a regular file
     */
    public long seekData(long ino, long offset) {
        return reading(() -> ranges.seekData(ino, offset));
    }

    /**
     * lseek(2) SEEK_HOLE: the first offset at or after offset that lies in a hole; the end of
     * the file counts as a hole, so inside the last data this is the size (as on ext4).
     *
     * @throws FsException ENXIO if offset is negative or at/past EOF; EINVAL if ino is not a
     *         regular file
     */
    public long seekHole(long ino, long offset) {
        return reading(() -> ranges.seekHole(ino, offset));
    }

    /**
     * copy_file_range(2): copies up to len bytes from inoIn at offIn to inoOut at offOut and
     * returns the count copied: short at the source's EOF, 0 at or past it. A copy of a file
     * from its start into an empty file (what cp does) is a clone: the destination takes the
     * source's block list by reference (one list page per 2,048 blocks) and its own changed
     * blocks, so its cost does not grow with the file. Elsewhere, where both offsets sit on a
     * block boundary and a whole stored block is copied, the destination shares that block's
     * chunk instead of copying bytes. Either way the destination is persisted at once, so that
     * the chunks stay referenced; a later write to either file copies as any write does.
     *
     * @throws FsException EINVAL for a negative offset or length, a non-regular file, or
     *         overlapping ranges in one file; EISDIR for a directory; EFBIG if the destination
     *         range overflows; EROFS on a read-only mount; ENOSPC if the store is full
     */
    public long copyFileRange(long inoIn, long offIn, long inoOut, long offOut, long len) {
        if (offIn < 0 || offOut < 0 || len < 0) {
            throw new FsException(Errno.EINVAL, "copy_file_range offsets " + offIn + ", " + offOut + " length " + len);
        }
        return changingData(() -> ranges.copy(inoIn, offIn, inoOut, offOut, len));
    }

    // ------------------------------------------------------------------ xattrs

    /** @throws FsException EEXIST with XATTR_CREATE if it exists, ENODATA with XATTR_REPLACE if not, EOPNOTSUPP for ACLs and names outside user., trusted., security., system. */
    public void setxattr(long ino, String name, byte[] value, int flags) {
        Attributes.refuseUnsupported(name);
        changeAttributes(ino, () -> attrs.setxattr(ino, name, value, flags));
    }

    /** @throws FsException ENODATA if there is no such attribute, EOPNOTSUPP for ACLs and names outside user., trusted., security., system. */
    public byte[] getxattr(long ino, String name) {
        Attributes.refuseUnsupported(name);
        return reading(() -> attrs.getxattr(ino, name));
    }

    public List<String> listxattr(long ino) {
        return reading(() -> attrs.listxattr(ino));
    }

    /** @throws FsException ENODATA if there is no such attribute, EOPNOTSUPP for ACLs */
    public void removexattr(long ino, String name) {
        Attributes.refuseAcl(name); // a name of another namespace stored before 2026-12-03 may go
        changeAttributes(ino, () -> attrs.removexattr(ino, name));
    }

    // ------------------------------------------------------------------ filesystem

    /** statfs numbers: what the store's host filesystem has. */
    public record FsStat(long blockSize, long blocks, long blocksFree, long blocksAvail, long files, long filesFree, int nameMax) {
    }

    public FsStat statfs() {
        try {
            FileStore fsx = storeDisk();
            long b = 4096;
            long used = reading(() -> ns.nextIno); // inode numbers handed out: an upper bound of those in use
            long files = Math.max(used * 2, 1L << 20);
            return new FsStat(b, fsx.getTotalSpace() / b, fsx.getUnallocatedSpace() / b, fsx.getUsableSpace() / b,
                    files, files - used, NAME_MAX);
        } catch (IOException e) {
            throw new FsException(Errno.EIO, "statfs: " + e.getMessage());
        }
    }

    /** The store's filesystem, found once (Files.getFileStore reads the mount table): its numbers are read at each call. */
    private FileStore storeDisk() throws IOException {
        FileStore f = storeDisk;
        if (f == null) {
            storeDisk = f = Files.getFileStore(store.dir());
        }
        return f;
    }

    private volatile FileStore storeDisk;

    /** Bytes the store's disk can still take (unbounded if it cannot be told). */
    private long usableBytes() {
        try {
            return storeDisk().getUsableSpace();
        } catch (IOException e) {
            return Long.MAX_VALUE;
        }
    }

    /** The stored chunk of a file's block (null: a hole), for tests of block sharing. */
    ChunkId storedBlock(long ino, long idx) {
        return reading(() -> data.storedBlock(ino, ns.inode(ino), idx));
    }

    /** Deltas the write-back knows the bases of (tests check that it does not grow without bound). */
    int deltaBasesKnown() {
        return reading(data::deltaBasesKnown);
    }

    /** Commits' records of files with data waiting, as last committed (tests check they are not repeated). */
    long asCommittedRecords() {
        return reading(data::asCommittedRecords);
    }

    /** Inodes the read-ahead tracks now (tests check that it does not grow without bound). */
    int readAheadTracked() {
        return readAhead.tracked();
    }

    /** Inodes the write-back holds state of (for tests: deleted ones must not stay). */
    int dataTracked() {
        return reading(data::tracked);
    }

    @Override
    public void close() {
        readAhead.close();
        persistAll();
        trimMemory(); // the dirty pages' native memory (a spare mount process serves more mounts)
    }
}
