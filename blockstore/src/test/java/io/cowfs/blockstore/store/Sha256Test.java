package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The native digest and the JDK's agree on every kind of buffer and length. */
class Sha256Test {
    @Test
    void libcryptoIsUsedWhereInstalled() {
        // CI installs libssl3 (.ci/run); a machine without it falls back to the JDK's digest
        assertEquals("libcrypto", Sha256.implementation());
    }

    @Test
    void aMissingLibraryFallsBackToTheJdksDigest() throws Exception {
        assertNull(Sha256.load("libcowfs-no-such-crypto.so.9", "/nonexistent/libcrypto.so"), "nothing loads: the JDK's digest");
        assertNotNull(Sha256.load("libcrypto.so.3", "crypto"));
        assertNull(Sha256.fallbackWarning(), "libcrypto is here: nothing to warn about");
        everyBufferKindGivesTheJdkDigest(null); // the fallback's own paths, for every buffer kind
    }

    @Test
    void everyBufferKindGivesTheJdkDigest() throws Exception {
        everyBufferKindGivesTheJdkDigest(Sha256.load("libcrypto.so.3", "crypto"));
    }

    private static void everyBufferKindGivesTheJdkDigest(Sha256.Crypto crypto) throws Exception {
        Random r = new Random(7);
        for (int len : new int[] {0, 1, 55, 56, 63, 64, 65, 4095, 4096, 65536, 65537}) {
            byte[] data = new byte[len + 10];
            r.nextBytes(data);
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(data, 3, len);
            byte[] want = md.digest();
            assertArrayEquals(want, Sha256.digest(crypto, data, 3, len), "offset array, " + len);
            byte[] whole = java.util.Arrays.copyOfRange(data, 3, 3 + len);
            assertArrayEquals(want, Sha256.digest(crypto, whole, 0, len), "array, " + len);
            ByteBuffer direct = ByteBuffer.allocateDirect(len + 20);
            direct.position(7).put(whole).position(7).limit(7 + len);
            assertArrayEquals(want, Sha256.digest(crypto, direct), "direct, " + len);
            assertEquals(7, direct.position(), "the buffer's position is not moved");
            ByteBuffer heap = ByteBuffer.wrap(data, 3, len).slice();
            assertArrayEquals(want, Sha256.digest(crypto, heap), "heap slice, " + len);
            assertArrayEquals(want, ChunkId.hash(whole).bytes());
        }
    }
}
