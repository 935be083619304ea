package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Page: in-place reads of a mapped file, the same values as a little-endian ByteBuffer's, every access bounded. */
class PageTest {
    @TempDir
    Path tmp;

    @Test
    void readsWhatABufferReadsAndNothingOutsideItsBytes() throws IOException {
        byte[] bytes = new byte[8192];
        new Random(7).nextBytes(bytes);
        Path f = tmp.resolve("data.mdb");
        Files.write(f, bytes);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            ByteBuffer mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes.length);
            ByteBuffer le = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            Page p = Page.of(mapped, 4096, 4096); // the second page only
            assertEquals(4096, p.size());
            for (int off = 0; off + 8 <= 4096; off += 7) { // unaligned offsets too
                assertEquals(le.getShort(4096 + off) & 0xFFFF, p.u16(off), "u16 at " + off);
                assertEquals(le.getInt(4096 + off), p.s32(off), "s32 at " + off);
                assertEquals(le.getLong(4096 + off), p.s64(off), "s64 at " + off);
            }
            byte[] got = new byte[100];
            p.get(4000, got, 0, 96);
            assertArrayEquals(Arrays.copyOfRange(bytes, 8096, 8192), Arrays.copyOf(got, 96));

            // the last bytes of the page are readable, one past them is not, nor is anything before it
            p.u16(4094);
            assertThrows(IndexOutOfBoundsException.class, () -> p.u16(4095));
            assertThrows(IndexOutOfBoundsException.class, () -> p.s64(4089));
            assertThrows(IndexOutOfBoundsException.class, () -> p.s32(-1));
            assertThrows(IndexOutOfBoundsException.class, () -> p.u16(Integer.MAX_VALUE));
            assertThrows(IndexOutOfBoundsException.class, () -> p.u16(Integer.MIN_VALUE));
            assertThrows(IndexOutOfBoundsException.class, () -> p.get(4000, got, 0, 97));
            assertThrows(IndexOutOfBoundsException.class, () -> p.get(0, got, 5, 96));
            assertThrows(IndexOutOfBoundsException.class, () -> p.compare(4090, 7, new byte[7]));
            // a page is made only of bytes the buffer has, and only of a direct buffer
            assertThrows(IndexOutOfBoundsException.class, () -> Page.of(mapped, 4097, 4096));
            assertThrows(IndexOutOfBoundsException.class, () -> Page.of(mapped, -1, 16));
            assertThrows(IndexOutOfBoundsException.class, () -> Page.of(ByteBuffer.wrap(bytes), 0, 16));
        }
    }

    @Test
    void comparesAsLmdbOrdersKeys() throws IOException {
        byte[] bytes = {0, 1, 2, (byte) 0x80, (byte) 0xFF, 3};
        Path f = tmp.resolve("k");
        Files.write(f, bytes);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            Page p = Page.of(ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes.length));
            assertEquals(0, p.compare(0, 6, bytes.clone()));
            assertTrue(p.compare(0, 5, bytes.clone()) < 0, "a prefix sorts first");
            assertTrue(p.compare(0, 6, Arrays.copyOf(bytes, 5)) > 0, "the longer sorts after its prefix");
            // bytes compare unsigned: 0x80 and 0xFF sort after 0x7F
            assertTrue(p.compare(3, 1, new byte[] {0x7F}) > 0);
            assertTrue(p.compare(3, 2, new byte[] {(byte) 0x80, (byte) 0xFE}) > 0);
            assertTrue(p.compare(0, 3, new byte[] {0, 1, 3}) < 0);
            assertEquals(0, p.compare(2, 0, new byte[0]));
        }
    }
}
