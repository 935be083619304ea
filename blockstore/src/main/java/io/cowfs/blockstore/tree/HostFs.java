package io.cowfs.blockstore.tree;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.SaveError;

/**
 * The few host calls java.nio lacks, bound with jnr-ffi: xattrs of any namespace without
 * following symlinks, mknod (fifos, devices), lchown, utimensat on symlinks, and directory entries
 * and symlink targets as bytes (java.nio decodes them, turning bytes that are not UTF-8 into U+FFFD).
 */
public final class HostFs {
    /** libc as we use it. */
    public interface LibC {
        @SaveError
        long llistxattr(String path, @Out byte[] list, long size);

        @SaveError
        long lgetxattr(String path, String name, @Out byte[] value, long size);

        @SaveError
        int lsetxattr(String path, String name, @In byte[] value, long size, int flags);

        @SaveError
        int mknod(String path, int mode, long dev);

        @SaveError
        int lchown(String path, int uid, int gid);

        @SaveError
        int utimensat(int dirfd, String path, @In long[] times, int flags);

        @SaveError
        Pointer opendir(String path);

        @SaveError
        Pointer readdir(Pointer dir);

        int closedir(Pointer dir);

        @SaveError
        long readlink(String path, @Out byte[] buf, long size);

        @SaveError
        int symlink(@In byte[] target, String linkpath);

        String strerror(int errnum);

        @SaveError
        int open(String path, int flags);

        @SaveError
        int openat(int dirfd, String path, int flags);

        int close(int fd);

        @SaveError
        long lseek(int fd, long offset, int whence);

        int fstat(int fd, Pointer stat);
    }

    static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    static final Runtime RUNTIME = Runtime.getRuntime(LIBC);
    private static final int AT_FDCWD = -100;
    private static final int AT_SYMLINK_NOFOLLOW = 0x100;
    // the host's errno values, from jnr-constants (blockstore must not depend on fusefs' Errno)
    private static final int ERANGE = jnr.constants.platform.Errno.ERANGE.intValue();
    private static final int ENODATA = jnr.constants.platform.Errno.ENODATA.intValue();
    private static final int ENOTSUP = jnr.constants.platform.Errno.ENOTSUP.intValue();
    /**
     * Where d_name starts in the struct dirent that readdir returns on 64-bit Linux (glibc and
     * musl alike): d_ino:u64, d_off:i64, d_reclen:u16, d_type:u8, then the name.
     */
    private static final int DIRENT_NAME = 19;
    private static final int O_RDONLY_CLOEXEC = 0x80000;
    /**
     * struct stat on 64-bit Linux, glibc and musl, x86-64 and aarch64 alike: st_size at 48,
     * st_blocks (512-byte units) at 64, 144 bytes in all (128 on aarch64; the buffer is the larger).
     */
    private static final int STAT_SIZE = 144;
    private static final int STAT_SIZE_AT = 48;
    private static final int STAT_BLOCKS = 64;
    private static final int SEEK_DATA = 3;
    private static final int SEEK_HOLE = 4;
    private static final int ENXIO = jnr.constants.platform.Errno.ENXIO.intValue();

    private HostFs() {
    }

    private static IOException error(String what, Path p) {
        int errno = LastError.getLastError(RUNTIME);
        return new IOException(what + " " + p + ": " + LIBC.strerror(errno) + " (errno " + errno + ")");
    }

    /**
     * XFS's own names for what it keeps of a file (trusted.SGI_ACL_FILE and trusted.SGI_ACL_DEFAULT
     * are its copies of the POSIX ACLs, listed to root beside system.posix_acl_*; the other
     * trusted.SGI_* and xfsroot.* names are older XFS's). Not attributes of the file: kept, a chmod
     * in a view would not change the ACL copy, and an export onto XFS would set the old ACL again
     * after the new one (a named user's revoked rights back). Never imported or exported, as
     * cp -a and rsync -X skip them (libattr's /etc/xattr.conf).
     */
    public static boolean isXfsInternal(String name) {
        return name.startsWith("trusted.SGI_") || name.startsWith("xfsroot.");
    }

