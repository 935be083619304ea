package io.cowfs.fusefs.fuse;

import io.cowfs.fusefs.vfs.Errno;
import io.cowfs.fusefs.vfs.FsException;
import io.cowfs.fusefs.vfs.Privileges;
import io.cowfs.fusefs.vfs.ViewFs;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.Delegate;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Timespec;

/** The adapter for writable views: the read side plus every changing callback. */
public class WritableFuse extends CowFuse {
    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;
    private static final int O_APPEND = 02000;

    /** fuse_operations.symlink with both arguments as libfuse passes them: C strings. */
    @FunctionalInterface
    public interface SymlinkBytes {
        @Delegate
        int symlink(Pointer target, Pointer link);
    }

    // strongly held for the mount's life: libfuse keeps a pointer to its native closure
    private final SymlinkBytes symlinkBytes = this::symlink;

    public WritableFuse(ViewFs vfs, String fsName) {
        super(vfs, fsName);
        // jnr-fuse's symlink(String, String) decodes the target, turning bytes that are not UTF-8
        // into U+FFFD, so the view would store another target than the one asked for; a target is
        // any bytes (the kernel adapter keeps them), so fuse_operations' symlink slot gets a
        // closure that reads it as bytes
        var slot = fuseOperations.symlink;
        slot.getMemory().putPointer(slot.offset(),
                fuseOperations.getRuntime().getClosureManager().getClosurePointer(SymlinkBytes.class, symlinkBytes));
    }

    private int uid() {
        return getContext().uid.intValue();
    }

    private int gid() {
        return getContext().gid.intValue();
    }

    private static int id(long v) {
        return v == 0xFFFFFFFFL || v == -1 ? -1 : (int) v;
    }

    /**
     * The parent and name of something to be made. jnr-fuse decodes every path with U+FFFD in
     * place of bytes that are not UTF-8, so a new name with U+FFFD in it is refused (EINVAL): it
     * may stand for other bytes (docs/DESIGN-DECISIONS.md, 7). The kernel adapter sees the bytes
     * and makes names that hold U+FFFD of their own.
     */
    private ViewFs.Parent newParent(String path) {
        ViewFs.Parent p = vfs.parent(path);
        refuseReplaced(p.name());
        return p;
    }

    private static void refuseReplaced(String name) {
        if (name.indexOf('\uFFFD') >= 0) {
            throw new FsException(Errno.EINVAL, "names must be valid UTF-8");
        }
    }

    @Override
    public int mknod(String path, long mode, long rdev) {
        return guard("mknod", path, () -> {
            ViewFs.Parent p = newParent(path);
            vfs.mknod(p.dir(), p.name(), (int) mode, rdev, uid(), gid());
            return 0;
        });
    }

    @Override
    public int create(String path, long mode, FuseFileInfo fi) {
        return guard("create", path, () -> {
            ViewFs.Parent p = newParent(path);
            long ino = vfs.create(p.dir(), p.name(), (int) mode & ~S_IFMT, uid(), gid());
            fi.fh.set(ino);
            return 0;
        });
    }

    @Override
    public int mkdir(String path, long mode) {
        return guard("mkdir", path, () -> {
            ViewFs.Parent p = newParent(path);
            vfs.mkdir(p.dir(), p.name(), (int) mode, uid(), gid());
            return 0;
        });
    }

    /** symlink(2): the link's path decoded as jnr-fuse decodes every path, the target kept as bytes. */
    int symlink(Pointer target, Pointer link) {
        String path = link.getString(0);
        return guard("symlink", path, () -> {
            ViewFs.Parent p = newParent(path);
            byte[] t = new byte[target.indexOf(0, (byte) 0)];
            target.get(0, t, 0, t.length);
            vfs.symlink(t, p.dir(), p.name(), uid(), gid());
            return 0;
        });
    }

    @Override
    public int link(String oldpath, String newpath) {
        return guard("link", newpath, () -> {
            long ino = resolve(oldpath);
            ViewFs.Parent p = newParent(newpath);
            vfs.link(ino, p.dir(), p.name());
            return 0;
        });
    }

