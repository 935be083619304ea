package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * run/store.lock: every process that has the store open holds a shared lock on it for as long
 * as it does (the kernel drops it if the process dies). Replacing the index (fsck --repair of a
 * damaged one) takes it exclusively, so no process can be left writing to an index that was
 * moved aside.
 */
final class UseLock implements AutoCloseable {
    private final FileChannel channel;
    private FileLock lock; // guarded by this; null when another Store of this JVM holds the process's lock

    private UseLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    static UseLock acquire(Path storeDir, StoreAccess access) {
        try {
            FileChannel ch = access.open(storeDir.resolve("run").resolve("store.lock"),
                    StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ);
            FileLock l;
            try {
                l = ch.tryLock(0, Long.MAX_VALUE, true);
            } catch (java.nio.channels.OverlappingFileLockException alreadyHeld) {
                return new UseLock(ch, null); // another Store of this JVM holds it for the process
            }
            if (l == null) {
                ch.close();
                throw new StoreException.BusyException("the store " + storeDir + " is being repaired by another process; try again when it is done");
            }
            return new UseLock(ch, l);
        } catch (IOException e) {
            throw StoreException.io("cannot lock " + storeDir.resolve("run").resolve("store.lock"), e);
        }
    }

    /** Trades the shared lock for an exclusive one; BusyException if another process has the store open. */
    synchronized void exclusive(Path storeDir) {
        try {
            if (lock == null) {
                throw new StoreException.BusyException("the store " + storeDir + " is open twice in this process");
            }
            lock.release();
            try {
                lock = channel.tryLock(0, Long.MAX_VALUE, false);
            } catch (java.nio.channels.OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                lock = channel.lock(0, Long.MAX_VALUE, true);
                throw new StoreException.BusyException("the store " + storeDir + " is in use by another process"
                        + " (a mount, import or other command); unmount and stop them, then run this again");
            }
        } catch (IOException e) {
            throw StoreException.io("cannot lock " + storeDir.resolve("run").resolve("store.lock"), e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            channel.close(); // releases the lock
        } catch (IOException e) {
            // closing a lock file cannot lose anything
        }
    }
}
