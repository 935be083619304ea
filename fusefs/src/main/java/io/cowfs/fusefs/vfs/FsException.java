package io.cowfs.fusefs.vfs;

/** A filesystem error with its exact errno; the FUSE adapter returns {@code -errno().code}. */
public final class FsException extends RuntimeException {
    private final Errno errno;

    public FsException(Errno errno, String detail) {
        super(errno + ": " + detail, null, false, false); // no stack trace: these are normal results
        this.errno = errno;
    }

    public Errno errno() {
        return errno;
    }
}
