package io.cowfs.blockstore.view;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chained sub-block deltas ("Q", docs/FORMAT.md, format 5) in a real store: a chain reads as its
 * deltas applied one by one over the base, with blocks cut and grown along the way; flattening it
 * into one delta over the base gives the same bytes, or says it cannot (a page the base fills
 * only in part); a chain longer than the limit is refused.
 */
class SubBlockChainTest {
    static final int BS = 64 * 1024;
    static final int PS = SubBlock.pageSize(BS);

    @TempDir
    Path tmp;

    /** A random delta of len bytes over base: a few pages of data, some of zeros. */
    private static SubBlock randomDelta(Random rnd, ChunkId base, int len, boolean chained) {
        int npages = (len + PS - 1) / PS;
        byte[][] pages = new byte[npages][];
        for (int i = 0; i < npages; i++) {
            int kind = rnd.nextInt(8);
            if (kind == 0) {
                pages[i] = SubBlock.ZERO_PAGE;
            } else if (kind == 1) {
                pages[i] = new byte[Math.min(PS, len - i * PS)];
                rnd.nextBytes(pages[i]);
            }
        }
        return new SubBlock(base, len, PS, pages, chained);
    }

    /** A length that cuts or grows the block, often inside a page. */
    private static int randomLen(Random rnd) {
        return switch (rnd.nextInt(4)) {
            case 0 -> BS;
            case 1 -> rnd.nextInt(16) * PS;
            default -> 1 + rnd.nextInt(BS);
        };
    }

    @Test
    void chainsReadAsTheirDeltasAppliedOneByOneAndFlattenToTheSameBytes() {
        Random rnd = new Random(3);
        int flattened = 0;
        int refused = 0;
        try (Store store = Store.init(tmp.resolve("s"), BS)) {
            for (int round = 0; round < 300; round++) {
                byte[] baseBytes = new byte[randomLen(rnd)];
                rnd.nextBytes(baseBytes);
                ChunkId base = store.put(baseBytes);
                byte[] want = baseBytes;
                ChunkId top = base;
                List<SubBlock> made = new ArrayList<>();
                List<ChunkId> ids = new ArrayList<>(List.of(base)); // the chain top first, the base last
                int links = 1 + rnd.nextInt(9);
                for (int k = 0; k < links; k++) {
                    SubBlock d = randomDelta(rnd, top, randomLen(rnd), k > 0);
                    want = d.apply(want); // the level below as its bytes: the plain definition
                    top = store.put(d.encode());
                    made.add(0, d);
                    ids.add(0, top);
                }
                assertArrayEquals(want, SubBlock.read(store::get, top), "round " + round);
                assertArrayEquals(want, inPlace(store, ids, baseBytes, BS), "round " + round + ", applied where the deltas lie");
                // made straight into a buffer holding other bytes (a reused block-cache slot), and
                // through the store's block cache as a mount reads it
                java.nio.ByteBuffer dirty = java.nio.ByteBuffer.allocateDirect(BS + 64);
                for (int i = 0; i < dirty.capacity(); i++) {
                    dirty.put(i, (byte) 0x5A);
                }
                ChunkId delta = top;
                java.nio.ByteBuffer slot = dirty.slice(64, BS);
                int n = SubBlock.readInto(store::getOnce, delta, slot, (b, blk) -> store.baseInto(b, blk, dirty));
                assertEquals(want.length, n, "round " + round);
                byte[] got = new byte[n];
                slot.get(0, got);
                assertArrayEquals(want, got, "round " + round + ", made in place");
                java.nio.ByteBuffer out = java.nio.ByteBuffer.allocateDirect(BS);
                int r = store.readDerived(SubBlock.blockKey(delta),
                        (sl, frame) -> SubBlock.readInto(store::getOnce, delta, sl, (b, blk) -> store.baseInto(b, blk, frame)), 0, out, 0, BS);
                byte[] cached = new byte[r];
                out.get(0, cached);
                assertArrayEquals(want, cached, "round " + round + ", through the block cache");
                List<SubBlock> chain = SubBlock.chain(store::get, top);
                assertEquals(links, chain.size());
                SubBlock flat = SubBlock.flatten(chain);
                if (flat == null) {
                    refused++;
                    continue;
                }
                flattened++;
                assertEquals(base, flat.base(), "a flattened chain applies over the whole chunk");
                assertTrue(!flat.chained());
                assertArrayEquals(want, flat.apply(baseBytes), "round " + round + ", flattened");
                assertArrayEquals(want, SubBlock.decode(flat.encode()).apply(baseBytes));
            }
        }
        assertTrue(flattened > 100 && refused > 10, flattened + " chains flattened, " + refused + " not");
    }

    /**
     * The block chain (top first, base last) stands for, made as a read into the reply makes it:
     * the base's bytes at an offset of a direct buffer holding other bytes, the deltas' encoded
     * bytes in direct buffers of their own, applied there (SubBlock.applyInPlace) in a room of
     * room bytes; null if it says it cannot. The bytes around the block stay as they were.
     */
    private static byte[] inPlace(Store store, List<ChunkId> chain, byte[] baseBytes, int room) {
        int at = 100;
        java.nio.ByteBuffer out = java.nio.ByteBuffer.allocateDirect(at + room + 100);
        for (int i = 0; i < out.capacity(); i++) {
            out.put(i, (byte) 0x5A);
        }
        out.put(at, baseBytes, 0, Math.min(baseBytes.length, room));
        java.nio.ByteBuffer[] enc = new java.nio.ByteBuffer[chain.size() - 1];
        for (int i = 0; i < enc.length; i++) {
            byte[] e = store.get(chain.get(i));
            enc[i] = java.nio.ByteBuffer.allocateDirect(e.length).put(0, e);
        }
        int n = SubBlock.applyInPlace(enc, chain, out, at, room, Math.min(baseBytes.length, room));
        for (int i = 0; i < at; i++) {
            assertEquals((byte) 0x5A, out.get(i), "byte " + i + " before the block");
        }
        for (int i = at + room; i < out.capacity(); i++) {
            assertEquals((byte) 0x5A, out.get(i), "byte " + i + " after the block's room");
        }
        if (n < 0) {
            return null;
        }
        byte[] got = new byte[n];
        out.get(at, got);
        return got;
    }

