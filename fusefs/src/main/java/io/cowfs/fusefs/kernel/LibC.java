package io.cowfs.fusefs.kernel;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.IgnoreError;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The few libc calls the kernel-protocol adapter needs, bound with jnr-ffi. Buffers are passed
 * as raw addresses of direct memory the caller owns, so a request costs no allocation here.
 * Nothing calls back into Java from native code.
 */
public interface LibC {
    int O_RDWR = 2;
    int O_RDONLY = 0;
    int O_WRONLY = 1;
    int O_APPEND = 02000;
    int O_PATH = 010000000;
    int O_DIRECTORY = 0200000;
    int O_CLOEXEC = 02000000;
    long MS_RDONLY = 1;
    long MS_NOSUID = 2;
    long MS_NODEV = 4;
    long MS_NOATIME = 1024;
    int MNT_DETACH = 2;
    int AF_UNIX = 1;
    int SOCK_STREAM = 1;
    /** _IOR(229, 0, uint32_t): clone a /dev/fuse session onto another fd (linux/fuse.h). */
    long FUSE_DEV_IOC_CLONE = 0x8004e500L;

    @SaveError
    int open(String path, int flags);

    @IgnoreError
    int close(int fd);

    @SaveError
    int dup2(int oldfd, int newfd);

    @SaveError
    @ssize_t
    long read(int fd, @jnr.ffi.types.intptr_t long buf, @size_t long count);

    @SaveError
    @ssize_t
    long write(int fd, @jnr.ffi.types.intptr_t long buf, @size_t long count);

    @SaveError
    int mount(String source, String target, String fstype, @jnr.ffi.types.u_int64_t long flags, String data);

    @SaveError
    int umount2(String target, int flags);

    @SaveError
    int ioctl(int fd, @jnr.ffi.types.u_int64_t long request, Pointer arg);

    @SaveError
    int syncfs(int fd);

    /** setsid(2): a session of this process's own (no controlling terminal); the new sid, or -1. */
    @SaveError
    int setsid();

    /** chdir(2) of the whole process (Java's user.dir stays as it was: only absolute paths after it). */
    @SaveError
    int chdir(String path);

    /** pread(2) into a Java array (small files: /proc's). */
    @SaveError
    @ssize_t
    long pread(int fd, byte[] buf, @size_t long count, long offset);

    /** readlink(2) into buf (not NUL-terminated); the length, or -1. */
    @SaveError
    @ssize_t
    long readlink(String path, byte[] buf, @size_t long size);


    /** statfs(2) into buf (struct statfs: 120 bytes on x86-64). */
    @SaveError
    int statfs(String path, byte[] buf);

    /** madvise(2); MADV_POPULATE_WRITE (Linux 5.14) faults a range in with one call. */
    int madvise(@jnr.ffi.types.intptr_t long addr, @size_t long len, int advice);

    int MADV_POPULATE_WRITE = 23;

    @SaveError
    int socketpair(int domain, int type, int protocol, int[] sv);

    @SaveError
    @ssize_t
    long recvmsg(int fd, Pointer msg, int flags);

    @SaveError
    int posix_spawnp(Pointer pid, String file, Pointer fileActions, Pointer attr, Pointer argv, Pointer envp);

    @SaveError
    int waitpid(int pid, int[] status, int options);

    @IgnoreError
    int getuid();

    @IgnoreError
    int getgid();

    /** The bound library (loaded on first use). */
    static LibC get() {
        return Holder.LIBC;
    }

    static int errno() {
        return Runtime.getRuntime(Holder.LIBC).getLastError();
    }

    final class Holder {
        static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");

        private Holder() {
        }
    }
}
