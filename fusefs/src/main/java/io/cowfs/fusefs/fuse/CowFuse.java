package io.cowfs.fusefs.fuse;

import io.cowfs.fusefs.vfs.Dirents;
import io.cowfs.fusefs.vfs.Errno;
import io.cowfs.fusefs.vfs.FsException;
import io.cowfs.fusefs.vfs.Stat;
import io.cowfs.fusefs.vfs.ViewFs;
import java.nio.charset.StandardCharsets;
import java.util.function.IntSupplier;
import jnr.ffi.Pointer;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

/**
 * Read side of the jnr-fuse adapter: every callback is one {@link ViewFs} call inside
 * {@link #guard}. Used as is for read-only snapshot mounts, where {@code flush} stays
 * unimplemented so that the kernel does not send FLUSH at all; {@link WritableFuse} adds the rest.
 *
 * <p>File handles: {@code fi.fh} holds the inode number, so I/O on an open file never needs its
 * path (an unlinked open file is reachable only under libfuse's hidden name, or not at all).
 */
public class CowFuse extends FuseStubFS {
    static final int O_ACCMODE = 3;
    static final long UTIME_NOW = (1L << 30) - 1;
    static final long UTIME_OMIT = (1L << 30) - 2;
    private static final int FLAG_NULLPATH_OK = 1;
    private static final int FLAG_UTIME_OMIT_OK = 4;
    private static final int STAT_SIZE = jnr.ffi.Struct.size(new FileStat(jnr.ffi.Runtime.getSystemRuntime()));

    protected final ViewFs vfs;
    private final String fsName;
    /** libfuse's hidden names of unlinked open files (writable mounts only ever have some). */
    protected final HiddenNames hidden = new HiddenNames();

    public CowFuse(ViewFs vfs, String fsName) {
        this.vfs = vfs;
        this.fsName = fsName;
        // jnr-fuse leaves fuse_operations' flag bits zero (it maps them as padding); we set two
        // of them (bits of the word that follows the 38 callback pointers getattr..bmap in fuse.h,
        // FUSE_USE_VERSION 26; little-endian bitfield):
        // - flag_nullpath_ok (bit 0): without it libfuse answers ENOENT itself for
        //   read/write/ftruncate/fsync/release of an open file that has no path (its directory
        //   was removed) instead of calling us with a null path and fi.fh;
        // - flag_utime_omit_ok (bit 2): without it libfuse silently drops a utimensat that sets
        //   only one of atime/mtime (touch -m, touch -a) instead of passing UTIME_OMIT.
        int ptr = jnr.ffi.Runtime.getSystemRuntime().addressSize();
        jnr.ffi.Pointer ops = jnr.ffi.Struct.getMemory(fuseOperations);
        ops.putByte(38L * ptr, (byte) (FLAG_NULLPATH_OK | FLAG_UTIME_OMIT_OK));
    }

    @Override
    protected String getFSName() {
        return fsName;
    }

    /**
     * The one place that turns errors into -errno ({@link Errno#of}); nothing thrown here may
     * reach libfuse. Anything but an FsException is logged in one line.
     */
    protected static int guard(String op, String path, IntSupplier work) {
        try {
            return work.getAsInt();
        } catch (FsException e) {
            return -e.errno().code;
        } catch (Throwable t) {
            try {
                System.err.println(java.time.Instant.now() + " cowfs: " + op + " " + path + " failed: " + t);
            } catch (OutOfMemoryError again) {
                // the line itself needs heap: the answer (ENOMEM) matters more
            }
            return -Errno.of(t).code;
        }
    }

    /** A path's inode; libfuse's hidden names of unlinked open files included. */
    protected long resolve(String path) {
        Long h = hidden.find(vfs, path);
        return h != null ? h : vfs.resolve(path);
    }

    protected static long fh(FuseFileInfo fi) {
        return fi == null ? 0 : fi.fh.get();
    }

