package io.cowfs.blockstore.tree;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.SaveError;

/**
 * The few host calls java.nio lacks, bound with jnr-ffi: xattrs of any namespace without
 * following symlinks, mknod (fifos, devices), lchown, and utimensat on symlinks.
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

        String strerror(int errnum);
    }

    private static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    private static final Runtime RUNTIME = Runtime.getRuntime(LIBC);
    private static final int AT_FDCWD = -100;
    private static final int AT_SYMLINK_NOFOLLOW = 0x100;
    // the host's errno values, from jnr-constants (blockstore must not depend on fusefs' Errno)
    private static final int ERANGE = jnr.constants.platform.Errno.ERANGE.intValue();
    private static final int ENODATA = jnr.constants.platform.Errno.ENODATA.intValue();
    private static final int ENOTSUP = jnr.constants.platform.Errno.ENOTSUP.intValue();

    private HostFs() {
    }

    private static IOException error(String what, Path p) {
        int errno = LastError.getLastError(RUNTIME);
        return new IOException(what + " " + p + ": " + LIBC.strerror(errno) + " (errno " + errno + ")");
    }

    /** All extended attributes of p (not following a symlink); empty where unsupported. */
    public static TreeMap<String, byte[]> xattrs(Path p) throws IOException {
        TreeMap<String, byte[]> out = new TreeMap<>();
        String path = p.toString();
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
                    names.add(new String(list, start, i - start, StandardCharsets.UTF_8));
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
        if (LIBC.lsetxattr(p.toString(), name, value, value.length, 0) != 0) {
            throw error("setxattr " + name + " on", p);
        }
    }

    public static void mknod(Path p, int mode, long dev) throws IOException {
        if (LIBC.mknod(p.toString(), mode, dev) != 0) {
            throw error("mknod", p);
        }
    }

    public static void lchown(Path p, int uid, int gid) throws IOException {
        if (LIBC.lchown(p.toString(), uid, gid) != 0) {
            throw error("lchown", p);
        }
    }

    /** Sets atime and mtime (nanoseconds since the epoch) without following a symlink. */
    public static void setTimes(Path p, long atimeNs, long mtimeNs) throws IOException {
        long[] ts = {Math.floorDiv(atimeNs, 1_000_000_000L), Math.floorMod(atimeNs, 1_000_000_000L),
                Math.floorDiv(mtimeNs, 1_000_000_000L), Math.floorMod(mtimeNs, 1_000_000_000L)};
        if (LIBC.utimensat(AT_FDCWD, p.toString(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
            throw error("utimensat", p);
        }
    }
}
