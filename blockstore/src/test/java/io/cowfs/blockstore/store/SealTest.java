package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

/** The walk's in-place seal check agrees with the one every read makes, on good and damaged nodes. */
class SealTest {
    @Test
    void theAdjacentCheckAgreesWithTheReadsCheck() {
        Random r = new Random(3);
        CRC32C crc = new CRC32C();
        byte[] scratch = new byte[4096];
        for (int round = 0; round < 2000; round++) {
            byte[] key = new byte[1 + r.nextInt(64)];
            r.nextBytes(key);
            // most nodes fit a page; some do not fit the scratch and take the other path
            byte[] payload = new byte[round % 50 == 0 ? 5000 + r.nextInt(3000) : r.nextInt(200)];
            r.nextBytes(payload);
            byte[] value = Seal.seal(key, payload);
            int at = r.nextInt(100);
            ByteBuffer page = ByteBuffer.allocate(at + key.length + value.length + r.nextInt(50));
            page.put(at, key);
            page.put(at + key.length, value);
            assertTrue(Seal.okAdjacent(page, at, key.length, value.length, crc, scratch), "round " + round);
            int flip = at + r.nextInt(key.length + value.length);
            page.put(flip, (byte) (page.get(flip) ^ (1 << r.nextInt(8))));
            byte[] k2 = new byte[key.length];
            byte[] v2 = new byte[value.length];
            page.get(at, k2);
            page.get(at + key.length, v2);
            assertFalse(Seal.ok(k2, v2), "round " + round);
            assertEquals(Seal.ok(k2, v2), Seal.okAdjacent(page, at, key.length, value.length, crc, scratch), "round " + round + ", byte " + flip);
        }
        assertFalse(Seal.okAdjacent(ByteBuffer.allocate(8), 0, 4, 3, crc, scratch), "a value shorter than its seal");
    }
}