    protected long ino(String path, FuseFileInfo fi) {
        long h = fh(fi);
        if (h != 0) {
            return h;
        }
        if (path == null) {
            throw new FsException(Errno.ENOENT, "no path");
        }
        return resolve(path);
    }

    static void fill(Stat s, FileStat st) {
        fill(s, st, 0);
    }

    /** nlinkBias: added to the link count (see {@link #attributes}). */
    static void fill(Stat s, FileStat st, int nlinkBias) {
        st.st_ino.set(s.ino());
        st.st_mode.set(s.mode());
        st.st_nlink.set(s.nlink() + nlinkBias);
        st.st_uid.set(s.uid());
        st.st_gid.set(s.gid());
        st.st_size.set(s.size());
        st.st_blocks.set(s.blocks512());
        st.st_blksize.set(4096);
        st.st_rdev.set(s.rdev());
        st.st_atim.tv_sec.set(Math.floorDiv(s.atimeNs(), 1_000_000_000L));
        st.st_atim.tv_nsec.set(Math.floorMod(s.atimeNs(), 1_000_000_000L));
        st.st_mtim.tv_sec.set(Math.floorDiv(s.mtimeNs(), 1_000_000_000L));
        st.st_mtim.tv_nsec.set(Math.floorMod(s.mtimeNs(), 1_000_000_000L));
        st.st_ctim.tv_sec.set(Math.floorDiv(s.ctimeNs(), 1_000_000_000L));
        st.st_ctim.tv_nsec.set(Math.floorMod(s.ctimeNs(), 1_000_000_000L));
    }

    @Override
    public int getattr(String path, FileStat stat) {
        return guard("getattr", path, () -> attributes(path, null, stat));
    }

    @Override
    public int fgetattr(String path, FileStat stat, FuseFileInfo fi) {
        return guard("fgetattr", path, () -> attributes(path, fi, stat));
    }

    /**
     * A node's attributes. libfuse 2 takes one from st_nlink of a node it has hidden
     * (fuse_lib_getattr: {@code if (node->is_hidden && buf.st_nlink > 0) buf.st_nlink--}), as
     * its hidden name is a link of its own on a path filesystem; here the hide was already an
     * unlink in the vfs, so a hidden name's count gets that one back: fstat of an unlinked open
     * file shows 0, or the links it still has elsewhere (not one fewer).
     */
    private int attributes(String path, FuseFileInfo fi, FileStat stat) {
        Long hiddenIno = null;
        if (path != null) {
            try {
                hiddenIno = hidden.find(vfs, path);
            } catch (FsException e) {
                // the path's directory is gone: not a hidden name we know (the handle serves)
            }
        }
        long h = fh(fi);
        long ino = h != 0 ? h : hiddenIno != null ? hiddenIno : ino(path, null);
        fill(vfs.getattr(ino), stat, hiddenIno != null && hiddenIno == ino ? 1 : 0);
        return 0;
    }

    @Override
    public int readlink(String path, Pointer buf, long size) {
        return guard("readlink", path, () -> {
            byte[] t = vfs.readlink(resolve(path));
            int n = (int) Math.min(t.length, size - 1);
            buf.put(0, t, 0, n);
            buf.putByte(n, (byte) 0);
            return 0;
        });
    }

    @Override
    public int open(String path, FuseFileInfo fi) {
        return guard("open", path, () -> {
            long ino = resolve(path);
            vfs.open(ino, (fi.flags.get() & O_ACCMODE) != 0);
            fi.fh.set(ino);
            return 0;
        });
    }

    @Override
    public int read(String path, Pointer buf, long size, long offset, FuseFileInfo fi) {
        return guard("read", path, () -> {
            byte[] tmp = new byte[(int) size];
            int n = vfs.read(ino(path, fi), offset, tmp, (int) size);
            buf.put(0, tmp, 0, n);
            return n;
        });
    }

