package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.tree.DirEntries;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.FileType;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotReader;
import io.cowfs.blockstore.tree.SnapshotRoot;
import io.cowfs.blockstore.view.ViewDelta;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.LongConsumer;
import java.util.function.LongPredicate;

/**
 * The names and inodes of one view: the base snapshot's directories with the view's changes laid
 * over them, hardlink counts, open counts, and inodes that lost their last name while open or
 * never had one (open(O_TMPFILE)) (orphans: nlink 0, still reachable by inode number until their last release, reclaimed at the
 * next mount if the process dies first). It behaves like a kernel filesystem: an unlinked open
 * file has no name at all; adapters that need a name for it (libfuse's {@code .fuse_hidden}) keep
 * one themselves.
 *
 * <p>Locking: every field is guarded by the owning {@link ViewFs}'s lock; callers hold its read
 * lock to read and its write lock to change. {@link #lost} is set once at open.
 */
final class ViewNamespace {
    private static final int S_ISGID = 02000;

    private final SnapshotReader base;
    /** Called (write lock held) when an inode is deleted, so that its data and caches go too. */
    private final LongConsumer onDelete;
    /** Inodes whose delta entries a damaged index lost (read-only salvage); null if none. */
    private LongPredicate lost;

    long nextIno; // guarded by lock
    /** Current record of each inode that differs from the base; a null value is a deleted inode. */
    final Map<Long, Inode> changed = new HashMap<>(); // guarded by lock
    /**
     * Bumped by every holder of the write lock before it lets go (ViewFs.locked, WriteBack's
     * commits): two reads that see the same value saw the same names and attributes. Written
     * under the write lock only; read without a lock.
     */
    volatile long generation;
    /** Per directory, names that differ from the base; a null value is a removed name. */
    final Map<Long, TreeMap<String, DirObject.Entry>> overlay = new HashMap<>(); // guarded by lock
    /** Inodes changed since the last persist. */
    final Set<Long> dirtyInodes = new HashSet<>(); // guarded by lock
    /** Per directory, names changed since the last persist. */
    final Map<Long, Set<String>> dirtyNames = new HashMap<>(); // guarded by lock
    /** Directories deleted since the last persist: their entries go from the delta with them. */
    final Set<Long> deletedDirs = new HashSet<>(); // guarded by lock
    /** Files created (CREATE) since the last persist: their close commits them (ViewFs.create). */
    final Set<Long> created = new HashSet<>(); // guarded by lock
    /** Open handles per inode (writable views only); an inode with nlink 0 lives while it has one. */
    private final Map<Long, Integer> openCount = new HashMap<>(); // guarded by lock

    ViewNamespace(SnapshotReader base, LongConsumer onDelete) {
        this.base = base;
        this.onDelete = onDelete;
        this.nextIno = base.maxIno() + 1;
    }

    /** Loads the view's persisted delta (at mount, before any call). */
    void load(ViewDelta.State s, LongPredicate lostInodes) {
        nextIno = Math.max(s.nextIno, base.maxIno() + 1);
        changed.putAll(s.inodes);
        overlay.putAll(s.dirents);
        lost = lostInodes;
    }

