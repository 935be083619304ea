package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.store.StoreException;

/** A filesystem error with its exact errno; the FUSE adapter returns {@code -errno().code}. */
public final class FsException extends RuntimeException {
    private final Errno errno;

    public FsException(Errno errno, String detail) {
        super(errno + ": " + detail, null, false, false); // no stack trace: these are normal results
        this.errno = errno;
    }

    /**
     * A store failure as the VFS reports it (errno chosen by {@link Errno#of}). An EIO is logged
     * with its stack trace (to the mount's log): it is never a normal result, and the caller sees
     * only the errno.
     */
    public static FsException of(StoreException e) {
        Errno errno = Errno.of(e);
        if (errno == Errno.EIO) {
            System.err.println(java.time.Instant.now() + " cowfs: EIO for a store error:");
            e.printStackTrace();
        }
        return new FsException(errno, e.getMessage());
    }

    public Errno errno() {
        return errno;
    }
}
