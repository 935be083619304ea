package io.cowfs.blockstore.store;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Key ranges whose entries a damaged index lost, as {lo, hi} pairs (lo inclusive, hi exclusive,
 * null = unbounded), and their encoding under meta "lost/DB" (docs/FORMAT.md, "LMDB databases"):
 * {@code range := present:u8 (bit 0 lo, bit 1 hi) [len:u16 lo] [len:u16 hi]}.
 */
final class LostRanges {
    private LostRanges() {
    }

    static byte[] encode(List<byte[][]> ranges) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[][] r : ranges) {
            out.write((r[0] != null ? 1 : 0) | (r[1] != null ? 2 : 0));
            for (byte[] b : r) {
                if (b != null) {
                    out.write(b.length >>> 8);
                    out.write(b.length & 0xFF);
                    out.writeBytes(b);
                }
            }
        }
        return out.toByteArray();
    }

    static List<byte[][]> decode(byte[] v) {
        List<byte[][]> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        int at = 0;
        while (at < v.length) {
            int present = v[at++];
            byte[][] r = new byte[2][];
            for (int i = 0; i < 2; i++) {
                if ((present & (1 << i)) != 0) {
                    int len = ((v[at] & 0xFF) << 8) | (v[at + 1] & 0xFF);
                    r[i] = Arrays.copyOfRange(v, at + 2, at + 2 + len);
                    at += 2 + len;
                }
            }
            out.add(r);
        }
        return out;
    }
}