    @Override
    public int release(String path, FuseFileInfo fi) {
        return guard("release", path, () -> {
            vfs.release(ino(path, fi));
            return 0;
        });
    }

    @Override
    public int opendir(String path, FuseFileInfo fi) {
        return guard("opendir", path, () -> {
            fi.fh.set(resolve(path));
            return 0;
        });
    }

    @Override
    public int readdir(String path, Pointer buf, FuseFillDir filter, long offset, FuseFileInfo fi) {
        return guard("readdir", path, () -> {
            long dir = ino(path, fi);
            Dirents entries = vfs.readdir(dir);
            // With use_ino libfuse takes d_ino (and d_type) from this stat; with none it reports
            // d_ino -1 and DT_UNKNOWN, which breaks tools that compare d_ino with st_ino and makes
            // find/git stat every entry. libfuse copies the stat, so one buffer serves the call.
            FileStat st = FileStat.of(jnr.ffi.Memory.allocateDirect(jnr.ffi.Runtime.getSystemRuntime(), STAT_SIZE));
            jnr.ffi.Pointer stp = jnr.ffi.Struct.getMemory(st);
            st.st_ino.set(dir);
            st.st_mode.set(FileStat.S_IFDIR);
            filter.apply(buf, name("."), stp, 0);
            filter.apply(buf, name(".."), null, 0);
            for (int i = 0; i < entries.size(); i++) {
                st.st_ino.set(entries.reportedIno(i));
                st.st_mode.set(entries.mode(i));
                if (filter.apply(buf, name(entries.name(i)), stp, 0) != 0) {
                    break;
                }
            }
            return 0;
        });
    }

    @Override
    public int statfs(String path, Statvfs st) {
        return guard("statfs", path, () -> {
            ViewFs.FsStat s = vfs.statfs();
            st.f_bsize.set(s.blockSize());
            st.f_frsize.set(s.blockSize());
            st.f_blocks.set(s.blocks());
            st.f_bfree.set(s.blocksFree());
            st.f_bavail.set(s.blocksAvail());
            st.f_files.set(s.files());
            st.f_ffree.set(s.filesFree());
            st.f_favail.set(s.filesFree());
            st.f_namemax.set(s.nameMax());
            return 0;
        });
    }

    @Override
    public int getxattr(String path, String name, Pointer value, long size) {
        return guard("getxattr", path, () -> {
            byte[] v = vfs.getxattr(resolve(path), name);
            if (size == 0) {
                return v.length;
            }
            if (v.length > size) {
                return -Errno.ERANGE.code;
            }
            value.put(0, v, 0, v.length);
            return v.length;
        });
    }

    @Override
    public int listxattr(String path, Pointer list, long size) {
        return guard("listxattr", path, () -> {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            for (String n : vfs.listxattr(resolve(path))) {
                byte[] b = n.getBytes(StandardCharsets.UTF_8);
                out.write(b, 0, b.length);
                out.write(0);
            }
            byte[] all = out.toByteArray();
            if (size == 0) {
                return all.length;
            }
            if (all.length > size) {
                return -Errno.ERANGE.code;
            }
            list.put(0, all, 0, all.length);
            return all.length;
        });
    }

    /** A name as libfuse wants it: UTF-8 (whatever the JVM's default charset), NUL-terminated. */
    private static java.nio.ByteBuffer name(String n) {
        byte[] b = n.getBytes(StandardCharsets.UTF_8);
        return java.nio.ByteBuffer.wrap(java.util.Arrays.copyOf(b, b.length + 1));
    }

    static long timeNs(Timespec t) {
        long nsec = t.tv_nsec.longValue();
        if (nsec == UTIME_OMIT) {
            return ViewFs.OMIT;
        }
        if (nsec == UTIME_NOW) {
            return ViewFs.NOW;
        }
        return io.cowfs.blockstore.tree.Inode.timeNs(t.tv_sec.get(), nsec);
    }
}
