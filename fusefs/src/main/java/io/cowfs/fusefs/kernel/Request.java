package io.cowfs.fusefs.kernel;

import io.cowfs.blockstore.tree.Names;
import io.cowfs.fusefs.vfs.Errno;
import io.cowfs.fusefs.vfs.FsException;
import io.cowfs.fusefs.vfs.ViewFs;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One request as the kernel wrote it into a worker's buffer: {@code fuse_in_header} (40 bytes:
 * len u32, opcode u32, unique u64, nodeid u64, uid u32, gid u32, pid u32, total_extlen u16,
 * padding u16) followed by the opcode's argument struct. The buffer is the worker's and is
 * reused for its next request: nothing here may be kept past the request's reply.
 */
final class Request {
    final ByteBuffer buf;
    final long address;
    int len;
    int opcode;
    long unique;
    long nodeid;
    int uid;
    int gid;
    int pid;

    Request(int capacity) {
        // native memory that is not cleared: pages become resident only when a request touches
        // them (an idle mount keeps a few KiB of its 1 MiB buffers); freed when its worker ends
        address = io.cowfs.blockstore.store.NativeMemory.allocate(capacity);
        buf = com.kenai.jffi.MemoryIO.getInstance().newDirectByteBuffer(address, capacity).order(ByteOrder.nativeOrder());
    }

    /** Frees the buffer; called once, by its worker, when it ends (buf must not be used after). */
    void free() {
        io.cowfs.blockstore.store.NativeMemory.free(address);
    }

    /** Decodes the header of a request of n bytes; false if it is too short to be one. */
    boolean decode(int n) {
        if (n < Proto.IN_HEADER) {
            return false;
        }
        len = buf.getInt(0);
        opcode = buf.getInt(4);
        unique = buf.getLong(8);
        nodeid = buf.getLong(16);
        uid = buf.getInt(24);
        gid = buf.getInt(28);
        pid = buf.getInt(32);
        return len == n;
    }

    /** Bytes of argument after the header. */
    int argLen() {
        return len - Proto.IN_HEADER;
    }

    int i32(int argOff) {
        check(argOff, 4);
        return buf.getInt(Proto.IN_HEADER + argOff);
    }

    long u32(int argOff) {
        return i32(argOff) & 0xFFFFFFFFL;
    }

    long i64(int argOff) {
        check(argOff, 8);
        return buf.getLong(Proto.IN_HEADER + argOff);
    }

    /**
     * The NUL-terminated name at argOff, of something looked up, removed or renamed. Names in cowfs
     * are UTF-8 (docs/DESIGN-DECISIONS.md, 7), so bytes that are not name nothing: ENOENT (and
     * ENAMETOOLONG past NAME_MAX, which ext4 checks first). They are never decoded with U+FFFD in
     * place of the bad bytes: {@code caf\xe9} would then find, and {@code rm} remove, a file
     * named {@code caf\uFFFD}.
     */
    String name(int argOff) {
        return utf8(argOff, Errno.ENOENT);
    }

    /** The NUL-terminated name at argOff, of something to be made: EINVAL if it is not UTF-8. */
    String newName(int argOff) {
        return utf8(argOff, Errno.EINVAL);
    }

    /** An extended attribute's name to read or remove: ENODATA if it is not UTF-8 (no such name is stored). */
    String xattrName(int argOff) {
        return utf8(argOff, Errno.ENODATA);
    }

    private String utf8(int argOff, Errno notUtf8) {
        int start = Proto.IN_HEADER + argOff;
        int end = nul(start);
        byte[] b = new byte[end - start];
        buf.get(start, b);
        String s = Names.utf8(b);
        if (s == null) {
            throw new FsException(b.length > ViewFs.NAME_MAX ? Errno.ENAMETOOLONG : notUtf8, "a name that is not UTF-8");
        }
        return s;
    }

    /** The argument offset just past the NUL-terminated string at argOff. */
    int after(int argOff) {
        return nul(Proto.IN_HEADER + argOff) + 1 - Proto.IN_HEADER;
    }

    byte[] bytes(int argOff, int n) {
        check(argOff, n);
        byte[] b = new byte[n];
        buf.get(Proto.IN_HEADER + argOff, b);
        return b;
    }

    /** Raw NUL-terminated bytes (symlink targets are bytes, not names). */
    byte[] cstring(int argOff) {
        int start = Proto.IN_HEADER + argOff;
        int end = nul(start);
        byte[] b = new byte[end - start];
        buf.get(start, b);
        return b;
    }

    private int nul(int from) {
        for (int i = from; i < len; i++) {
            if (buf.get(i) == 0) {
                return i;
            }
        }
        throw new BadRequest("unterminated string in opcode " + opcode);
    }

    private void check(int argOff, int n) {
        if (argOff < 0 || n < 0 || Proto.IN_HEADER + argOff + n > len) {
            throw new BadRequest("opcode " + opcode + ": argument of " + argLen() + " bytes is too short");
        }
    }

    /** A request whose bytes do not fit its opcode: answered EIO, the mount goes on. */
    static final class BadRequest extends RuntimeException {
        BadRequest(String message) {
            super(message, null, false, false);
        }
    }
}