    /** All extended attributes of p (not following a symlink; not {@link #isXfsInternal}); empty where unsupported. */
    public static TreeMap<String, byte[]> xattrs(Path p) throws IOException {
        try (HostPath h = HostPath.of(p)) {
            return xattrs(p, h.path().toString());
        }
    }

    private static TreeMap<String, byte[]> xattrs(Path p, String path) throws IOException {
        TreeMap<String, byte[]> out = new TreeMap<>();
        byte[] list = new byte[1024];
        long n;
        while (true) {
            n = LIBC.llistxattr(path, list, list.length);
            if (n >= 0) {
                break;
            }
            int errno = LastError.getLastError(RUNTIME);
            if (errno == ENOTSUP) {
                return out;
            }
            if (errno != ERANGE) {
                throw error("listxattr", p);
            }
            list = new byte[list.length * 4];
        }
        List<String> names = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < n; i++) {
            if (list[i] == 0) {
                if (i > start) {
                    byte[] raw = java.util.Arrays.copyOfRange(list, start, i);
                    String name = Names.utf8(raw);
                    if (name == null) {
                        // decoded with U+FFFD it would name no attribute, and the attribute would be lost unsaid
                        throw new IOException("attribute name '" + Names.escaped(raw) + "' is not valid UTF-8");
                    }
                    if (!isXfsInternal(name)) {
                        names.add(name);
                    }
                }
                start = i + 1;
            }
        }
        for (String name : names) {
            byte[] v = new byte[256];
            while (true) {
                long m = LIBC.lgetxattr(path, name, v, v.length);
                if (m >= 0) {
                    out.put(name, java.util.Arrays.copyOf(v, (int) m));
                    break;
                }
                int errno = LastError.getLastError(RUNTIME);
                if (errno == ENODATA) {
                    break; // removed meanwhile
                }
                if (errno != ERANGE) {
                    throw error("getxattr " + name + " of", p);
                }
                v = new byte[v.length * 8];
            }
        }
        return out;
    }

    public static void setXattr(Path p, String name, byte[] value) throws IOException {
        try (HostPath h = HostPath.of(p)) {
            if (LIBC.lsetxattr(h.path().toString(), name, value, value.length, 0) != 0) {
                throw error("setxattr " + name + " on", p);
            }
        }
    }

    public static void mknod(Path p, int mode, long dev) throws IOException {
        try (HostPath h = HostPath.of(p)) {
            if (LIBC.mknod(h.path().toString(), mode, dev) != 0) {
                throw error("mknod", p);
            }
        }
    }

    public static void lchown(Path p, int uid, int gid) throws IOException {
        try (HostPath h = HostPath.of(p)) {
            if (LIBC.lchown(h.path().toString(), uid, gid) != 0) {
                throw error("lchown", p);
            }
        }
    }

    /** Sets atime and mtime (nanoseconds since the epoch) without following a symlink. */
    public static void setTimes(Path p, long atimeNs, long mtimeNs) throws IOException {
        long[] ts = {Math.floorDiv(atimeNs, 1_000_000_000L), Math.floorMod(atimeNs, 1_000_000_000L),
                Math.floorDiv(mtimeNs, 1_000_000_000L), Math.floorMod(mtimeNs, 1_000_000_000L)};
        try (HostPath h = HostPath.of(p)) {
            if (LIBC.utimensat(AT_FDCWD, h.path().toString(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
                throw error("utimensat", p);
            }
        }
    }

    /**
     * The names in directory p, exactly as bytes ("." and ".." left out), in the order the
     * filesystem returns them.
     */
    public static List<byte[]> names(Path p) throws IOException {
        if (RUNTIME.addressSize() != 8) {
            throw new IOException("reading directories needs a 64-bit JVM (struct dirent layout)");
        }
        Pointer dir;
        try (HostPath h = HostPath.of(p)) {
            dir = LIBC.opendir(h.path().toString());
            if (dir == null) {
                throw error("opendir", p);
            }
        }
        try {
            List<byte[]> out = new ArrayList<>();
            while (true) {
                LastError.setLastError(RUNTIME, 0); // readdir returns NULL at the end and on errors alike
                Pointer e = LIBC.readdir(dir);
                if (e == null) {
                    if (LastError.getLastError(RUNTIME) != 0) {
                        throw error("readdir", p);
                    }
                    return out;
                }
                int len = e.indexOf(DIRENT_NAME, (byte) 0, 256);
                if (len < 0) {
                    throw new IOException("readdir " + p + ": an entry's name has no end");
                }
                byte[] name = new byte[len];
                e.get(DIRENT_NAME, name, 0, len);
                if (!(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.')) {
                    out.add(name);
                }
            }
        } finally {
            LIBC.closedir(dir);
        }
    }

    /**
     * Where a host file holds data below size, as the file system says (lseek SEEK_DATA and
     * SEEK_HOLE): {start0, end0, start1, end1, ...}, sorted, ends at most size; empty if all of it
     * is a hole. Null when that cannot be had (the file cannot be opened, the file system refuses
     * the calls) or the file has more than maxRanges runs of data: then read all of it. A file
     * system without holes answers one run, the whole file. Ranges are a snapshot: the file may
     * change after this.
     *
     * <p>Only a file that looks sparse is asked (fewer blocks allocated than its size needs, as
     * coreutils' cp decides): for the others null, without the calls. Some file systems have
     * reported holes over data not yet written back (OpenZFS before 2.2.2, FUSE file systems with
     * a writeback cache whose lseek does not write back first), and a file fully allocated has no
     * hole to find.
     */
    public static long[] dataRanges(Path p, long size, int maxRanges) {
        int fd;
        try (HostPath h = HostPath.of(p)) {
            fd = LIBC.open(h.path().toString(), O_RDONLY_CLOEXEC);
        } catch (IOException unreachable) {
            return null;
        }
        if (fd < 0) {
            return null;
        }
        try {
            Pointer st = jnr.ffi.Memory.allocateDirect(RUNTIME, STAT_SIZE, true);
            if (LIBC.fstat(fd, st) != 0 || st.getLong(STAT_BLOCKS) * 512 >= st.getLong(STAT_SIZE_AT)) {
                return null; // cannot say, or fully allocated: read it all
            }
            long[] out = new long[16];
            int n = 0;
            long off = 0;
            while (off < size) {
                long d = LIBC.lseek(fd, off, SEEK_DATA);
                if (d < 0) {
                    if (RUNTIME.getLastError() == ENXIO) {
                        break; // no data from off on: a hole to the end (or the file shrank)
                    }
                    return null;
                }
                if (d >= size) {
                    break;
                }
                long h = LIBC.lseek(fd, d, SEEK_HOLE);
                if (h <= d) {
                    return null;
                }
                if (n / 2 == maxRanges) {
                    return null;
                }
                if (n == out.length) {
                    out = java.util.Arrays.copyOf(out, n * 2);
                }
                out[n++] = d;
                out[n++] = Math.min(h, size);
                off = h;
            }
            return java.util.Arrays.copyOf(out, n);
        } finally {
            LIBC.close(fd);
        }
    }

    /** The target of symlink p, exactly as bytes. */
    public static byte[] readlink(Path p) throws IOException {
        try (HostPath h = HostPath.of(p)) {
            return readlink(p, h.path().toString());
        }
    }

    private static byte[] readlink(Path p, String path) throws IOException {
        byte[] buf = new byte[256];
        while (true) {
            long n = LIBC.readlink(path, buf, buf.length);
            if (n < 0) {
                throw error("readlink", p);
            }
            if (n < buf.length) { // else it may have been cut: no room left to tell
                return java.util.Arrays.copyOf(buf, (int) n);
            }
            buf = new byte[buf.length * 4];
        }
    }

    /** Creates symlink p pointing to target, exactly these bytes (no NUL among them). */
    public static void symlink(byte[] target, Path p) throws IOException {
        for (byte b : target) {
            if (b == 0) {
                throw new IOException("symlink " + p + ": a target cannot hold a NUL byte");
            }
        }
        try (HostPath h = HostPath.of(p)) {
            if (LIBC.symlink(java.util.Arrays.copyOf(target, target.length + 1), h.path().toString()) != 0) {
                throw error("symlink", p);
            }
        }
    }
}