    @Override
    public int unlink(String path) {
        return guard("unlink", path, () -> {
            ViewFs.Parent p = vfs.parent(path);
            if (HiddenNames.isHiddenName(p.name()) && hidden.remove(p.dir(), p.name()) != null) {
                return 0; // its inode went from the namespace when it was hidden; it goes with its last handle
            }
            vfs.unlink(p.dir(), p.name());
            return 0;
        });
    }

    @Override
    public int rmdir(String path) {
        return guard("rmdir", path, () -> {
            ViewFs.Parent p = vfs.parent(path);
            long dir = hidden.isEmpty() ? 0 : hiddenDirIno(p);
            vfs.rmdir(p.dir(), p.name());
            if (dir != 0) {
                hidden.dropDir(dir);
            }
            return 0;
        });
    }

    @Override
    public int rename(String oldpath, String newpath) {
        return guard("rename", oldpath, () -> {
            if (newpath.startsWith(oldpath + "/")) {
                throw new FsException(Errno.EINVAL, "cannot move a directory into itself");
            }
            ViewFs.Parent from = vfs.parent(oldpath);
            ViewFs.Parent to = newParent(newpath);
            Hid before = justHidden.remove(workerKey());
            if (from.dir() == to.dir() && HiddenNames.isHiddenName(to.name()) && hide(from, to)) {
                return 0;
            }
            if (before != null && before.dir == to.dir() && before.name.equals(to.name())
                    && System.nanoTime() - before.atNs < JUST_NS && vfs.lookup(from.dir(), from.name()) == before.ino) {
                // libfuse hid the open target of this rename a moment ago, on this thread, not
                // knowing that it is another link of the source: a rename between two links of
                // one file does nothing (POSIX), so the hidden name's link comes back
                vfs.link(before.ino, to.dir(), to.name());
                return 0;
            }
            vfs.rename(from.dir(), from.name(), to.dir(), to.name());
            return 0;
        });
    }

    /** The inode of a directory about to be removed, 0 if it cannot be looked up (rmdir then says why). */
    private long hiddenDirIno(ViewFs.Parent p) {
        try {
            return vfs.lookup(p.dir(), p.name());
        } catch (FsException e) {
            return 0;
        }
    }

    /**
     * libfuse hiding an open file instead of unlinking it (or before replacing it): a rename of a
     * non-directory onto a free hidden name in the same directory becomes an unlink whose inode
     * stays reachable under the hidden name ({@link HiddenNames}). False if it is not such a rename.
     */
    private boolean hide(ViewFs.Parent from, ViewFs.Parent to) {
        long ino = vfs.lookup(from.dir(), from.name());
        if ((vfs.getattr(ino).mode() & S_IFMT) == S_IFDIR) {
            return false;
        }
        try {
            vfs.lookup(to.dir(), to.name());
            return false; // not free: an ordinary rename over it
        } catch (FsException e) {
            if (e.errno() != Errno.ENOENT) {
                throw e;
            }
        }
        vfs.unlink(from.dir(), from.name());
        hidden.hide(to.dir(), to.name(), ino);
        justHidden.put(workerKey(), new Hid(from.dir(), from.name(), ino, System.nanoTime()));
        return true;
    }

    /** A name this thread just hid: libfuse's rename over an open file hides it, then renames. */
    private record Hid(long dir, String name, long ino, long atNs) {}

    /**
     * The last hide per libfuse worker thread (libfuse runs a rename's hide and the rename itself
     * on one worker, one after the other), consumed by that worker's next rename; older than
     * {@link #JUST_NS} it was the hide of an unlink, not of this rename. Keyed by {@link
     * #workerKey}: jnr gives each callback a Java thread of its own, so a ThreadLocal would not do.
     */
    private final java.util.concurrent.ConcurrentHashMap<Long, Hid> justHidden = new java.util.concurrent.ConcurrentHashMap<>();

    /** The calling libfuse worker: the address of its fuse_context, which libfuse keeps per thread. */
    private long workerKey() {
        return jnr.ffi.Struct.getMemory(getContext()).address();
    }

    private static final long JUST_NS = 100_000_000L;

    @Override
    public int chmod(String path, long mode) {
        return guard("chmod", path, () -> {
            vfs.chmod(resolve(path), (int) mode);
            return 0;
        });
    }