    @Test
    void aChainIsAppliedInPlaceOnlyAsItIsStoredAndOnlyInsideItsRoom() {
        try (Store store = Store.init(tmp.resolve("s"), BS)) {
            byte[] baseBytes = new byte[BS];
            new Random(5).nextBytes(baseBytes);
            ChunkId base = store.put(baseBytes);
            byte[][] pages = new byte[16][];
            pages[2] = new byte[PS];
            pages[2][9] = 9;
            pages[7] = SubBlock.ZERO_PAGE;
            SubBlock p = new SubBlock(base, BS, PS, pages);
            ChunkId d1 = store.put(p.encode());
            byte[][] pages2 = new byte[16][];
            pages2[3] = new byte[PS];
            pages2[3][0] = 3;
            ChunkId d2 = store.put(new SubBlock(d1, BS - 5000, PS, pages2, true).encode());
            byte[] want = SubBlock.read(store::get, d2);
            assertEquals(BS - 5000, want.length);
            assertArrayEquals(want, inPlace(store, List.of(d2, d1, base), baseBytes, BS));
            assertArrayEquals(want, inPlace(store, List.of(d2, d1, base), baseBytes, BS), "again, into a buffer of other bytes");
            // every link is made where the block lies: one longer than the room would write past it
            assertEquals(null, inPlace(store, List.of(d2, d1, base), baseBytes, BS - 5000), "a link longer than the room, the block not");
            assertArrayEquals(SubBlock.read(store::get, d1), inPlace(store, List.of(d1, base), baseBytes, BS), "the chain's lower link alone");
            assertEquals(null, inPlace(store, List.of(d1, base), baseBytes, BS - 1), "a block longer than its room");
            // the chain as the caller names it must be the chain as stored
            ChunkId other = store.put(new byte[BS]);
            assertEquals(null, inPlace(store, List.of(d2, d1, other), baseBytes, BS), "another base");
            assertEquals(null, inPlace(store, List.of(d1, d2, base), baseBytes, BS), "links swapped");
            assertEquals(null, inPlace(store, List.of(d2, base), baseBytes, BS), "a link left out");
            assertEquals(null, inPlace(store, List.of(d1, base, base), baseBytes, BS), "a whole chunk as a link");
            // a malformed delta (a page past the block) is an error, as decode says
            byte[] bad = p.encode();
            ChunkId b = store.put(java.util.Arrays.copyOf(bad, bad.length - 1)); // truncated
            assertThrows(StoreException.class, () -> inPlace(store, List.of(b, base), baseBytes, BS));
        }
    }

    @Test
    void aChainCutInsideAPageTheBaseFillsCannotBeFlattenedWithoutTheBase() {
        try (Store store = Store.init(tmp.resolve("s"), BS)) {
            byte[] baseBytes = new byte[BS];
            new Random(1).nextBytes(baseBytes);
            ChunkId base = store.put(baseBytes);
            SubBlock cut = new SubBlock(base, 3 * PS + 100, PS, new byte[4][]); // cuts page 3 after 100 bytes
            ChunkId c = store.put(cut.encode());
            SubBlock grow = new SubBlock(c, BS, PS, new byte[16][], true); // grows it back: zeros after the cut
            ChunkId g = store.put(grow.encode());
            byte[] got = SubBlock.read(store::get, g);
            assertArrayEquals(java.util.Arrays.copyOf(java.util.Arrays.copyOf(baseBytes, 3 * PS + 100), BS), got);
            SubBlock flat = SubBlock.flatten(SubBlock.chain(store::get, g));
            assertEquals(null, flat, "page 3 needs 100 of the base's bytes");

            byte[][] pages = new byte[16][];
            pages[3] = new byte[PS]; // page 3 written again over the cut: nothing of the base's is left there
            pages[3][0] = 7;
            ChunkId g2 = store.put(new SubBlock(c, BS, PS, pages, true).encode());
            flat = SubBlock.flatten(SubBlock.chain(store::get, g2));
            assertNotNull(flat);
            assertArrayEquals(SubBlock.read(store::get, g2), flat.apply(baseBytes));
            assertEquals(SubBlock.ZERO_PAGE, flat.pages()[4], "pages past the cut read as zeros");
        }
    }

    @Test
    void aChainLongerThanTheLimitIsMalformed() {
        try (Store store = Store.init(tmp.resolve("s"), BS)) {
            ChunkId top = store.put(new byte[BS]);
            top = store.put(new SubBlock(top, BS, PS, new byte[16][]).encode());
            for (int k = 0; k < SubBlock.MAX_CHAIN; k++) {
                top = store.put(new SubBlock(top, BS, PS, new byte[16][], true).encode());
            }
            ChunkId tooLong = top;
            StoreException e = assertThrows(StoreException.class, () -> SubBlock.read(store::get, tooLong));
            assertTrue(e.getMessage().contains("longer than " + SubBlock.MAX_CHAIN), e.getMessage());
        }
    }
}
