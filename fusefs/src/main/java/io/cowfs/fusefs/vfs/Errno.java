package io.cowfs.fusefs.vfs;

/** The errno values the VFS reports (Linux numbers). The only place that spells them. */
public enum Errno {
    EPERM(1), ENOENT(2), EIO(5), E2BIG(7), EBADF(9), EAGAIN(11), EACCES(13), EEXIST(17), EXDEV(18), ENOTDIR(20),
    EISDIR(21), EINVAL(22), EFBIG(27), ENOSPC(28), EROFS(30), EMLINK(31), ERANGE(34), ENAMETOOLONG(36),
    ENOSYS(38), ENOTEMPTY(39), ELOOP(40), ENODATA(61), EOPNOTSUPP(95);

    public final int code;

    Errno(int code) {
        this.code = code;
    }
}
