package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    /**
     * Batches (Sha256.digestAll) give the one-at-a-time digests for every batch size and length:
     * in parallel lanes where intel-ipsec-mb is installed (CI installs it on x86-64: .ci/run),
     * one at a time for what does not qualify (heap buffers, empty or longer than 64 KiB, more
     * than a batch holds).
     */
    /**
     * Whether the multi-buffer library is installed is found in LD_LIBRARY_PATH and the usual
     * library directories, not at Debian's path only (a mount elsewhere warned that it was missing
     * while batches used it).
     */
    @Test
    void theLibraryIsFoundInAnyLibraryDirectory(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        java.nio.file.Path lib = tmp.resolve("lib64");
        java.nio.file.Files.createDirectories(lib);
        java.util.List<String> dirs = java.util.List.of(tmp.resolve("none").toString(), lib.toString());
        assertNull(MultiSha256.find(dirs, MultiSha256.SONAME), "not there yet");
        java.nio.file.Files.writeString(lib.resolve(MultiSha256.SONAME), "");
        assertEquals(lib.resolve(MultiSha256.SONAME).toString(), MultiSha256.find(dirs, MultiSha256.SONAME));
        if (MultiSha256.available()) {
            assertNotNull(MultiSha256.installed(), "the loaded library is found where the loader found it");
            assertNull(Sha256.fallbackWarning(), "nothing to warn about where batches work");
        }
    }

    @Test
    void batchesGiveTheOneAtATimeDigests() throws Exception {
        if (MultiSha256.installed() != null) {
            assertTrue(MultiSha256.available(), "intel-ipsec-mb is installed: batches use it");
        }
        assertNull(MultiSha256.load("libcowfs-no-such-ipsec-mb.so.1"), "no library: one at a time");
        Random r = new Random(11);
        int[] lens = {1, 55, 56, 63, 64, 65, 4096, 65471, 65472, 65535, 65536};
        for (int n : new int[] {1, 2, 3, 7, 8, 9, 16, 17, 31, 64, 65}) {
            ByteBuffer[] in = new ByteBuffer[n];
            byte[][] heap = new byte[n][];
            int[] heapLens = new int[n];
            byte[][] want = new byte[n][];
            for (int i = 0; i < n; i++) {
                int len = lens[r.nextInt(lens.length)];
                byte[] b = new byte[len + 5];
                r.nextBytes(b);
                heap[i] = b;
                heapLens[i] = len;
                want[i] = MessageDigest.getInstance("SHA-256").digest(java.util.Arrays.copyOf(b, len));
                in[i] = ByteBuffer.allocateDirect(len + 9).position(9).put(b, 0, len).position(9);
            }
            byte[][] got = Sha256.digestAll(in, n);
            byte[][] gotHeap = Sha256.digestAll(heap, heapLens, n);
            for (int i = 0; i < n; i++) {
                assertArrayEquals(want[i], got[i], "batch of " + n + ", message " + i + " (" + heapLens[i] + " bytes)");
                assertArrayEquals(want[i], gotHeap[i], "heap batch of " + n + ", message " + i);
                assertEquals(9, in[i].position(), "positions are not moved");
            }
        }
        // an idle mount's trim frees the managers and buffers; the next batch makes new ones
        Sha256.dropBuffers();
        ByteBuffer[] again = {ByteBuffer.allocateDirect(3).put(new byte[] {'a', 'b', 'c'}).flip(), ByteBuffer.allocateDirect(65536)};
        byte[][] d = Sha256.digestAll(again, 2);
        assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(new byte[] {'a', 'b', 'c'}), d[0]);
        assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(new byte[65536]), d[1]);
        // what does not qualify is hashed one at a time, in the same batch call
        ByteBuffer empty = ByteBuffer.allocateDirect(0);
        ByteBuffer big = ByteBuffer.allocateDirect(65537);
        ByteBuffer heapBuf = ByteBuffer.wrap(new byte[] {'a', 'b', 'c'});
        byte[][] mixed = Sha256.digestAll(new ByteBuffer[] {empty, big, heapBuf}, 3);
        assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(new byte[0]), mixed[0]);
        assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(new byte[65537]), mixed[1]);
        assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(new byte[] {'a', 'b', 'c'}), mixed[2]);
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