    @Override
    public int chown(String path, long uid, long gid) {
        return guard("chown", path, () -> {
            vfs.chown(resolve(path), id(uid), id(gid));
            return 0;
        });
    }

    @Override
    public int truncate(String path, long size) {
        return guard("truncate", path, () -> {
            vfs.truncate(resolve(path), size);
            return 0;
        });
    }

    @Override
    public int ftruncate(String path, long size, FuseFileInfo fi) {
        return guard("ftruncate", path, () -> {
            vfs.truncate(ino(path, fi), size);
            return 0;
        });
    }

    @Override
    public int utimens(String path, Timespec[] timespec) {
        return guard("utimens", path, () -> {
            vfs.utimens(resolve(path), timeNs(timespec[0]), timeNs(timespec[1]));
            return 0;
        });
    }

    @Override
    public int write(String path, Pointer buf, long size, long offset, FuseFileInfo fi) {
        return guard("write", path, () -> {
            byte[] tmp = new byte[(int) size];
            buf.get(0, tmp, 0, (int) size);
            long ino = ino(path, fi);
            int flags = fi.flags.get();
            if ((flags & O_ACCMODE) != 0) {
                // a write(2) (write-back of mapped pages carries no flags): the kernel removes
                // setuid/setgid by the mode its inode holds, which for one of several hardlink
                // names may be stale (chmod through another name)
                killPrivsOfCaller(ino);
            }
            if ((flags & O_APPEND) != 0) {
                // the write of a descriptor opened O_APPEND: at the end the view holds, not at the
                // size this name's kernel inode last saw, which a write or truncate through
                // another hardlink name leaves stale
                return vfs.append(ino, java.nio.ByteBuffer.wrap(tmp), 0, (int) size);
            }
            return vfs.write(ino, offset, tmp, (int) size);
        });
    }

    /**
     * fallocate(2), every mode the view takes ({@link ViewFs#fallocate}; libfuse 2.9.1 and later
     * pass it on). Like a write by a caller without CAP_FSETID it clears setuid/setgid.
     */
    @Override
    public int fallocate(String path, int mode, long off, long length, FuseFileInfo fi) {
        return guard("fallocate", path, () -> {
            long ino = ino(path, fi);
            vfs.fallocate(ino, mode, off, length);
            killPrivsOfCaller(ino);
            return 0;
        });
    }

    /**
     * A write(2) or fallocate changed file ino: setuid/setgid go unless the caller has CAP_FSETID
     * ({@link Privileges}). One mode test for the usual file; the caller's context and /proc are
     * read only for a file with the bits set.
     */
    private void killPrivsOfCaller(long ino) {
        if ((vfs.getattr(ino).mode() & 06000) != 0) {
            var c = getContext();
            Privileges.killUnlessFsetid(vfs, ino, c.pid.intValue(), c.uid.intValue(), c.gid.intValue());
        }
    }

    @Override
    public int flush(String path, FuseFileInfo fi) {
        return guard("flush", path, () -> {
            if (io.cowfs.fusefs.kernel.OpenWriters.flushing() && io.cowfs.fusefs.kernel.OpenWriters.isFlusher(getContext().pid.intValue())) {
                return 0; // a snapshot's flush: the persist after it stores the file (OpenWriters)
            }
            vfs.flush(ino(path, fi));
            return 0;
        });
    }

    @Override
    public int fsync(String path, int isdatasync, FuseFileInfo fi) {
        return guard("fsync", path, () -> {
            vfs.fsync(ino(path, fi));
            return 0;
        });
    }

    @Override
    public int fsyncdir(String path, FuseFileInfo fi) {
        return guard("fsyncdir", path, () -> {
            vfs.fsync(0);
            return 0;
        });
    }

    @Override
    public int setxattr(String path, String name, Pointer value, long size, int flags) {
        return guard("setxattr", path, () -> {
            refuseReplaced(name);
            byte[] v = new byte[(int) size];
            value.get(0, v, 0, (int) size);
            vfs.setxattr(resolve(path), name, v, flags);
            return 0;
        });
    }

    @Override
    public int removexattr(String path, String name) {
        return guard("removexattr", path, () -> {
            vfs.removexattr(resolve(path), name);
            return 0;
        });
    }
}
