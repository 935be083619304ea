package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.store.StoreException;

/**
 * The errno values the VFS reports (Linux numbers). The only place that spells them, and (in
 * {@link #of}) the only place that decides which errno a store failure becomes.
 */
public enum Errno {
    EPERM(1), ENOENT(2), EIO(5), ENXIO(6), E2BIG(7), EBADF(9), EAGAIN(11), ENOMEM(12), EACCES(13), EEXIST(17), EXDEV(18),
    ENODEV(19), ENOTDIR(20), EISDIR(21), EINVAL(22), EFBIG(27), ENOSPC(28), EROFS(30), EMLINK(31), ERANGE(34),
    ENAMETOOLONG(36), ENOSYS(38), ENOTEMPTY(39), ELOOP(40), ENODATA(61), EOPNOTSUPP(95);

    public final int code;

    Errno(int code) {
        this.code = code;
    }

    /**
     * The errno an adapter replies with for any failure of a call: an {@link FsException}'s own,
     * ENOSPC for a full store ({@link StoreException.StoreFullException}), ENOMEM for a heap run
     * out, EIO for every other store error and for anything unexpected.
     */
    public static Errno of(Throwable t) {
        if (t instanceof FsException f) {
            return f.errno();
        }
        if (t instanceof StoreException.StoreFullException) {
            return ENOSPC;
        }
        if (t instanceof OutOfMemoryError) {
            return ENOMEM; // the mount's heap: this call fails, the mount goes on
        }
        return EIO;
    }
}
