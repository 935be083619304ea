package io.cowfs.blockstore.store;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;

/**
 * The libc calls java.nio lacks, bound once (jnr-ffi) for the store: open and close of raw
 * descriptors, read-ahead advice ({@link PackReaders.Advice}) and open file description locks
 * ({@link OfdLock}). errno is saved after each call ({@link #errno}).
 */
final class Libc {
    /** The calls (public: jnr-ffi's generated class, in a loader of its own, implements it). */
    public interface Calls {
        int open(String path, int flags);

        int close(int fd);

        int fcntl(int fd, int cmd, Pointer flock);

        int posix_fadvise(int fd, long offset, long len, int advice);

        int statvfs(String path, Pointer buf);

        int fstat(int fd, Pointer stat);
    }

    /**
     * struct stat on 64-bit Linux, x86-64 and aarch64 alike: st_size at 48, st_mtim (seconds, then
     * nanoseconds) at 88; 144 bytes in all (128 on aarch64; the buffer is the larger).
     */
    static final int STAT_SIZE = 144;
    static final int STAT_SIZE_AT = 48;
    static final int STAT_MTIME_AT = 88;

    /** struct statvfs on 64-bit Linux (glibc): eleven unsigned longs, then f_type and spares; f_flag is the tenth. */
    static final int STATVFS_SIZE = 112;
    static final int STATVFS_F_FLAG = 72;
    static final long ST_RDONLY = 1;

    static final Calls LIBC = LibraryLoader.create(Calls.class).load("c");

    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_CLOEXEC = 0x80000;

    static final int EINTR = 4;
    static final int EAGAIN = 11;
    static final int EACCES = 13;
    static final int EINVAL = 22;
    static final int EROFS = 30;

    private Libc() {
    }

    /** errno of this thread's last call through {@link #LIBC}. */
    static int errno() {
        return jnr.ffi.Runtime.getRuntime(LIBC).getLastError();
    }
}
