package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.Map;

/**
 * run/store.lock: every process that has the store open holds a shared lock on it for as long
 * as it does (the kernel drops it if the process dies). Replacing the index (fsck --repair of a
 * damaged one) takes it exclusively, so no process can be left writing to an index that was
 * moved aside.
 *
 * <p>The lock is an {@link OfdLock}: each Store holds its own, so two Stores of one directory in
 * one JVM (the CLI agent, tests) hold two shared locks, and closing one leaves the other. It
 * was a POSIX lock, which the process held once for both: closing the second Store closed its
 * channel, the kernel dropped the process's lock, and another process's repair could replace the
 * index under the first. OFD and POSIX locks conflict, so a cowfs before this one sees the lock
 * too. Where OFD locks are refused the POSIX lock is used, with that hazard (a second Store of
 * the JVM shares the first's lock, and the first close of the two drops it).
 *
 * <p>Thread-safety: an instance's lock and channel are guarded by its monitor; {@link #OPEN_HERE}
 * by its own, taken after an instance's (never before), and held across the non-blocking lock
 * calls that its counts must agree with.
 */
final class UseLock implements AutoCloseable {
    /**
     * UseLocks open in this JVM, by the file key of their lock file: for the messages, which tell
     * a second open of the store in this process from another process. Guarded by itself.
     */
    private static final Map<Object, Integer> OPEN_HERE = new HashMap<>();

    /**
     * The byte of run/store.lock a read-only user locks (shared) instead of the whole file: far
     * beyond byte 0, which every other user's whole-file lock covers (docs/READ-ONLY-STORES.md).
     */
    static final long READ_ONLY_BYTE = 1L << 62;

    private final Path file;
    private final Object key;
    private final FileChannel channel; // guarded by this
    private OfdLock lock; // guarded by this; null in the POSIX fallback when another Store of this JVM holds the process's lock
    private boolean closed; // guarded by this

    private UseLock(Path file, Object key, FileChannel channel, OfdLock lock) {
        this.file = file;
        this.key = key;
        this.channel = channel;
        this.lock = lock;
    }

    static UseLock acquire(Path storeDir, StoreAccess access) {
        return acquire(storeDir, access, false);
    }

    /**
     * The shared lock of a process that opens a store on a read-only filesystem: the lock file is
     * opened for reading only (a shared OFD lock needs no more), and the lock covers
     * {@link #READ_ONLY_BYTE} alone. It keeps {@code fsck --repair} out as any user's lock does.
     * Such a process reads the index without LMDB's reader table (its lock file cannot be written
     * there), so a process writing the same store through another, writable path could reuse
     * pages it reads: if one has the store open now (a lock on byte 0, which every other user's
     * whole-file lock covers), BusyException (docs/READ-ONLY-STORES.md).
     */
    static UseLock acquireReadOnly(Path storeDir) {
        return acquire(storeDir, null, true);
    }

    private static UseLock acquire(Path storeDir, StoreAccess access, boolean readOnly) {
        Path f = storeDir.resolve("run").resolve("store.lock");
        try {
            FileChannel ch = readOnly ? FileChannel.open(f, StandardOpenOption.READ)
                    : access.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ);
            try {
                Object key = Files.readAttributes(f, BasicFileAttributes.class).fileKey();
                synchronized (OPEN_HERE) {
                    OfdLock l;
                    try {
                        l = readOnly ? OfdLock.tryLockByte(f, ch, READ_ONLY_BYTE) : OfdLock.tryLock(f, ch, true);
                    } catch (OverlappingFileLockException alreadyHeld) {
                        // the POSIX fallback: another Store of this JVM holds it for the process
                        OPEN_HERE.merge(key, 1, Integer::sum);
                        return new UseLock(f, key, ch, null);
                    }
                    if (l == null) {
                        throw new StoreException.BusyException("the store " + storeDir + " is being repaired by "
                                + (OPEN_HERE.containsKey(key) ? "this process" : "another process") + "; try again when it is done");
                    }
                    if (readOnly && OfdLock.heldByOthers(f, 0)) {
                        l.release();
                        throw new StoreException.BusyException("the store " + storeDir + " is on a read-only filesystem here and is open "
                                + "where it is writable (a mount, import or other command); a read-only open needs those to stop first");
                    }
                    OPEN_HERE.merge(key, 1, Integer::sum);
                    return new UseLock(f, key, ch, l);
                }
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
        } catch (java.nio.file.NoSuchFileException e) {
            if (readOnly) {
                throw new StoreException("cannot open the store " + storeDir + " read-only: it has no " + f
                        + "; open it once where it is writable");
            }
            throw StoreException.io("cannot lock " + f, e);
        } catch (IOException e) {
            throw StoreException.io("cannot lock " + f, e);
        }
    }

    /** Trades the shared lock for an exclusive one; BusyException if another process, or another Store of this one, has the store open. */
    synchronized void exclusive(Path storeDir) {
        try {
            synchronized (OPEN_HERE) {
                if (lock == null || OPEN_HERE.getOrDefault(key, 0) > 1) {
                    throw new StoreException.BusyException("the store " + storeDir + " is open twice in this process");
                }
                if (!lock.tryExclusive()) {
                    throw new StoreException.BusyException("the store " + storeDir + " is in use by another process"
                            + " (a mount, import or other command); unmount and stop them, then run this again");
                }
            }
        } catch (IOException e) {
            throw StoreException.io("cannot lock " + file, e);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (lock != null) {
            lock.release();
        }
        try {
            channel.close(); // releases the POSIX fallback's lock (and, there, the process's: see above)
        } catch (IOException e) {
            // closing a lock file cannot lose anything
        }
        synchronized (OPEN_HERE) {
            OPEN_HERE.computeIfPresent(key, (k, n) -> n == 1 ? null : n - 1);
        }
    }
}
