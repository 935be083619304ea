package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.tree.FileType;
import io.cowfs.blockstore.tree.Inode;
import java.util.List;

/**
 * Operations on byte ranges of regular files over the block map: fallocate (holes and sizes),
 * SEEK_DATA/SEEK_HOLE, and copy_file_range (a whole file into an empty one as a clone of its
 * block list; elsewhere sharing stored blocks where both sides are block-aligned). {@link ViewFs}
 * checks the arguments and documents the errnos; this class does the work.
 *
 * <p>Locking: no state of its own; every method runs with the owning {@link ViewFs}'s lock held
 * (the read lock for seeks, the write lock for the others).
 */
final class FileRanges {
    private final ViewNamespace ns;
    private final WriteBack data;
    private final int bs;

    FileRanges(ViewNamespace ns, WriteBack data) {
        this.ns = ns;
        this.data = data;
        this.bs = data.blockSize();
    }

    /** The inode, which must be a regular file: else ifDir for a directory, ifOther for anything else. */
    Inode regular(long ino, Errno ifDir, Errno ifOther) {
        Inode n = ns.inode(ino);
        if (n.type == FileType.DIRECTORY) {
            throw new FsException(ifDir, "a directory: inode " + ino);
        }
        if (n.type != FileType.REGULAR) {
            throw new FsException(ifOther, "not a regular file: inode " + ino);
        }
        return n;
    }

    /**
     * fallocate of [offset, end) with checked arguments: zero the range and/or grow the size.
     * Nothing is reserved, but an allocation (not zero) whose part past the file's end is more
     * than room() (the store's disk's usable bytes, asked only then) fails with ENOSPC and changes
     * nothing, as on ext4: a program that preallocates to learn early that the disk is too small
     * (a VM image, a database's log) learns it here too. Holes inside the file are not counted.
     */
    void fallocate(long ino, boolean zero, boolean keepSize, long offset, long end, java.util.function.LongSupplier room) {
        Inode cur = regular(ino, Errno.EISDIR, Errno.ENODEV);
        long past = end - Math.max(offset, cur.size);
        if (!zero && past > 0 && past > room.getAsLong()) {
            throw new FsException(Errno.ENOSPC, "fallocate of " + past + " bytes past the end: more than the store's disk has");
        }
        if (zero) {
            data.zero(ino, cur, offset, Math.min(end, cur.size));
        }
        if (!keepSize && end > ns.inode(ino).size) {
            data.growing(ino, ns.inode(ino), end, end);
            Inode n = ns.mutable(ino);
            n.size = end;
            data.stampChanged(n);
        }
    }

    long seekData(long ino, long offset) {
        Inode n = seekable(ino, offset);
        long at = data.seek(ino, n, offset, true);
        if (at < 0) {
            throw new FsException(Errno.ENXIO, "no data after " + offset);
        }
        return at;
    }

    long seekHole(long ino, long offset) {
        Inode n = seekable(ino, offset);
        long at = data.seek(ino, n, offset, false);
        return at < 0 ? n.size : at;
    }

    private Inode seekable(long ino, long offset) {
        Inode n = regular(ino, Errno.EINVAL, Errno.EINVAL);
        if (offset < 0 || offset >= n.size) {
            throw new FsException(Errno.ENXIO, "offset " + offset + " of a file of " + n.size + " bytes");
        }
        return n;
    }

    /** copy_file_range with non-negative offsets and length; returns the bytes copied. */
    long copy(long inoIn, long offIn, long inoOut, long offOut, long len) {
        Inode in = regular(inoIn, Errno.EISDIR, Errno.EINVAL);
        regular(inoOut, Errno.EISDIR, Errno.EINVAL);
        if (offIn >= in.size || len == 0) {
            return 0L;
        }
        long n = Math.min(len, in.size - offIn);
        if (offOut + n < 0 || offOut + n > ViewFs.maxFileSize(data.blockSize())) {
            throw new FsException(Errno.EFBIG, "offset " + offOut);
        }
        if (inoIn == inoOut && offIn < offOut + n && offOut < offIn + n) {
            throw new FsException(Errno.EINVAL, "overlapping ranges in one file");
        }
        if (offIn == 0 && offOut == 0 && inoIn != inoOut && ns.inode(inoOut).size == 0 && data.blockless(inoOut)) {
            return cloneInto(inoIn, inoOut, n);
        }
        boolean shared = false;
        byte[] buf = new byte[bs];
        for (long done = 0; done < n; ) {
            long src = offIn + done;
            long dst = offOut + done;
            int piece = (int) Math.min(n - done, bs - src % bs);
            Inode from = ns.inode(inoIn);
            if (piece == bs && dst % bs == 0 && !data.isDirty(inoIn, src / bs)) {
                // a whole stored block to a block boundary: share its chunk (or its hole)
                data.growing(inoOut, ns.inode(inoOut), dst + bs, dst);
                data.setStored(inoOut, dst / bs, data.storedBlock(inoIn, from, src / bs));
                Inode o = ns.mutable(inoOut);
                o.size = Math.max(o.size, dst + bs);
                data.stampChanged(o);
                shared = true;
            } else {
                data.read(inoIn, from, src, buf, 0, piece);
                if (data.write(inoOut, ns.inode(inoOut), dst, buf, 0, piece)) {
                    data.persistIfOver(inoOut); // a long unaligned copy stays within the dirty limit
                }
            }
            done += piece;
        }
        if (shared) {
            // recorded now, while the source still refers to the chunks: a gc never sees them unreferenced
            data.persistFile(inoOut);
        }
        return n;
    }

    /**
     * The first n bytes of file in copied to the empty file out as a clone (what cp does): out
     * shares in's block list by reference, whatever its length, and takes in's overrides; only
     * in's dirty blocks, and a partial last block when n stops short of in's end, are copied as
     * bytes. Persisted at once, as the block-by-block sharing above is.
     */
    private long cloneInto(long inoIn, long inoOut, long n) {
        boolean toEnd = n == ns.inode(inoIn).size;
        long blocks = toEnd ? (n + bs - 1) / bs : n / bs; // short of the end: its last partial block holds bytes past n
        List<Long> asBytes = data.cloneBlocks(inoIn, inoOut, blocks);
        Inode o = ns.mutable(inoOut);
        o.size = n;
        data.stampChanged(o);
        if (blocks * bs < n) {
            asBytes.add(blocks);
        }
        byte[] buf = new byte[bs];
        for (long idx : asBytes) {
            int len = (int) Math.min(bs, n - idx * bs);
            data.read(inoIn, ns.inode(inoIn), idx * bs, buf, 0, len);
            if (data.write(inoOut, ns.inode(inoOut), idx * bs, buf, 0, len)) {
                data.persistIfOver(inoOut);
            }
        }
        data.persistFile(inoOut);
        return n;
    }
}
