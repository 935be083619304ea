package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * The lock a process holds on a pack it appends to, which gc's probe ({@link Packs}) from any
 * process sees as "someone appends to it". An open file description lock (Linux's F_OFD_SETLK,
 * since 3.15) on a descriptor of its own: it goes only with that descriptor's close. A POSIX
 * record lock ({@link FileChannel#lock}) goes with the close of any descriptor the process holds on
 * the file, and a mount opens its packs for reading, for read-ahead advice, for a force, for a
 * scan: one such close had gc rewrite a pack under a mount's next appends (docs/GC.md). OFD and
 * POSIX locks conflict, so gc's POSIX probe (and that of a cowfs before this one) sees both. Where
 * the kernel or filesystem refuses OFD locks, the channel's POSIX lock, as before.
 *
 * <p>Thread-safety: one owner ({@link PackWriter}, under Packs' lock).
 */
final class PackLock {
    /** The libc calls the lock needs. */
    public interface LibC {
        int open(String path, int flags);

        int close(int fd);

        int fcntl(int fd, int cmd, Pointer flock);
    }

    private static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    private static final int O_RDWR = 2;
    private static final int O_CLOEXEC = 0x80000;
    private static final int F_OFD_SETLK = 37;
    private static final short F_WRLCK = 1;
    /** struct flock on Linux (x86-64, aarch64): l_type, l_whence, l_start, l_len, l_pid. */
    private static final int FLOCK_SIZE = 32;

    private final int fd;
    private final FileLock posix;

    private PackLock(int fd, FileLock posix) {
        this.fd = fd;
        this.posix = posix;
    }

    /** Locks the whole of file (however it grows) for writing; ch is its writer's channel (the fallback locks through it). */
    static PackLock take(Path file, FileChannel ch) throws IOException {
        int fd = LIBC.open(file.toString(), O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            Pointer fl = Memory.allocateDirect(Runtime.getRuntime(LIBC), FLOCK_SIZE, true);
            fl.putShort(0, F_WRLCK); // l_whence SEEK_SET, l_start 0, l_len 0 (to the end, however far), l_pid 0
            if (LIBC.fcntl(fd, F_OFD_SETLK, fl) == 0) {
                return new PackLock(fd, null);
            }
            LIBC.close(fd);
        }
        return new PackLock(-1, ch.lock());
    }

    /** True if the lock is an OFD lock (a close of another descriptor of the file leaves it). */
    boolean ofd() {
        return fd >= 0;
    }

    void release() {
        if (fd >= 0) {
            LIBC.close(fd); // the lock goes with its open file description
        } else {
            try {
                posix.release();
            } catch (IOException ignored) {
                // closing the channel releases it too
            }
        }
    }
}
