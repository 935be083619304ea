package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The primitive encodings of docs/FORMAT.md. */
class EncoderDecoderTest {
    static final long[] LONGS = {0, 1, 127, 128, 255, 16383, 16384, Integer.MAX_VALUE, 1L << 35, Long.MAX_VALUE, -1, Long.MIN_VALUE};

    @Test
    void everyPrimitiveRoundTrips() {
        ChunkId id = ChunkId.hash(new byte[] {9});
        Encoder e = new Encoder(1); // grows
        for (long v : LONGS) {
            e.varlong(v).i64(v);
        }
        e.u8(0).u8(255).bytes(new byte[0]).bytes(new byte[] {0, -1, 7}).string("").string("日本語 naïve ✓").id(id);
        byte[] big = new byte[100_000];
        Arrays.fill(big, (byte) 7);
        e.bytes(big);
        Decoder d = new Decoder(e.toBytes());
        for (long v : LONGS) {
            assertEquals(v, d.varlong(), "varlong " + v);
            assertEquals(v, d.i64(), "i64 " + v);
        }
        assertEquals(0, d.u8());
        assertEquals(255, d.u8());
        assertArrayEquals(new byte[0], d.bytes());
        assertArrayEquals(new byte[] {0, -1, 7}, d.bytes());
        assertEquals("", d.string());
        assertEquals("日本語 naïve ✓", d.string());
        assertEquals(id, d.id());
        assertArrayEquals(big, d.bytes());
        assertFalse(d.hasMore());
    }

    @Test
    void varlongsAreLeb128() {
        assertArrayEquals(new byte[] {0}, new Encoder().varlong(0).toBytes());
        assertArrayEquals(new byte[] {127}, new Encoder().varlong(127).toBytes());
        assertArrayEquals(new byte[] {(byte) 0x80, 1}, new Encoder().varlong(128).toBytes());
        assertEquals(10, new Encoder().varlong(-1).length());
        assertArrayEquals(new byte[] {0, 0, 0, 0, 0, 0, 1, 0}, new Encoder().i64(256).toBytes(), "i64 is big-endian");
    }

    @Test
    void truncatedOrMalformedInputIsAStoreException() {
        byte[] full = new Encoder().i64(5).bytes(new byte[10]).toBytes();
        for (int cut = 0; cut < full.length; cut++) {
            Decoder d = new Decoder(Arrays.copyOf(full, cut));
            assertThrows(StoreException.class, () -> {
                d.i64();
                d.bytes();
            }, "cut at " + cut);
        }
        byte[] endless = new byte[11];
        Arrays.fill(endless, (byte) 0x80);
        assertThrows(StoreException.class, () -> new Decoder(endless).varlong());
        assertThrows(StoreException.class, () -> new Decoder(new Encoder().varlong(1L << 40).toBytes()).varint());
        assertThrows(StoreException.class, () -> new Decoder(new Encoder().varlong(Long.MAX_VALUE).toBytes()).bytes(),
                "a huge length is not an allocation");
        assertThrows(StoreException.class, () -> new Decoder(new byte[31]).id());
        byte[] huge = new Encoder().varlong(Integer.MAX_VALUE).u8(1).toBytes();
        assertThrows(StoreException.class, () -> new Decoder(huge).bytes(), "a length past the end is checked before the array is made");
        assertThrows(StoreException.class, () -> new Decoder(java.nio.ByteBuffer.allocateDirect(huge.length).put(0, huge), 0, huge.length).bytes());
    }

    /** A decoder over a (direct) buffer reads what one over an array reads, and only its slice of the buffer. */
    @Test
    void aDecoderReadsABufferAsItReadsAnArray() {
        ChunkId id = ChunkId.hash(new byte[] {3});
        byte[] page = new byte[5000];
        Arrays.fill(page, (byte) 9);
        byte[] enc = new Encoder().varlong(300).i64(-7).id(id).string("näive").raw(page, 0, page.length).u8(42).toBytes();
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocateDirect(enc.length + 20).put(10, enc);
        Decoder d = new Decoder(buf, 10, enc.length);
        assertEquals(300, d.varint());
        assertEquals(-7, d.i64());
        assertEquals(id, d.id());
        assertEquals("näive", d.string());
        java.nio.ByteBuffer out = java.nio.ByteBuffer.allocateDirect(page.length + 4);
        d.raw(out, 4, page.length);
        byte[] got = new byte[page.length];
        out.get(4, got);
        assertArrayEquals(page, got);
        assertEquals(42, d.u8());
        assertFalse(d.hasMore());
        assertThrows(StoreException.class, d::u8, "the buffer's bytes past the slice are not read");
        byte[] arr = new byte[page.length];
        new Decoder(enc, enc.length - 1 - page.length, page.length).raw(out, 0, page.length); // array into a buffer
        out.get(0, arr);
        assertArrayEquals(page, arr);
    }

    @Test
    void aDecoderReadsOnlyItsSlice() {
        byte[] b = new Encoder().u8(1).u8(2).u8(3).toBytes();
        Decoder d = new Decoder(b, 1, 1);
        assertTrue(d.hasMore());
        assertEquals(2, d.u8());
        assertFalse(d.hasMore());
        assertThrows(StoreException.class, d::u8);
    }
}
