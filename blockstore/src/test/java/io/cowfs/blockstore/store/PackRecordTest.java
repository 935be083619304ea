package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The sample that spares incompressible blocks a full zstd pass: random bytes are stored raw
 * without it, and anything compressible in most of its places (text, half zeros, a short
 * repeated pattern) is still compressed. Records decode back to their bytes either way.
 */
class PackRecordTest {
    static final int BS = 64 << 10;

    private static byte[] random(long seed, int len) {
        byte[] b = new byte[len];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Encodes, checks the codec, decodes and compares; returns the stored payload length. */
    private static int roundTrip(byte[] raw, int expectCodec) {
        ChunkId id = ChunkId.hash(raw);
        byte[] rec = new byte[PackRecord.recordBound(raw.length)];
        int n = PackRecord.encodeInto(id, raw, 0, raw.length, ByteBuffer.wrap(rec));
        ByteBuffer b = ByteBuffer.wrap(rec, 0, n);
        PackRecord h = PackRecord.decodeHeader(b.duplicate());
        assertEquals(expectCodec, h.codec());
        ChunkLocation loc = new ChunkLocation(1, 0, h.storedLen(), raw.length, 0);
        assertArrayEquals(raw, PackRecord.decode(id, ByteBuffer.wrap(rec, 0, n).slice(), loc, "test"));
        return h.storedLen();
    }

    @Test
    void randomBlocksAreStoredRawWithoutAFullCompression() {
        byte[] r = random(1, BS);
        assertTrue(PackRecord.looksIncompressible(r, 0, BS));
        assertEquals(BS, roundTrip(r, PackRecord.CODEC_RAW));
        byte[] shifted = random(2, BS + 100);
        assertTrue(PackRecord.looksIncompressible(shifted, 100, BS), "an offset into a larger array");
    }

    @Test
    void blocksCompressibleInMostPlacesAreCompressed() {
        byte[] text = "a line of text, then another one like it\n".repeat(BS / 40 + 1).substring(0, BS).getBytes();
        assertFalse(PackRecord.looksIncompressible(text, 0, BS));
        assertTrue(roundTrip(text, PackRecord.CODEC_ZSTD) < BS / 10);

        byte[] halfZeros = new byte[BS];
        System.arraycopy(random(3, BS / 2), 0, halfZeros, 0, BS / 2);
        assertFalse(PackRecord.looksIncompressible(halfZeros, 0, BS));
        assertTrue(roundTrip(halfZeros, PackRecord.CODEC_ZSTD) < BS * 6 / 10);

        byte[] pattern = new byte[BS]; // a 64-byte random pattern over and over: every piece repeats it
        byte[] p = random(4, 64);
        for (int i = 0; i < BS; i++) {
            pattern[i] = p[i % 64];
        }
        assertFalse(PackRecord.looksIncompressible(pattern, 0, BS));
        assertTrue(roundTrip(pattern, PackRecord.CODEC_ZSTD) < BS / 10);
    }

    @Test
    void smallBlocksAreNotSampled() {
        PackRecord.forgetSmallRun();
        byte[] small = random(5, PackRecord.SAMPLE_FROM - 1);
        assertFalse(PackRecord.looksIncompressible(small, 0, small.length));
        assertEquals(small.length, roundTrip(small, PackRecord.CODEC_RAW), "a full pass finds it incompressible");
        byte[] text = "short text\n".repeat(100).getBytes();
        assertTrue(roundTrip(text, PackRecord.CODEC_ZSTD) < text.length);
    }

    @Test
    void aRunOfIncompressibleSmallRecordsIsStoredRawUntilAProbeCompresses() {
        PackRecord.forgetSmallRun();
        byte[] text = "short text\n".repeat(300).getBytes();
        assertTrue(roundTrip(text, PackRecord.CODEC_ZSTD) < text.length / 10, "not in a run: tried and compressed");
        for (int i = 0; i < PackRecord.SMALL_STREAK; i++) {
            roundTrip(random(10 + i, 4096), PackRecord.CODEC_RAW); // tried: zstd saves nothing
        }
        // in a run now: compressible records are stored raw without trying, up to the next probe
        int raw = 0;
        while (raw < PackRecord.SMALL_PROBE && PackRecord.skipSmall(PackRecord.SMALL_STREAK + raw)) {
            assertEquals(text.length, roundTrip(text, PackRecord.CODEC_RAW), "record " + raw + " of the run");
            raw++;
        }
        assertEquals(PackRecord.SMALL_PROBE - PackRecord.SMALL_STREAK, raw, "raw until the probe");
        assertTrue(roundTrip(text, PackRecord.CODEC_ZSTD) < text.length / 10, "the probe compresses and ends the run");
        assertTrue(roundTrip(text, PackRecord.CODEC_ZSTD) < text.length / 10, "and the next is tried again");
        // whole blocks are sampled whatever the run
        for (int i = 0; i < PackRecord.SMALL_PROBE; i++) {
            roundTrip(random(30 + i, 4096), PackRecord.CODEC_RAW);
        }
        byte[] block = "a line of text, then another one like it\n".repeat(BS / 40 + 1).substring(0, BS).getBytes();
        assertTrue(roundTrip(block, PackRecord.CODEC_ZSTD) < BS / 10);
    }
}
