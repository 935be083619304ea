package io.cowfs.fusefs.kernel;

/**
 * Numbers of the kernel's FUSE protocol, as defined by the kernel's
 * {@code include/uapi/linux/fuse.h} (protocol 7.45, Linux 6.18; Debian's installed header is
 * 7.38 and lacks the newest constants). Every struct this adapter reads or writes is described
 * here by its size; the field offsets are in {@link Request} (decoding) and {@link Reply}
 * (encoding), each next to a comment naming the struct. All integers are little-endian on the
 * machines cowfs runs on (the kernel writes host order).
 */
final class Proto {
    private Proto() {
    }

    static final int KERNEL_MAJOR = 7;
    /** The minor version we speak (the reply's minor is the smaller of this and the kernel's). */
    static final int KERNEL_MINOR = 45;
    static final long ROOT_ID = 1;

    // opcodes (enum fuse_opcode)
    static final int LOOKUP = 1;
    static final int FORGET = 2; // no reply
    static final int GETATTR = 3;
    static final int SETATTR = 4;
    static final int READLINK = 5;
    static final int SYMLINK = 6;
    static final int MKNOD = 8;
    static final int MKDIR = 9;
    static final int UNLINK = 10;
    static final int RMDIR = 11;
    static final int RENAME = 12;
    static final int LINK = 13;
    static final int OPEN = 14;
    static final int READ = 15;
    static final int WRITE = 16;
    static final int STATFS = 17;
    static final int RELEASE = 18;
    static final int FSYNC = 20;
    static final int SETXATTR = 21;
    static final int GETXATTR = 22;
    static final int LISTXATTR = 23;
    static final int REMOVEXATTR = 24;
    static final int FLUSH = 25;
    static final int INIT = 26;
    static final int OPENDIR = 27;
    static final int READDIR = 28;
    static final int RELEASEDIR = 29;
    static final int FSYNCDIR = 30;
    static final int ACCESS = 34;
    static final int CREATE = 35;
    static final int INTERRUPT = 36; // no reply
    static final int DESTROY = 38;
    static final int BATCH_FORGET = 42; // no reply
    static final int FALLOCATE = 43;
    static final int READDIRPLUS = 44;
    static final int RENAME2 = 45;
    static final int LSEEK = 46;
    static final int COPY_FILE_RANGE = 47;
    /** open(O_TMPFILE): CREATE's arguments and reply, for a file with no name (protocol 7.37, Linux 6.1). */
    static final int TMPFILE = 51;

    // notify codes (enum fuse_notify_code), sent as the error field of a header with unique 0
    static final int NOTIFY_INVAL_INODE = 2;
    static final int NOTIFY_INVAL_ENTRY = 3;
    static final int NOTIFY_STORE = 4;
    /** Dentries the kernel cached before it are revalidated (protocol 7.44, Linux 6.16 on; no payload). */
    static final int NOTIFY_INC_EPOCH = 8;
    static final int INC_EPOCH_MINOR = 44;

    // struct sizes
    static final int IN_HEADER = 40; // fuse_in_header
    static final int OUT_HEADER = 16; // fuse_out_header
    static final int ATTR = 88; // fuse_attr
    static final int ENTRY_OUT = 40 + ATTR; // fuse_entry_out
    static final int ATTR_OUT = 16 + ATTR; // fuse_attr_out
    static final int OPEN_OUT = 16; // fuse_open_out
    static final int INIT_OUT = 64; // fuse_init_out
    static final int STATFS_OUT = 80; // fuse_statfs_out (fuse_kstatfs)
    static final int WRITE_OUT = 8; // fuse_write_out
    static final int DIRENT = 24; // fuse_dirent without its name (FUSE_NAME_OFFSET)

    // INIT flags (fuse_init_in/out.flags, and flags2 << 32)
    static final long ASYNC_READ = 1L << 0;
    static final long EXPORT_SUPPORT = 1L << 4;
    static final long BIG_WRITES = 1L << 5;
    static final long DO_READDIRPLUS = 1L << 13;
    static final long READDIRPLUS_AUTO = 1L << 14;
    static final long ASYNC_DIO = 1L << 15;
    static final long WRITEBACK_CACHE = 1L << 16;
    static final long NO_OPEN_SUPPORT = 1L << 17;
    static final long PARALLEL_DIROPS = 1L << 18;
    static final long MAX_PAGES = 1L << 22;
    static final long CACHE_SYMLINKS = 1L << 23;
    static final long NO_OPENDIR_SUPPORT = 1L << 24;
    /** The filesystem kills setuid/setgid/security.capability on write, chown and truncate (see vfs.Privileges). */
    static final long HANDLE_KILLPRIV_V2 = 1L << 28;
    static final long INIT_EXT = 1L << 30;

    // SETATTR valid bits (FATTR_*)
    static final int FATTR_MODE = 1;
    static final int FATTR_UID = 1 << 1;
    static final int FATTR_GID = 1 << 2;
    static final int FATTR_SIZE = 1 << 3;
    static final int FATTR_ATIME = 1 << 4;
    static final int FATTR_MTIME = 1 << 5;
    static final int FATTR_FH = 1 << 6;
    static final int FATTR_ATIME_NOW = 1 << 7;
    static final int FATTR_MTIME_NOW = 1 << 8;
    static final int FATTR_LOCKOWNER = 1 << 9;
    /** The kernel's ctime (protocol 7.23 on; sent with the writeback cache, which keeps times in the kernel). */
    static final int FATTR_CTIME = 1 << 10;
    /** With HANDLE_KILLPRIV_V2: a truncate by a writer without CAP_FSETID, or a chown of a non-directory. */
    static final int FATTR_KILL_SUIDGID = 1 << 11;
    /** fuse_write_in.write_flags, with HANDLE_KILLPRIV_V2: the writer has no CAP_FSETID. */
    static final int WRITE_KILL_SUIDGID = 1 << 2;
    /** fuse_write_in.write_flags: the kernel's write-back of cached pages (the writer's write(2) returned long ago). */
    static final int WRITE_CACHE = 1;
    /** open(2)'s O_DIRECT (x86-64 and arm64 differ: 040000 and 0200000), as fuse_read_in.flags carries it. */
    static final int O_DIRECT = "aarch64".equals(System.getProperty("os.arch")) ? 0200000 : 040000;

    // open reply flags (FOPEN_*)
    static final int FOPEN_KEEP_CACHE = 1 << 1;
    static final int FOPEN_CACHE_DIR = 1 << 3;

    static final int GETATTR_FH = 1;
    static final int RENAME_NOREPLACE = 1;
    static final int RENAME_EXCHANGE = 2;
    static final int SEEK_DATA = 3;
    static final int SEEK_HOLE = 4;
    static final int O_ACCMODE = 3;
}
