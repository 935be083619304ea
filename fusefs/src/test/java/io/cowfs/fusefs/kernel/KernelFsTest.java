package io.cowfs.fusefs.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.Importer;
import io.cowfs.fusefs.vfs.Errno;
import io.cowfs.fusefs.vfs.ViewFs;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel adapter's decoding and dispatch on crafted requests, over a real store (real LMDB,
 * real zstd): what the kernel never sends (unknown opcodes, truncated arguments) must get an
 * errno reply, never an exception or a hang, and well-formed requests the bytes of fuse.h.
 */
class KernelFsTest {
    @TempDir
    Path tmp;
    private Store store;
    private ViewFs vfs;
    private KernelFs fs;
    private final Reply out = new Reply(Kernel.MAX_WRITE + 4096);
    private final KernelFs.Worker worker = new KernelFs.Worker();

    @BeforeEach
    void open() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src/dir"));
        Files.writeString(src.resolve("file"), "hello kernel");
        store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE);
        ChunkId root = new Importer(store, false, Importer.Progress.NONE, w -> { }).run(tmp.resolve("src")).root();
        vfs = ViewFs.snapshot(store, root);
        fs = new KernelFs(vfs, 60, 60, 60);
    }

    @AfterEach
    void close() {
        vfs.close();
        store.close();
    }

    /** A request with header fields and argument bytes, decoded as a worker would. */
    private Request request(int opcode, long nodeid, byte[] arg) {
        Request rq = new Request(Kernel.MAX_WRITE + 4096);
        int len = Proto.IN_HEADER + arg.length;
        rq.buf.putInt(0, len).putInt(4, opcode).putLong(8, 42).putLong(16, nodeid).putInt(24, 0).putInt(28, 0).putInt(32, 1);
        rq.buf.put(Proto.IN_HEADER, arg);
        assertTrue(rq.decode(len));
        return rq;
    }

    private static byte[] name(String n) {
        byte[] b = n.getBytes(StandardCharsets.UTF_8);
        return java.util.Arrays.copyOf(b, b.length + 1);
    }

    @Test
    void unknownOpcodeGetsEnosys() {
        assertEquals(-Errno.ENOSYS.code, fs.handle(request(9999, 1, new byte[0]), out, worker));
        assertEquals(-Errno.ENOSYS.code, fs.handle(request(39 /* IOCTL */, 1, new byte[64]), out, worker));
    }

    @Test
    void truncatedArgumentsGetEio() {
        // READ wants fh, offset, size: 4 bytes are not enough
        assertEquals(-Errno.EIO.code, fs.handle(request(Proto.READ, 2, new byte[4]), out, worker));
        // a name without its NUL
        assertEquals(-Errno.EIO.code, fs.handle(request(Proto.LOOKUP, 1, "dir".getBytes(StandardCharsets.UTF_8)), out, worker));
        // a header whose length disagrees with what was read is not a request
        Request rq = request(Proto.GETATTR, 1, new byte[16]);
        assertTrue(!rq.decode(Proto.IN_HEADER + 8));
    }

    @Test
    void lookupRepliesEntryAndCountsTheReference() {
        assertEquals(0, fs.handle(request(Proto.LOOKUP, 1, name("dir")), out, worker));
        long nodeid = out.buf.getLong(Proto.OUT_HEADER);
        assertTrue(nodeid > 1);
        assertEquals(Proto.OUT_HEADER + Proto.ENTRY_OUT, out.seal(42, 0));
        assertEquals(040000, out.buf.getInt(Proto.OUT_HEADER + 40 + 60) & 0170000, "mode of a directory");
        assertEquals(1, fs.nodes.count(nodeid));
        byte[] forget = new byte[8];
        java.nio.ByteBuffer.wrap(forget).order(java.nio.ByteOrder.nativeOrder()).putLong(0, 1);
        assertEquals(KernelFs.NO_REPLY, fs.handle(request(Proto.FORGET, nodeid, forget), out, worker));
        assertEquals(0, fs.nodes.count(nodeid));
    }

    @Test
    void missingNameIsACachedNegativeEntry() {
        assertEquals(0, fs.handle(request(Proto.LOOKUP, 1, name("nope")), out, worker));
        assertEquals(0, out.buf.getLong(Proto.OUT_HEADER), "node id 0: negative entry");
        assertEquals(60, out.buf.getLong(Proto.OUT_HEADER + 16), "entry_valid");
        // below a node that does not exist it is ENOENT
        assertEquals(-Errno.ENOENT.code, fs.handle(request(Proto.LOOKUP, 987654, name("x")), out, worker));
    }

    @Test
    void readReturnsTheFileBytes() {
        fs.handle(request(Proto.LOOKUP, 1, name("dir")), out, worker);
        long file = vfs.lookup(vfs.lookup(1, "dir"), "file");
        byte[] arg = new byte[40];
        java.nio.ByteBuffer a = java.nio.ByteBuffer.wrap(arg).order(java.nio.ByteOrder.nativeOrder());
        a.putLong(0, 0).putLong(8, 6).putInt(16, 4096);
        assertEquals(0, fs.handle(request(Proto.READ, file, arg), out, worker));
        int len = out.seal(42, 0) - Proto.OUT_HEADER;
        byte[] got = new byte[len];
        out.buf.get(Proto.OUT_HEADER, got);
        assertEquals("kernel", new String(got, StandardCharsets.UTF_8));
    }

    /** The names one READDIR stream of dir gives from offset `from`, in requests of `size` bytes, up to its empty end. */
    private java.util.List<String> stream(long dir, long from, int size) {
        return stream(dir, from, size, Integer.MAX_VALUE, new long[1]);
    }

    /** As above, at most `requests` requests; next[0] is the offset to go on from. */
    private java.util.List<String> stream(long dir, long from, int size, int requests, long[] next) {
        java.util.List<String> names = new java.util.ArrayList<>();
        long off = from;
        for (int r = 0; r < requests; r++) {
            byte[] arg = new byte[40];
            java.nio.ByteBuffer.wrap(arg).order(java.nio.ByteOrder.nativeOrder()).putLong(0, 0).putLong(8, off).putInt(16, size);
            assertEquals(0, fs.handle(request(Proto.READDIR, dir, arg), out, worker));
            int end = out.seal(42, 0);
            if (end == Proto.OUT_HEADER) {
                break;
            }
            for (int p = Proto.OUT_HEADER; p < end; ) {
                off = out.buf.getLong(p + 8);
                int len = out.buf.getInt(p + 16);
                byte[] n = new byte[len];
                out.buf.get(p + 24, n);
                names.add(new String(n, StandardCharsets.UTF_8));
                p += (24 + len + 7) & ~7;
            }
        }
        next[0] = off;
        return names;
    }

    /**
     * A read-only tree's listing is let go of when its stream reaches the end (a walk of a million
     * files promoted every listing): a second stream, one resumed from the middle of the first
     * after that end, and one running beside another all list the same entries at the same offsets.
     */
    @Test
    void readOnlyListingsReadInPiecesAgainAndFromTheMiddleAgree() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("many"));
        java.util.List<String> want = new java.util.ArrayList<>(java.util.List.of(".", ".."));
        for (int i = 0; i < 60; i++) {
            Files.writeString(src.resolve("f" + (100 + i)), "x");
            want.add("f" + (100 + i));
        }
        ChunkId root = new Importer(store, false, Importer.Progress.NONE, w -> { }).run(src).root();
        try (ViewFs many = ViewFs.snapshot(store, root)) {
            fs = new KernelFs(many, 60, 60, 60);
            assertEquals(want, stream(1, 0, 128), "first stream, a few entries a request");
            assertEquals(want, stream(1, 0, 4096), "again, after the end let the listing go");
            assertEquals(want.subList(20, want.size()), stream(1, 20, 128), "resumed at offset 20");
            long[] next = new long[1];
            java.util.List<String> a = stream(1, 0, 128, 2, next);
            assertTrue(a.size() < want.size() && next[0] == a.size(), "a stream in its middle: " + a.size());
            java.util.List<String> b = stream(1, 0, 128); // another stream ends (and lets go) while a is in its middle
            a.addAll(stream(1, next[0], 128));
            assertEquals(want, a);
            assertEquals(want, b);
        }
    }

    @Test
    void readOnlyTreeAsksForNoOpen() {
        assertEquals(-Errno.ENOSYS.code, fs.handle(request(Proto.OPEN, 1, new byte[8]), out, worker));
        assertEquals(-Errno.ENOSYS.code, fs.handle(request(Proto.OPENDIR, 1, new byte[8]), out, worker));
    }
}
