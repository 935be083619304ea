package io.cowfs.fusefs.vfs;

import java.util.List;

/**
 * A filesystem addressed by node id (inode number; the root is 1), as the kernel-protocol adapter
 * serves it. {@link ViewFs} is the one cowfs ships; the benchmarks' in-memory floor is another.
 * Every method throws {@link FsException} with the errno a local filesystem would give
 * (ENOENT for a node or name that does not exist, ENOTDIR, EEXIST, ENOTEMPTY, EROFS on a read-only
 * tree, ENOSPC when the store's disk is full, EIO for damaged data).
 */
public interface NodeFs {
    boolean readOnly();

    /**
     * A number that changes whenever a name or an attribute may have changed: what was read while
     * it had one value holds while it keeps it (a read-only tree: always 0).
     */
    default long generation() {
        return 0;
    }

    Stat getattr(long ino);

    /**
     * {@link #getattr} where only the mode, owner and times are wanted: st_blocks may be an
     * estimate. A view counts a large file's blocks from its block map, and a request that only
     * asks whether the file is setuid (every FALLOCATE, COPY_FILE_RANGE and killing WRITE) must
     * not pay that pass: after each punch of a file with many punched blocks it did, and a loop
     * of 4 KiB punches over a 16 GiB file ran at a few hundred a second.
     */
    default Stat attributes(long ino) {
        return getattr(ino);
    }

    /**
     * {@link #getattr} if it costs no pass over ino's block map now (a small file, or a large one
     * whose count is remembered since its map last changed), else null: for an answer that may
     * carry {@link #attributes} instead.
     */
    default Stat getattrIfCounted(long ino) {
        return getattr(ino);
    }

    /** The node id of name in dir. @throws FsException ENOENT if there is no such name */
    long lookup(long dir, String name);

    void chmod(long ino, int mode);

    /** uid or gid of -1 leaves it unchanged. */
    void chown(long ino, int uid, int gid);

    /** Times in ns since the epoch; {@link ViewFs#OMIT} leaves one unchanged, {@link ViewFs#NOW} sets it to now. */
    void utimens(long ino, long atimeNs, long mtimeNs);

    /**
     * As {@link #utimens(long, long, long)}, with the change time the kernel gives (ctimeNs, or
     * {@link ViewFs#OMIT} for now): with its writeback cache the kernel keeps a file's times and
     * sends them (FATTR_CTIME).
     */
    default void utimens(long ino, long atimeNs, long mtimeNs, long ctimeNs) {
        utimens(ino, atimeNs, mtimeNs);
    }

    /** The change time the kernel keeps, set after a SETATTR that changed something else; committed with the next commit. */
    default void ctime(long ino, long ctimeNs) {
    }

    /**
     * The kernel keeps this mount's written files' times (its writeback cache was agreed): a
     * WRITE does not stamp them; the kernel sends them with SETATTR when they change. It also
     * holds written data that has not reached the vfs yet (a regular file then reports at least
     * one block).
     */
    default void kernelKeepsTimes() {
    }

    byte[] readlink(long ino);

    /** Entries of dir, sorted by name, without "." and "..". */
    Dirents readdir(long dir);

    long mknod(long dir, String name, int mode, long rdev, int uid, int gid);

    /** Creates and opens a regular file. @throws FsException EEXIST if the name exists */
    long create(long dir, String name, int mode, int uid, int gid);

    /**
     * Creates and opens a regular file with no name (open(O_TMPFILE)): nlink 0 until a link
     * names it; it goes with its last release otherwise. Release it like an open.
     *
     * @throws FsException ENOSYS where not supported (the kernel then answers EOPNOTSUPP)
     */
    default long tmpfile(long dir, int mode, int uid, int gid) {
        throw new FsException(Errno.ENOSYS, "tmpfile");
    }

    long mkdir(long dir, String name, int mode, int uid, int gid);

    long symlink(byte[] target, long dir, String name, int uid, int gid);

    void link(long ino, long dir, String name);

    void unlink(long dir, String name);

    void rmdir(long dir, String name);

    void rename(long fromDir, String fromName, long toDir, String toName);

    /** renameat2(RENAME_EXCHANGE); EINVAL where not supported. */
    default void exchange(long fromDir, String fromName, long toDir, String toName) {
        throw new FsException(Errno.EINVAL, "RENAME_EXCHANGE is not supported here");
    }

    void open(long ino, boolean write);

    void release(long ino);

    /** release of each handle, as one change where the filesystem can (one store commit for a batch). */
    default void releaseAll(long[] inos) {
        for (long ino : inos) {
            release(ino);
        }
    }

    void flush(long ino);

    void fsync(long ino);

    int read(long ino, long off, byte[] out, int len);

    /**
     * As {@link #read(long, long, byte[], int)}, into out at pos (out's position and limit are
     * not used): the kernel adapter reads into its reply buffer this way.
     */
    default int read(long ino, long off, java.nio.ByteBuffer out, int pos, int len) {
        byte[] b = new byte[len];
        int n = read(ino, off, b, len);
        out.put(pos, b, 0, n);
        return n;
    }

    int write(long ino, long off, byte[] data, int len);

    /**
     * As {@link #write(long, long, byte[], int)}, from data at pos (data's position and limit are
     * not used): the kernel adapter writes from its request buffer this way.
     */
    default int write(long ino, long off, java.nio.ByteBuffer data, int pos, int len) {
        byte[] b = new byte[len];
        data.get(pos, b, 0, len);
        return write(ino, off, b, len);
    }

    /** The largest file size this filesystem takes: writes, truncates and fallocates past it fail with EFBIG. */
    default long maxFileSize() {
        return Long.MAX_VALUE;
    }

    void truncate(long ino, long size);

    void setxattr(long ino, String name, byte[] value, int flags);

    byte[] getxattr(long ino, String name);

    List<String> listxattr(long ino);

    void removexattr(long ino, String name);

    ViewFs.FsStat statfs();

    /**
     * fallocate(2): mode 0, FALLOC_FL_KEEP_SIZE (1), PUNCH_HOLE|KEEP_SIZE (3), ZERO_RANGE (0x10,
     * with or without KEEP_SIZE). @throws FsException EOPNOTSUPP for other modes or where not supported
     */
    default void fallocate(long ino, int mode, long offset, long length) {
        throw new FsException(Errno.EOPNOTSUPP, "fallocate");
    }

    /** lseek SEEK_DATA. @throws FsException ENXIO at or past EOF or if no data follows; ENOSYS where not supported */
    default long seekData(long ino, long offset) {
        throw new FsException(Errno.ENOSYS, "SEEK_DATA");
    }

    /** lseek SEEK_HOLE (EOF counts as a hole). @throws FsException ENXIO at or past EOF; ENOSYS where not supported */
    default long seekHole(long ino, long offset) {
        throw new FsException(Errno.ENOSYS, "SEEK_HOLE");
    }

    /** copy_file_range(2): bytes copied (short at the source's EOF). @throws FsException ENOSYS where not supported */
    default long copyFileRange(long inoIn, long offIn, long inoOut, long offOut, long len) {
        throw new FsException(Errno.ENOSYS, "copy_file_range");
    }

    /** Persists what is unpersisted and releases resources. */
    void close();
}
