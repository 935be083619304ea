package io.cowfs.blockstore.store;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The codec of pack files (docs/FORMAT.md, "Pack files"), the one place their layout is
 * written and read: the file magic, and each record's header and payload.
 *
 * <pre>
 * file    := "COWFSPK1" record*
 * record  := magic:u32 id:32 rawLen:u32 storedLen:u32 codec:u8 payload:storedLen
 * </pre>
 *
 * @param id        the chunk's id, repeated in its record
 * @param rawLen    bytes once decoded
 * @param storedLen bytes of payload after the header
 * @param codec     {@link #CODEC_RAW} or {@link #CODEC_ZSTD}
 */
public record PackRecord(ChunkId id, int rawLen, int storedLen, int codec) {
    public static final byte[] FILE_MAGIC = "COWFSPK1".getBytes(StandardCharsets.US_ASCII);
    public static final int RECORD_MAGIC = 0x43484B31; // "CHK1"
    /** Bytes of a record header. */
    public static final int HEADER = 4 + ChunkId.LENGTH + 4 + 4 + 1;
    public static final int CODEC_RAW = 0;
    public static final int CODEC_ZSTD = 1;
    static final int ZSTD_LEVEL = 3;

    /*
     * zstd contexts, pooled (each used by one thread at a time, then put back): zstd-jni's static
     * calls make and free a context per call, and a compression context allocates and clears its
     * tables on first use. Per 64 KiB block that was a fifth of a view's sequential-write CPU
     * (malloc'd and unmapped tables, page faults, memset; docs/PERFORMANCE.md). A context that
     * failed is closed, not reused.
     */
    private static final ConcurrentLinkedQueue<ZstdCompressCtx> COMPRESSORS = new ConcurrentLinkedQueue<>();
    private static final ConcurrentLinkedQueue<ZstdDecompressCtx> DECOMPRESSORS = new ConcurrentLinkedQueue<>();
    /** Contexts at {@link #SAMPLE_LEVEL}, for {@link #looksIncompressible}'s sample. */
    private static final ConcurrentLinkedQueue<ZstdCompressCtx> SAMPLERS = new ConcurrentLinkedQueue<>();

    /** Compresses src[srcOff, +srcLen) into dst[dstOff, +dstLen) at {@link #ZSTD_LEVEL}; returns the frame's length. */
    private static int compress(byte[] dst, int dstOff, int dstLen, byte[] src, int srcOff, int srcLen) {
        return compress(COMPRESSORS, ZSTD_LEVEL, dst, dstOff, dstLen, src, srcOff, srcLen);
    }

    /** As {@link #compress(byte[], int, int, byte[], int, int)} with a context of pool, made at level if none is free. */
    private static int compress(ConcurrentLinkedQueue<ZstdCompressCtx> pool, int level, byte[] dst, int dstOff, int dstLen, byte[] src, int srcOff, int srcLen) {
        ZstdCompressCtx c = pool.poll();
        if (c == null) {
            c = new ZstdCompressCtx().setLevel(level);
        }
        try {
            int n = c.compressByteArray(dst, dstOff, dstLen, src, srcOff, srcLen);
            pool.offer(c);
            return n;
        } catch (ZstdException e) {
            c.close();
            throw new StoreException("zstd failed: " + e.getMessage());
        }
    }

    /** Closes the pooled zstd contexts not in use now (an idle process's trim; new ones are made as needed). */
    static void closePooledCodecs() {
        for (ZstdCompressCtx c; (c = COMPRESSORS.poll()) != null; ) {
            c.close();
        }
        for (ZstdCompressCtx c; (c = SAMPLERS.poll()) != null; ) {
            c.close();
        }
        for (ZstdDecompressCtx d; (d = DECOMPRESSORS.poll()) != null; ) {
            d.close();
        }
    }

    /** A pooled decompression context; give it back with {@link #giveBack}, or close it if it failed. */
    private static ZstdDecompressCtx decompressor() {
        ZstdDecompressCtx d = DECOMPRESSORS.poll();
        return d != null ? d : new ZstdDecompressCtx();
    }

    private static long giveBack(ZstdDecompressCtx d, long n) {
        DECOMPRESSORS.offer(d);
        return n;
    }

    /** Bytes a whole record of a len-byte chunk may take: {@link #encodeInto} needs that much room. */
    static int recordBound(int len) {
        return HEADER + (int) Zstd.compressBound(len);
    }

    /**
     * Encodes a chunk's whole record (header, then the payload compressed with zstd unless that
     * saves less than 1/64: then the payload is the raw bytes) into out from index 0 (out is
     * cleared first), and returns its length. out must hold
     * {@link #recordBound}(len); a direct out is written to the pack as it is, so the raw bytes
     * of an incompressible block are copied once between the caller's array and the file's page
     * cache (no heap record, no JDK bounce buffer: the write path's copies, docs/PERFORMANCE.md).
     */
    static int encodeInto(ChunkId id, byte[] raw, int off, int len, ByteBuffer out) {
        out.clear();
        int codec = CODEC_RAW;
        int stored = len;
        long[] smallRun = len < SAMPLE_FROM ? SMALL_RUN.get() : null;
        boolean skip = smallRun != null ? skipSmall(smallRun[0]) : looksIncompressible(raw, off, len);
        if (!skip) {
            byte[] z = ZSTD_OUT.get();
            if (z.length < recordBound(len)) {
                z = new byte[recordBound(len)];
                ZSTD_OUT.set(z);
            }
            int zlen = compress(z, 0, z.length, raw, off, len);
            if (zlen < len - len / 64) {
                out.put(HEADER, z, 0, zlen);
                codec = CODEC_ZSTD;
                stored = zlen;
            }
        }
        if (codec == CODEC_RAW) {
            out.put(HEADER, raw, off, len);
        }
        if (smallRun != null) {
            smallRun[0] = codec == CODEC_RAW ? smallRun[0] + 1 : 0;
        }
        out.putInt(0, RECORD_MAGIC);
        id.writeTo(out.duplicate().position(4));
        out.putInt(4 + ChunkId.LENGTH, len);
        out.putInt(8 + ChunkId.LENGTH, stored);
        out.put(12 + ChunkId.LENGTH, (byte) codec);
        return HEADER + stored;
    }

    /** Per thread: room for a compressed frame ({@link #encodeInto}), grown to the largest it made. */
    private static final ThreadLocal<byte[]> ZSTD_OUT = ThreadLocal.withInitial(() -> new byte[0]);

    /** Blocks at least this long are sampled before they are compressed (see looksIncompressible). */
    static final int SAMPLE_FROM = 16 << 10;
    static final int SAMPLE_PIECES = 16;
    static final int SAMPLE_PIECE = 256;
    /**
     * zstd's level for the sample: a fast (negative) level. At the store's level the sample took
     * ~25 us per block in the mount (a sequential 1 GiB write spent 0.42 CPU-seconds on samples,
     * measured by leaving them out), 4.5 us in a micro-benchmark; at -5, 1.3 us there. Whatever
     * compresses at level 3 by more than a few percent also does at -5 (text, zeros, repeats).
     */
    static final int SAMPLE_LEVEL = -5;

    /**
     * Records shorter than {@link #SAMPLE_FROM} (the pages of a sub-block delta, small files) are
     * too short to sample. A thread that stored {@link #SMALL_STREAK} of them raw in a row (zstd
     * saved less than 1/64) stores the next ones raw without trying, but tries every
     * {@link #SMALL_PROBE}-th: one that compresses ends the run. Random 4 KiB writes into a new
     * file spent 14 % of the mount's samples in zstd failing to compress 4 KiB pages
     * (docs/PERFORMANCE.md); a compressible record stored raw in a run costs its compression,
     * never its bytes, and at most SMALL_PROBE - 1 records in a row.
     */
    static final int SMALL_STREAK = 4;
    static final int SMALL_PROBE = 16;

    /** Per thread: small records stored raw in a row since the last one that compressed. */
    private static final ThreadLocal<long[]> SMALL_RUN = ThreadLocal.withInitial(() -> new long[1]);

    /** True if a small record after run raw ones in a row is stored raw without trying zstd. */
    static boolean skipSmall(long run) {
        return run >= SMALL_STREAK && run % SMALL_PROBE != 0;
    }

    /** Forgets this thread's run of raw small records (tests that expect a small record compressed). */
    static void forgetSmallRun() {
        SMALL_RUN.get()[0] = 0;
    }

    /** Per thread: a sample of a block and room for its compressed frame. */
    private static final ThreadLocal<byte[][]> SAMPLE = ThreadLocal.withInitial(
            () -> new byte[][] {new byte[SAMPLE_PIECES * SAMPLE_PIECE], new byte[(int) Zstd.compressBound(SAMPLE_PIECES * SAMPLE_PIECE)]});

    /**
     * True if a block of at least {@link #SAMPLE_FROM} bytes is not worth compressing: 16 pieces
     * of 256 bytes, spread evenly over it, compress (at {@link #SAMPLE_LEVEL}) by less than 1/64
     * together. A full pass over a 64 KiB block of random bytes took 12 us in a micro-benchmark
     * (and 18 % of a view's sequential-write samples in perf, where its tables compete with the
     * data for the cache), the sample 4.5 us; a block that is compressible in most places shows it
     * in its sample (docs/DESIGN-DECISIONS.md, 12).
     */
    static boolean looksIncompressible(byte[] raw, int off, int len) {
        if (len < SAMPLE_FROM) {
            return false;
        }
        byte[][] buf = SAMPLE.get();
        byte[] sample = buf[0];
        int step = len / SAMPLE_PIECES;
        for (int i = 0; i < SAMPLE_PIECES; i++) {
            System.arraycopy(raw, off + i * step, sample, i * SAMPLE_PIECE, SAMPLE_PIECE);
        }
        int z = compress(SAMPLERS, SAMPLE_LEVEL, buf[1], 0, buf[1].length, sample, 0, sample.length);
        return z >= sample.length - sample.length / 64;
    }

    /** The whole record (header and payload), ready to write. */
    static ByteBuffer encode(ChunkId id, byte[] stored, int rawLen, int codec) {
        ByteBuffer rec = ByteBuffer.allocate(HEADER + stored.length);
        rec.putInt(RECORD_MAGIC);
        id.writeTo(rec);
        rec.putInt(rawLen);
        rec.putInt(stored.length);
        rec.put((byte) codec);
        rec.put(stored);
        rec.flip();
        return rec;
    }

    /**
     * The header at b's position (b advances past it), or null if fewer than HEADER bytes
     * remain or they do not start with the record magic.
     */
    public static PackRecord decodeHeader(ByteBuffer b) {
        if (b.remaining() < HEADER || b.getInt() != RECORD_MAGIC) {
            return null;
        }
        ChunkId id = ChunkId.read(b);
        int raw = b.getInt();
        int stored = b.getInt();
        int codec = b.get();
        return new PackRecord(id, raw, stored, codec);
    }

    /** The header at pos of a pack, or null if there is none there (short read, no magic). */
    public static PackRecord readHeader(FileChannel ch, long pos) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(HEADER);
        while (h.hasRemaining() && ch.read(h, pos + h.position()) > 0) {
            // a header is read whole or not at all
        }
        h.flip();
        return decodeHeader(h);
    }

    /** True if the header is what the index says of the chunk at that place. */
    public boolean matches(ChunkId id, ChunkLocation loc) {
        return this.id.equals(id) && rawLen == loc.rawLen() && storedLen == loc.storedLen();
    }

    /**
     * Where a record lies, for the error that names it: made only when one is thrown (every read
     * of a block made two strings here, for nothing).
     */
    private static String at(ChunkLocation loc, String where) {
        return (where != null ? where : Packs.fileName(loc.pack())) + " offset " + loc.offset();
    }

    /** The header at rec's position (rec advances past it), checked against the index's loc. */
    private static PackRecord checkedHeader(ChunkId id, ByteBuffer rec, ChunkLocation loc, String where) {
        PackRecord h = decodeHeader(rec);
        if (h == null) {
            throw new StoreException.ChunkCorruptException(id, "bad record header in " + at(loc, where));
        }
        if (!h.matches(id, loc)) {
            throw new StoreException.ChunkCorruptException(id, "record header does not match the index in " + at(loc, where));
        }
        return h;
    }

    /** One zstd-jni decompression call (it returns the size or an error code, or throws). */
    private interface Decompression {
        long run();
    }

    /**
     * Runs d (which gives ctx back when it succeeds) and checks that it made exactly rawLen bytes;
     * a damaged frame is ChunkCorruptException, and closes ctx.
     */
    private static void decompressed(ChunkId id, ZstdDecompressCtx ctx, Decompression d, int rawLen, ChunkLocation loc, String where) {
        long n;
        try {
            n = d.run();
        } catch (ZstdException e) { // zstd-jni reports a damaged frame by throwing
            ctx.close();
            throw new StoreException.ChunkCorruptException(id, "cannot decompress (" + e.getMessage() + ") in " + at(loc, where));
        }
        if (Zstd.isError(n)) {
            throw new StoreException.ChunkCorruptException(id, "cannot decompress (" + Zstd.getErrorName(n) + ") in " + at(loc, where));
        }
        if (n != rawLen) {
            throw new StoreException.ChunkCorruptException(id, "decompressed to " + n + " bytes, expected " + rawLen + " in " + at(loc, where));
        }
    }

    /**
     * As {@link #decode}, for a record read into a direct buffer: the verified raw bytes are
     * placed at [0, rawLen) of out (direct, at least rawLen bytes), with no copy on the heap.
     * Returns rawLen. out's position and limit are not used or moved. With payloadInOut, rec was
     * read so that its payload lies in out itself (out is rec's bytes from {@link #HEADER} on): a
     * raw payload is then verified where it lies, and a compressed one (not written by cowfs as
     * long as its raw bytes, but valid) is decompressed from a copy. Without verify, the raw bytes
     * are not hashed here: the caller hashes them (with others, {@link Sha256#digestAll}) before
     * anyone reads them.
     */
    static int decodeInto(ChunkId id, ByteBuffer rec, ChunkLocation loc, ByteBuffer out, boolean payloadInOut, boolean verify) {
        String where = null; // the pack loc names, in an error
        PackRecord h = checkedHeader(id, rec, loc, where);
        int payload = rec.position();
        int rawLen = h.rawLen();
        if (rawLen > out.capacity()) {
            // only file data is read this way, and no block of a file is larger than the store's block size
            throw new StoreException.ChunkCorruptException(id, "a block of " + rawLen + " bytes, more than a block holds, in " + at(loc, where));
        }
        if (h.codec() == CODEC_ZSTD) {
            ByteBuffer src = rec;
            int from = payload;
            if (payloadInOut) {
                src = ByteBuffer.allocateDirect(h.storedLen()).put(0, rec, payload, h.storedLen());
                from = 0;
            }
            ByteBuffer in = src;
            int inFrom = from;
            ZstdDecompressCtx d = decompressor();
            decompressed(id, d, () -> giveBack(d, d.decompressDirectByteBuffer(out, 0, rawLen, in, inFrom, h.storedLen())), rawLen, loc, where);
        } else if (h.codec() == CODEC_RAW) {
            if (h.storedLen() != rawLen) {
                throw new StoreException.ChunkCorruptException(id, "a raw record of " + h.storedLen() + " bytes for " + rawLen + " in " + at(loc, where));
            }
            if (!payloadInOut) {
                out.put(0, rec, payload, rawLen);
            }
        } else {
            throw new StoreException.ChunkCorruptException(id, "unknown codec " + h.codec() + " in " + at(loc, where));
        }
        if (verify && !id.names(ChunkId.hash(out.duplicate().position(0).limit(rawLen)))) {
            throw new StoreException.ChunkCorruptException(id, "content does not match its hash in " + at(loc, where));
        }
        return rawLen;
    }

    /**
     * Decodes a whole record read from loc (of the pack where names, or loc's pack if where is
     * null: a pack's name is made only for an error) into the verified raw bytes of the
     * chunk: the header must match the index's loc, the payload decode to rawLen bytes that hash
     * to id. ChunkCorruptException names what is wrong, and where.
     */
    static byte[] decode(ChunkId id, ByteBuffer buf, ChunkLocation loc, String where) {
        PackRecord h = checkedHeader(id, buf, loc, where);
        // decoded straight from the read buffer: no intermediate copy of the payload (cold-read path)
        int payload = buf.position();
        int rawLen = h.rawLen();
        int storedLen = h.storedLen();
        byte[] raw;
        if (h.codec() == CODEC_ZSTD) {
            byte[] r = new byte[rawLen];
            ZstdDecompressCtx d = decompressor();
            decompressed(id, d, () -> giveBack(d, d.decompressByteArray(r, 0, rawLen, buf.array(), payload, storedLen)), rawLen, loc, where);
            raw = r;
        } else if (h.codec() == CODEC_RAW) {
            raw = Arrays.copyOfRange(buf.array(), payload, payload + storedLen);
        } else {
            throw new StoreException.ChunkCorruptException(id, "unknown codec " + h.codec() + " in " + at(loc, where));
        }
        if (!id.names(ChunkId.hash(raw))) {
            throw new StoreException.ChunkCorruptException(id, "content does not match its hash in " + at(loc, where));
        }
        return raw;
    }
}
