package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * A lock on a whole file (however it grows), shared or exclusive, that only its own release
 * drops: an open file description lock (Linux's {@code F_OFD_SETLK} / {@code F_OFD_SETLKW}, since
 * 3.15) on a descriptor of its own, released by that descriptor's close. The store's locks are
 * this: the pack being appended to ({@link PackWriter}), {@code run/store.lock} ({@link UseLock})
 * and a view's {@code run/view-ID.lock} (a mount's claim, a freeze's or gc's hold:
 * {@code run.MountRegistry}).
 *
 * <p>Why not {@link FileChannel#lock}: that is a POSIX record lock, which belongs to the process
 * and the file, so the kernel drops it at the close of <em>any</em> descriptor of the file the
 * process holds (a read channel, a probe, a second Store of the same directory in one JVM), and it
 * never conflicts with another lock of the same process. Two OfdLocks conflict as two processes'
 * locks do, wherever they are: a second exclusive lock of a file in the same process is refused
 * as "held", and closing one leaves the other.
 *
 * <p>OFD and POSIX locks of one file conflict with each other (the kernel keeps them in one list),
 * so a POSIX lock or probe ({@link FileChannel#tryLock}, python's {@code fcntl.lockf}, gc's pack
 * probe, and every lock of a cowfs before this class) sees an OfdLock, and an OfdLock waits for or
 * is refused by those.
 *
 * <p>Where the kernel or the filesystem refuses OFD locks ({@code EINVAL}: Linux before 3.15, or a
 * filesystem that implements its own locking without them), the lock falls back to a POSIX lock
 * through the caller's channel, with POSIX's semantics (process-wide, dropped at the close of any
 * descriptor of the file in the process, {@link OverlappingFileLockException} for a second lock
 * of the file in this JVM): as before this class. {@link #ofd} says which.
 *
 * <p>Thread-safety: the lock's state (the fallback's FileLock, shared or exclusive, released) is
 * guarded by this object's monitor. {@link #tryLock} and {@link #lock} share only {@link #REFUSED}
 * (a concurrent map: two threads that both probe a refusing filesystem both fall back).
 */
public final class OfdLock {
    private static final int F_OFD_GETLK = 36;
    private static final int F_OFD_SETLK = 37;
    private static final int F_OFD_SETLKW = 38;
    private static final short F_RDLCK = 0;
    private static final short F_WRLCK = 1;
    private static final short F_UNLCK = 2;
    /** struct flock on Linux (x86-64, aarch64): l_type, l_whence, l_start, l_len, l_pid. */
    private static final int FLOCK_SIZE = 32;
    /** Devices (st_dev) whose filesystem refused an OFD lock in this JVM: they get the POSIX lock at once. */
    private static final Map<Object, Boolean> REFUSED = new ConcurrentHashMap<>();
    /**
     * Files whose locks take the POSIX fallback as if their filesystem refused OFD locks: a test of
     * the fallback adds its own file (no filesystem here refuses them); empty otherwise.
     */
    static final java.util.Set<Path> POSIX_ONLY = ConcurrentHashMap.newKeySet();

    private final Path file;
    /** The lock's own descriptor (an OFD lock), or -1 (the POSIX fallback). */
    private final int fd;
    private final FileChannel channel;
    private FileLock posix; // guarded by this; the fallback's lock (null with an OFD lock)
    private boolean shared; // guarded by this
    private boolean released; // guarded by this

    private OfdLock(Path file, int fd, FileChannel channel, FileLock posix, boolean shared) {
        this.file = file;
        this.fd = fd;
        this.channel = channel;
        this.posix = posix;
        this.shared = shared;
    }

    /**
     * Locks file now, or returns null if a conflicting lock is held: by another process, or by
     * another OfdLock of this one. ch is a channel of file (readable for a shared lock, writable
     * for an exclusive one) that the caller keeps open at least as long as the lock: the fallback
     * locks through it; an OFD lock does not use it. In the fallback, a lock this JVM holds on
     * file is an {@link OverlappingFileLockException}, as from {@link FileChannel#tryLock}.
     */
    public static OfdLock tryLock(Path file, FileChannel ch, boolean shared) throws IOException {
        return take(file, ch, shared, false);
    }

    /** As {@link #tryLock}, but waits for a conflicting lock to go. */
    public static OfdLock lock(Path file, FileChannel ch, boolean shared) throws IOException {
        return take(file, ch, shared, true);
    }

    /**
     * A shared lock of the one byte at offset at (as {@link #tryLock}, for the byte alone): it
     * conflicts with an exclusive lock of the whole file, and a probe of other bytes
     * ({@link #heldByOthers}) does not see it.
     */
    public static OfdLock tryLockByte(Path file, FileChannel ch, long at) throws IOException {
        return take(file, ch, true, false, at, 1);
    }

    /**
     * True if a lock of this file's byte at offset at is held through another open file
     * description (another process's, or another OfdLock's of this one): F_OFD_GETLK. False where
     * OFD locks are refused (nothing can be told there).
     */
    public static boolean heldByOthers(Path file, long at) throws IOException {
        Object dev = Files.getAttribute(file, "unix:dev");
        if (REFUSED.containsKey(dev) || POSIX_ONLY.contains(file)) {
            return false;
        }
        int fd = Libc.LIBC.open(file.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0) {
            throw new IOException("cannot open " + file + ": errno " + Libc.errno());
        }
        try {
            Pointer fl = flock(F_WRLCK, at, 1);
            if (Libc.LIBC.fcntl(fd, F_OFD_GETLK, fl) != 0) {
                return false; // EINVAL: no OFD locks here
            }
            return fl.getShort(0) != F_UNLCK;
        } finally {
            Libc.LIBC.close(fd);
        }
    }

    private static OfdLock take(Path file, FileChannel ch, boolean shared, boolean wait) throws IOException {
        return take(file, ch, shared, wait, 0, 0);
    }

    private static OfdLock take(Path file, FileChannel ch, boolean shared, boolean wait, long start, long len) throws IOException {
        Object dev = Files.getAttribute(file, "unix:dev");
        // once refused on a filesystem, never probed there again: the probe's close would drop
        // the POSIX locks this process holds on the file (another fallback lock of it)
        boolean refused = REFUSED.containsKey(dev) || POSIX_ONLY.contains(file);
        int fd = refused ? -1 : Libc.LIBC.open(file.toString(), Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd < 0 && shared && !refused) {
            // a lock file this user may only read (a shared store's), or a read-only mount: a shared
            // lock needs no more (it then cannot become exclusive: tryExclusive says why)
            fd = Libc.LIBC.open(file.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
        }
        if (fd >= 0) {
            int err = setlk(fd, shared ? F_RDLCK : F_WRLCK, wait, start, len);
            if (err == 0) {
                return new OfdLock(file, fd, ch, null, shared);
            }
            Libc.LIBC.close(fd);
            if (!wait && held(err)) {
                return null;
            }
            if (err == Libc.EINVAL) {
                REFUSED.put(dev, Boolean.TRUE); // no OFD locks in this kernel or on this filesystem
            }
            // anything else: the POSIX lock says what is wrong, if anything
        }
        long size = len == 0 ? Long.MAX_VALUE : len;
        FileLock l = wait ? ch.lock(start, size, shared) : ch.tryLock(start, size, shared);
        return l == null ? null : new OfdLock(file, -1, ch, l, shared);
    }

    /** fcntl(fd, F_OFD_SETLK(W), type over the whole file): 0, or errno. */
    private static int setlk(int fd, short type, boolean wait) {
        return setlk(fd, type, wait, 0, 0);
    }

    /** struct flock for type over len bytes from start (len 0: to the end, however far); l_whence SEEK_SET, l_pid 0. */
    private static Pointer flock(short type, long start, long len) {
        Pointer fl = Memory.allocateDirect(jnr.ffi.Runtime.getRuntime(Libc.LIBC), FLOCK_SIZE, true);
        fl.putShort(0, type);
        fl.putLong(8, start);
        fl.putLong(16, len);
        return fl;
    }

    /** fcntl(fd, F_OFD_SETLK(W), type over len bytes from start): 0, or errno. */
    private static int setlk(int fd, short type, boolean wait, long start, long len) {
        Pointer fl = flock(type, start, len);
        while (true) {
            if (Libc.LIBC.fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, fl) == 0) {
                return 0;
            }
            int err = Libc.errno();
            if (err != Libc.EINTR) {
                return err;
            }
        }
    }

    private static boolean held(int errno) {
        return errno == Libc.EAGAIN || errno == Libc.EACCES;
    }

    /** True if the lock is an OFD lock (a close of another descriptor of the file leaves it). */
    public boolean ofd() {
        return fd >= 0;
    }

    public synchronized boolean shared() {
        return shared;
    }

    /**
     * Trades a shared lock for an exclusive one without waiting; false if another lock of the
     * file is held (another process's, or another OfdLock's of this one), and this one stays
     * shared. An OFD lock converts in one step; the fallback releases the shared lock, tries the
     * exclusive one and, if refused, waits for the shared one again (another process may take
     * the file exclusively in between, as POSIX locks through Java always could).
     */
    public synchronized boolean tryExclusive() throws IOException {
        if (released) {
            throw new IllegalStateException("released: " + file);
        }
        if (!shared) {
            return true;
        }
        if (fd >= 0) {
            int err = setlk(fd, F_WRLCK, false);
            if (err == 0) {
                shared = false;
                return true;
            }
            if (held(err)) {
                return false;
            }
            throw new IOException("cannot lock " + file + " exclusively: errno " + err);
        }
        posix.release();
        FileLock l;
        try {
            l = channel.tryLock(0, Long.MAX_VALUE, false);
        } catch (OverlappingFileLockException e) {
            l = null;
        }
        if (l == null) {
            posix = channel.lock(0, Long.MAX_VALUE, true);
            return false;
        }
        posix = l;
        shared = false;
        return true;
    }

    /** Releases the lock (once; later calls do nothing). The caller's channel stays open. */
    public synchronized void release() {
        if (released) {
            return;
        }
        released = true;
        if (fd >= 0) {
            Libc.LIBC.close(fd); // the lock goes with its open file description
        } else {
            try {
                posix.release();
            } catch (IOException ignored) {
                // closing the channel releases it too
            }
        }
    }
}
