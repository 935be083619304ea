package io.cowfs.fusefs.kernel;

import io.cowfs.fusefs.vfs.Dirents;
import io.cowfs.fusefs.vfs.Stat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A worker's reply buffer: {@code fuse_out_header} (16 bytes: len u32, error i32, unique u64)
 * followed by the reply struct, encoded in place and written with one write(2). Reused for every
 * reply of its worker.
 */
final class Reply {
    /** Bytes of the allocation before the reply (see {@link #framed}). */
    static final int ROOM = 64;
    final ByteBuffer buf;
    /** The allocation: {@link #ROOM} bytes, then buf's. The vfs reads file data into this, at ROOM + a position in buf, so that a pack record's header can land before a block's bytes (Store.readAllInto). */
    final ByteBuffer framed;
    /** Where buf starts: what is written to the device. */
    final long address;
    /** End of what has been encoded (header included). */
    int end;

    Reply(int capacity) {
        // native memory that is not cleared: pages become resident only when a request touches
        // them (an idle mount keeps a few KiB of its 1 MiB buffers); freed when its worker ends
        long base = io.cowfs.blockstore.store.NativeMemory.allocate(ROOM + capacity);
        address = base + ROOM;
        framed = com.kenai.jffi.MemoryIO.getInstance().newDirectByteBuffer(base, ROOM + capacity).order(ByteOrder.nativeOrder());
        buf = framed.slice(ROOM, capacity).order(ByteOrder.nativeOrder());
    }

    /** Frees the buffer; called once, by its worker, when it ends (buf must not be used after). */
    void free() {
        io.cowfs.blockstore.store.NativeMemory.free(address - ROOM);
    }

    /** Starts an empty successful reply. */
    Reply begin() {
        end = Proto.OUT_HEADER;
        return this;
    }

    int room() {
        return buf.capacity() - end;
    }

    /** Writes the header for this reply (error 0 or -errno); returns the total length. */
    int seal(long unique, int error) {
        int n = error == 0 ? end : Proto.OUT_HEADER;
        buf.putInt(0, n);
        buf.putInt(4, error);
        buf.putLong(8, unique);
        return n;
    }

    /**
     * Encodes FUSE_NOTIFY_INVAL_INODE for node's attributes only (offset -1: its cached pages
     * stay), replacing what the buffer held; returns the length to write.
     */
    int notifyInvalAttrs(long node) {
        begin().u64(node).u64(-1L).u64(0); // fuse_notify_inval_inode_out: ino, off, len
        return sealNotification(Proto.NOTIFY_INVAL_INODE);
    }

    /**
     * Encodes FUSE_NOTIFY_INVAL_INODE for node's attributes and its cached pages over [offset,
     * offset + len) (len 0: to the end; dirty ones are written back first); returns the length to write.
     */
    int notifyInvalPages(long node, long offset, long len) {
        begin().u64(node).u64(offset).u64(len);
        return sealNotification(Proto.NOTIFY_INVAL_INODE);
    }

    /** Encodes FUSE_NOTIFY_INC_EPOCH (no payload), replacing what the buffer held; returns the length to write. */
    int notifyIncEpoch() {
        begin();
        return sealNotification(Proto.NOTIFY_INC_EPOCH);
    }

    /** Writes the header of a notification of what was encoded (code in the error field, unique 0); returns its length. */
    int sealNotification(int code) {
        buf.putInt(0, end);
        buf.putInt(4, code);
        buf.putLong(8, 0);
        return end;
    }

    Reply u32(long v) {
        buf.putInt(end, (int) v);
        end += 4;
        return this;
    }

    Reply u16(int v) {
        buf.putShort(end, (short) v);
        end += 2;
        return this;
    }

    Reply u64(long v) {
        buf.putLong(end, v);
        end += 8;
        return this;
    }

    Reply zeros(int n) {
        for (int i = 0; i < n; i++) {
            buf.put(end + i, (byte) 0);
        }
        end += n;
        return this;
    }

    Reply bytes(byte[] b, int off, int n) {
        buf.put(end, b, off, n);
        end += n;
        return this;
    }

    /** fuse_attr (88 bytes). */
    Reply attr(Stat s) {
        u64(s.ino()).u64(s.size()).u64(s.blocks512());
        u64(Math.floorDiv(s.atimeNs(), 1_000_000_000L));
        u64(Math.floorDiv(s.mtimeNs(), 1_000_000_000L));
        u64(Math.floorDiv(s.ctimeNs(), 1_000_000_000L));
        u32(Math.floorMod(s.atimeNs(), 1_000_000_000L));
        u32(Math.floorMod(s.mtimeNs(), 1_000_000_000L));
        u32(Math.floorMod(s.ctimeNs(), 1_000_000_000L));
        u32(s.mode()).u32(s.nlink()).u32(s.uid()).u32(s.gid()).u32(s.rdev());
        u32(4096); // blksize
        u32(0); // flags
        return this;
    }

    /** fuse_entry_out (128 bytes): node id = the vfs inode number; nodeid 0 is a cached negative entry. */
    Reply entry(long nodeid, Stat s, long entryValidSec, long attrValidSec) {
        u64(nodeid).u64(Kernel.GENERATION).u64(entryValidSec).u64(attrValidSec).u32(0).u32(0);
        if (s == null) {
            return zeros(Proto.ATTR);
        }
        return attr(s);
    }

    /** fuse_attr_out (104 bytes). */
    Reply attrOut(Stat s, long attrValidSec) {
        return u64(attrValidSec).u32(0).u32(0).attr(s);
    }

    /** fuse_open_out (16 bytes). */
    Reply open(long fh, int openFlags) {
        return u64(fh).u32(openFlags).u32(0);
    }

    /**
     * One fuse_dirent (24 bytes + name, padded to 8); false if it does not fit in limit bytes of
     * reply body. off is the cookie of the next entry.
     */
    boolean dirent(long ino, long off, int type, byte[] name, int limit) {
        if (!direntHead(ino, off, type, name.length, limit)) {
            return false;
        }
        bytes(name, 0, name.length);
        zeros(align8(name.length) - name.length);
        return true;
    }

    /** As {@link #dirent(long, long, int, byte[], int)}, with entry k of es as the name (put in place, not copied first). */
    boolean dirent(long ino, long off, int type, Dirents es, int k, int limit) {
        int n = es.nameLength(k);
        if (!direntHead(ino, off, type, n, limit)) {
            return false;
        }
        es.putName(k, buf, end);
        end += n;
        zeros(align8(n) - n);
        return true;
    }

    private boolean direntHead(long ino, long off, int type, int nameLength, int limit) {
        if (end - Proto.OUT_HEADER + align8(Proto.DIRENT + nameLength) > limit) {
            return false;
        }
        u64(ino).u64(off).u32(nameLength).u32(type);
        return true;
    }

    /** The bytes an entry of READDIRPLUS takes with a name of nameLength bytes. */
    static int direntPlusSize(int nameLength) {
        return Proto.ENTRY_OUT + align8(Proto.DIRENT + nameLength);
    }

    static int align8(int n) {
        return (n + 7) & ~7;
    }
}
