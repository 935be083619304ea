package io.cowfs.fusefs.vfs;

/** What getattr reports for one inode. Times in nanoseconds since the epoch. */
public record Stat(long ino, int mode, int nlink, int uid, int gid, long size, long blocks512,
                   long atimeNs, long mtimeNs, long ctimeNs, long rdev) {
}
