package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.store.StoreException;

/** A filesystem error with its exact errno; the FUSE adapter returns {@code -errno().code}. */
public final class FsException extends RuntimeException {
    private final Errno errno;

    public FsException(Errno errno, String detail) {
        super(errno + ": " + detail, null, false, false); // no stack trace: these are normal results
        this.errno = errno;
    }

    /** A store failure as the VFS reports it (errno chosen by {@link Errno#of}). */
    public static FsException of(StoreException e) {
        return new FsException(Errno.of(e), e.getMessage());
    }

    public Errno errno() {
        return errno;
    }
}
