package io.cowfs.fusefs.vfs;

import java.util.List;

/**
 * Path-level POSIX operations the contract suite ({@link PosixContractTest}) drives: implemented
 * on a {@link ViewFs} directly ({@link ViewFsTarget}) and, later, on a mounted view through any
 * FUSE adapter or on a plain host directory (the control). Paths are relative to the target's
 * root ("a/b"). Every failure is an {@link FsException} carrying the errno the call got.
 */
interface PosixTarget extends AutoCloseable {
    /** What stat reports that the cases check. */
    record Attr(long ino, int mode, int nlink, long size) {
        boolean isDir() {
            return (mode & 0170000) == 0040000;
        }
    }

    /** An open file (a file descriptor). */
    interface Handle extends AutoCloseable {
        /** pread: up to len bytes at off (fewer at EOF). */
        byte[] read(long off, int len);

        /** pwrite of all of data at off. */
        void write(long off, byte[] data);

        Attr fstat();

        void fsync();

        void ftruncate(long size);

        void fallocate(int mode, long off, long len);

        long seekData(long off);

        long seekHole(long off);

        /** copy_file_range from this file at offIn to out at offOut; returns bytes copied. */
        long copyTo(Handle out, long offIn, long offOut, long len);

        @Override
        void close();
    }

    /** The unit holes are tracked in (the view's block size; the host's st_blksize). */
    int blockSize();

    void mkdir(String path);

    void rmdir(String path);

    void unlink(String path);

    void rename(String from, String to);

    void link(String existing, String path);

    void symlink(String target, String path);

    String readlink(String path);

    /** open(O_CREAT | O_EXCL | O_RDWR, 0644). */
    Handle create(String path);

    /** open(O_RDWR) or open(O_RDONLY). */
    Handle open(String path, boolean write);

    /** lstat. */
    Attr stat(String path);

    /** Names in dir, sorted, without "." and "..". */
    List<String> list(String dir);

    void truncate(String path, long size);

    void setxattr(String path, String name, byte[] value, int flags);

    byte[] getxattr(String path, String name);

    List<String> listxattr(String path);

    void removexattr(String path, String name);

    @Override
    void close();
}