    static long now() {
        java.time.Instant i = java.time.Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    // ------------------------------------------------------------------ inodes

    /** The current inode (shared when unchanged: do not modify), or ENOENT. */
    Inode inode(long ino) {
        if (lost != null && lost.test(ino)) {
            throw new FsException(Errno.EIO, "inode " + ino + ": the view's changes to it lay on a damaged index page");
        }
        Inode n = changed.containsKey(ino) ? changed.get(ino) : base.inode(ino);
        if (n == null) {
            throw new FsException(Errno.ENOENT, "inode " + ino);
        }
        return n;
    }

    /** The inode number a listing reports for ino (Inode#reportedIno), or 0 if it does not exist (no lost-inode check). */
    long reportedIno(long ino) {
        if (changed.containsKey(ino)) {
            Inode n = changed.get(ino);
            return n == null ? 0 : n.reportedIno();
        }
        return base.reportedIno(ino);
    }

    /** The inode's own changeable copy; it will be persisted. Write lock held. */
    Inode mutable(long ino) {
        Inode n = changed.get(ino);
        if (n == null) {
            n = inode(ino).copy();
            changed.put(ino, n);
        }
        dirtyInodes.add(ino);
        return n;
    }

    Inode dirInode(long ino) {
        Inode d = inode(ino);
        if (d.type != FileType.DIRECTORY) {
            throw new FsException(Errno.ENOTDIR, "inode " + ino);
        }
        return d;
    }

    Inode newInode(long dir, FileType type, int perm, int uid, int gid) {
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

    void deleteInode(long ino) {
        Inode was = changed.containsKey(ino) ? changed.get(ino) : base.inode(ino);
        if (was == null || was.type == FileType.DIRECTORY) {
            deletedDirs.add(ino);
        }
        if (base.inode(ino) != null) {
            changed.put(ino, null);
        } else {
            changed.remove(ino);
        }
        dirtyInodes.add(ino);
        overlay.remove(ino);
        onDelete.accept(ino);
    }

    /** Drops one link; the inode goes with its last link unless it is open. */
    void dropLink(long ino) {
        Inode m = mutable(ino);
        m.nlink--;
        m.ctimeNs = now();
        if (m.nlink <= 0 && openCount.getOrDefault(ino, 0) == 0) {
            deleteInode(ino);
        }
    }

    void opened(long ino) {
        openCount.merge(ino, 1, Integer::sum);
    }

    /** What {@link #released} did. */
    enum Released { STILL_OPEN, LAST, DELETED }

    /** One handle closed: still open, its last one, or its last one and an orphan, now deleted. */
    Released released(long ino) {
        int c = openCount.merge(ino, -1, Integer::sum);
        if (c > 0) {
            return Released.STILL_OPEN;
        }
        openCount.remove(ino);
        Inode n = changed.get(ino);
        if (n != null && n.nlink <= 0) {
            deleteInode(ino);
            return Released.DELETED;
        }
        return Released.LAST;
    }

    /** At mount: inodes left with nlink 0 by a process that died with them open. */
    void reclaimOrphans() {
        List<Long> orphans = new ArrayList<>();
        for (Map.Entry<Long, Inode> e : changed.entrySet()) {
            if (e.getValue() != null && e.getValue().nlink == 0) {
                orphans.add(e.getKey());
            }
        }
        orphans.forEach(this::deleteInode);
    }

    // ------------------------------------------------------------------ names

    static void checkName(String name) {
        if (name.isEmpty() || name.indexOf('/') >= 0 || name.indexOf('\0') >= 0) {
            throw new FsException(Errno.EINVAL, "bad name '" + name + "'");
        }
        if (name.getBytes(StandardCharsets.UTF_8).length > ViewFs.NAME_MAX) {
            throw new FsException(Errno.ENAMETOOLONG, name.substring(0, 32) + "...");
        }
    }

    void checkFree(long dir, String name) {
        checkName(name);
        if (entry(dir, name) != null) {
            throw new FsException(Errno.EEXIST, name);
        }
    }

    /** The entry of name in dir, or null. */
    DirObject.Entry entry(long dir, String name) {
        Inode d = dirInode(dir);
        TreeMap<String, DirObject.Entry> ov = overlay.get(dir);
        if (ov != null && ov.containsKey(name)) {
            return ov.get(name);
        }
        return base.dir(d.dirObject).get(name);
    }

    /** Sets (or, with null, removes) a name; touches the directory. Write lock held. */
    void setEntry(long dir, String name, DirObject.Entry e) {
        Inode d = dirInode(dir);
        TreeMap<String, DirObject.Entry> ov = overlay.computeIfAbsent(dir, k -> new TreeMap<>());
        if (e == null && !base.dir(d.dirObject).contains(name)) {
            ov.remove(name);
        } else {
            ov.put(name, e);
        }
        dirtyNames.computeIfAbsent(dir, k -> new HashSet<>()).add(name);
        Inode m = mutable(dir);
        m.mtimeNs = m.ctimeNs = now();
    }

    /** The directory's entries now: its base's with this view's changes applied. */
    DirEntries entries(long dir) {
        Inode d = dirInode(dir);
        DirEntries b = base.dir(d.dirObject);
        TreeMap<String, DirObject.Entry> ov = overlay.get(dir);
        return ov == null ? b : b.with(ov);
    }

    /** Resolves an absolute path (no symlinks followed: the kernel resolves those). */
    long resolve(String path) {
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

    // ------------------------------------------------------------------ changes (write lock held)

    long mknod(long dir, String name, int mode, long rdev, int uid, int gid) {
        checkFree(dir, name);
        FileType t = FileType.ofMode(mode);
        if (t == null || t == FileType.DIRECTORY || t == FileType.SYMLINK) {
            t = FileType.REGULAR;
        }
        Inode n = newInode(dir, t, mode, uid, gid);
        n.rdev = rdev;
        setEntry(dir, name, new DirObject.Entry(n.ino, t));
        return n.ino;
    }

    long create(long dir, String name, int mode, int uid, int gid) {
        checkFree(dir, name);
        Inode n = newInode(dir, FileType.REGULAR, mode, uid, gid);
        setEntry(dir, name, new DirObject.Entry(n.ino, FileType.REGULAR));
        opened(n.ino);
        created.add(n.ino);
        return n.ino;
    }

    /** True if ino is a file that exists with no name (nlink 0: unlinked while open, or made by tmpfile). Lock held. */
    boolean hasNoName(long ino) {
        Inode n = changed.get(ino); // a file loses its last name only through a change
        return n != null && n.nlink <= 0 && n.type != FileType.DIRECTORY;
    }

    /** An open regular file with no name (ViewFs.tmpfile): an orphan from the start, not in created. */
    long tmpfile(long dir, int mode, int uid, int gid) {
        if (inode(dir).type != FileType.DIRECTORY) {
            throw new FsException(Errno.ENOTDIR, "tmpfile in a non-directory");
        }
        Inode n = newInode(dir, FileType.REGULAR, mode, uid, gid);
        n.nlink = 0;
        opened(n.ino);
        return n.ino;
    }

    long mkdir(long dir, String name, int mode, int uid, int gid) {
        checkFree(dir, name);
        Inode n = newInode(dir, FileType.DIRECTORY, mode, uid, gid);
        setEntry(dir, name, new DirObject.Entry(n.ino, FileType.DIRECTORY));
        mutable(dir).nlink++;
        return n.ino;
    }

    long symlink(byte[] target, long dir, String name, int uid, int gid) {
        checkFree(dir, name);
        Inode n = newInode(dir, FileType.SYMLINK, 0777, uid, gid);
        n.target = target;
        n.size = target.length;
        setEntry(dir, name, new DirObject.Entry(n.ino, FileType.SYMLINK));
        return n.ino;
    }

    void link(long ino, long dir, String name) {
        Inode n = inode(ino);
        if (n.type == FileType.DIRECTORY) {
            throw new FsException(Errno.EPERM, "hard link to a directory");
        }
        checkFree(dir, name);
        Inode m = mutable(ino);
        m.nlink++;
        m.ctimeNs = now();
        setEntry(dir, name, new DirObject.Entry(ino, m.type));
    }

    void unlink(long dir, String name) {
        checkName(name);
        DirObject.Entry e = entry(dir, name);
        if (e == null) {
            throw new FsException(Errno.ENOENT, name);
        }
        if (e.type() == FileType.DIRECTORY) {
            throw new FsException(Errno.EISDIR, name);
        }
        setEntry(dir, name, null);
        dropLink(e.ino());
    }

    void rmdir(long dir, String name) {
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
        dropDir(e.ino());
    }

    /**
     * An empty directory lost its name (rmdir, a rename over it). As dropLink for a file: one
     * that is open somewhere (a process's working directory, a descriptor: the kernel adapter
     * holds it open while the kernel holds its node) stays, empty, with nlink 0, and goes with
     * its last release; the kernel refuses new names in it (S_DEAD).
     */
    private void dropDir(long ino) {
        Inode m = mutable(ino);
        m.nlink = 0;
        m.ctimeNs = now();
        if (openCount.getOrDefault(ino, 0) == 0) {
            deleteInode(ino);
        }
    }

    /**
     * renameat2's RENAME_EXCHANGE: the two names swap what they name, atomically (one commit).
     * Either may be a directory; a directory that changes parent moves a link of its ".." from
     * one parent's nlink to the other's, as ext4 counts them.
     */
    void exchange(long fromDir, String fromName, long toDir, String toName) {
        DirObject.Entry a = renamed(fromDir, fromName, toDir, toName);
        DirObject.Entry b = entry(toDir, toName);
        if (b == null) {
            throw new FsException(Errno.ENOENT, toName);
        }
        if (fromDir == toDir && fromName.equals(toName)) {
            return;
        }
        setEntry(fromDir, fromName, b);
        setEntry(toDir, toName, a);
        if (fromDir != toDir) {
            int moved = (a.type() == FileType.DIRECTORY ? 1 : 0) - (b.type() == FileType.DIRECTORY ? 1 : 0);
            mutable(fromDir).nlink -= moved;
            mutable(toDir).nlink += moved;
        }
        long now = now();
        mutable(a.ino()).ctimeNs = now;
        mutable(b.ino()).ctimeNs = now;
    }

    /** The checks both renames start with: both names valid, the source there (ENOENT), toDir a directory; the source's entry. */
    private DirObject.Entry renamed(long fromDir, String fromName, long toDir, String toName) {
        checkName(fromName);
        checkName(toName);
        DirObject.Entry src = entry(fromDir, fromName);
        if (src == null) {
            throw new FsException(Errno.ENOENT, fromName);
        }
        dirInode(toDir);
        return src;
    }

    void rename(long fromDir, String fromName, long toDir, String toName) {
        DirObject.Entry src = renamed(fromDir, fromName, toDir, toName);
        if (fromDir == toDir && fromName.equals(toName)) {
            return;
        }
        DirObject.Entry dst = entry(toDir, toName);
        boolean srcDir = src.type() == FileType.DIRECTORY;
        if (dst != null) {
            if (dst.ino() == src.ino()) {
                return; // two links to one file: POSIX says do nothing
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
                dropDir(dst.ino());
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
    }
}
