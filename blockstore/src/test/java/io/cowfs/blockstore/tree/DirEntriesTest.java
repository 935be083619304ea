package io.cowfs.blockstore.tree;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.store.Encoder;
import io.cowfs.blockstore.store.StoreException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** Directory objects decoded into flat arrays: lookups, order, merging a view's changes, malformed objects. */
class DirEntriesTest {
    private static final String[] ALPHABET = {"a", "b", "z", "A", "_", ".", "0", "é", "ß", "中", "\uFFFD",
        "\uE000", "\uFF21", "😀", "𝄞", "\u007F", "\u0080"};

    private static String name(Random r) {
        StringBuilder b = new StringBuilder();
        int n = 1 + r.nextInt(6);
        for (int i = 0; i < n; i++) {
            b.append(ALPHABET[r.nextInt(ALPHABET.length)]);
        }
        return b.toString();
    }

    private static TreeMap<String, DirObject.Entry> randomDir(Random r, int n) {
        TreeMap<String, DirObject.Entry> m = new TreeMap<>();
        FileType[] types = FileType.values();
        while (m.size() < n) {
            m.put(name(r), new DirObject.Entry(1 + r.nextInt(1 << 20), types[r.nextInt(types.length)]));
        }
        return m;
    }

    /** Names in the order a listing gives them: bytewise, i.e. by code point. */
    private static List<String> byCodePoint(Iterable<String> names) {
        List<String> out = new ArrayList<>();
        names.forEach(out::add);
        out.sort((a, b) -> Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8)));
        return out;
    }

    private static void assertSame(TreeMap<String, DirObject.Entry> want, DirEntries got) {
        assertEquals(want.size(), got.size());
        List<String> order = byCodePoint(want.keySet());
        for (int i = 0; i < order.size(); i++) {
            String n = order.get(i);
            assertEquals(n, got.name(i), "name " + i);
            byte[] utf8 = n.getBytes(StandardCharsets.UTF_8);
            assertEquals(utf8.length, got.nameLength(i), n);
            java.nio.ByteBuffer put = java.nio.ByteBuffer.allocate(utf8.length + 3);
            got.putName(i, put, 3);
            assertArrayEquals(utf8, Arrays.copyOfRange(put.array(), 3, put.capacity()), n);
            assertEquals(0, put.position());
            assertEquals(want.get(n), got.entry(i), n);
            assertEquals(want.get(n), got.get(n), n);
            assertEquals(i, got.indexOf(n));
        }
        assertEquals(want, got.toMap());
    }

    @Test
    void decodesWhatWasEncodedAndFindsEveryName() {
        Random r = new Random(7);
        for (int round = 0; round < 300; round++) {
            TreeMap<String, DirObject.Entry> m = randomDir(r, r.nextInt(200));
            DirEntries d = DirObject.decode(DirObject.encode(m));
            assertSame(m, d);
            for (int k = 0; k < 20; k++) {
                String q = name(r);
                assertEquals(m.get(q), d.get(q), q);
                assertEquals(m.containsKey(q), d.contains(q), q);
            }
        }
        assertTrue(DirObject.decode(DirObject.encode(new TreeMap<>())).isEmpty());
        assertNull(DirEntries.EMPTY.get("x"));
    }

    @Test
    void namesAboveTheBasicPlaneAreFoundThoughStoredInUtf16Order() {
        // String order puts U+FF21 after U+1D11E (a surrogate pair, 0xD834...); bytes put it first
        TreeMap<String, DirObject.Entry> m = new TreeMap<>();
        m.put("\uFF21", new DirObject.Entry(2, FileType.REGULAR));
        m.put("𝄞", new DirObject.Entry(3, FileType.REGULAR));
        m.put("a", new DirObject.Entry(4, FileType.DIRECTORY));
        assertEquals(List.of("a", "𝄞", "\uFF21"), new ArrayList<>(m.keySet()));
        DirEntries d = DirObject.decode(DirObject.encode(m));
        assertEquals(List.of("a", "\uFF21", "𝄞"), List.of(d.name(0), d.name(1), d.name(2)));
        assertEquals(3, d.get("𝄞").ino());
        assertEquals(2, d.get("\uFF21").ino());
    }

    @Test
    void changesMergeAsAMapWouldApplyThem() {
        Random r = new Random(11);
        for (int round = 0; round < 300; round++) {
            TreeMap<String, DirObject.Entry> base = randomDir(r, r.nextInt(100));
            TreeMap<String, DirObject.Entry> changes = new TreeMap<>();
            List<String> names = new ArrayList<>(base.keySet());
            int n = r.nextInt(30);
            for (int k = 0; k < n; k++) {
                String key = !names.isEmpty() && r.nextBoolean() ? names.get(r.nextInt(names.size())) : name(r);
                changes.put(key, r.nextInt(3) == 0 ? null : new DirObject.Entry(r.nextInt(1000) + 1, FileType.SYMLINK));
            }
            TreeMap<String, DirObject.Entry> want = new TreeMap<>(base);
            changes.forEach((k, v) -> {
                if (v == null) {
                    want.remove(k);
                } else {
                    want.put(k, v);
                }
            });
            assertSame(want, DirObject.decode(DirObject.encode(base)).with(changes));
            assertSame(want, DirEntries.of(want));
        }
    }

    @Test
    void bytesThatAreNotUtf8AreFoundByTheNameAStringMakesOfThem() {
        Encoder e = new Encoder(64);
        e.u8(DirObject.TAG).varlong(2);
        e.bytes(new byte[] {'a', (byte) 0xFF}).varlong(5).u8(FileType.REGULAR.code);
        e.bytes(new byte[] {'b'}).varlong(6).u8(FileType.REGULAR.code);
        DirEntries d = DirObject.decode(e.toBytes());
        assertEquals(5, d.get("a\uFFFD").ino());
        assertEquals("a\uFFFD", d.name(0));
    }

    @Test
    void malformedObjectsAreStoreExceptionsAndANameGivenTwiceKeepsItsLastEntry() {
        assertThrows(StoreException.class, () -> DirObject.decode(new byte[] {'X', 0}));
        assertThrows(StoreException.class, () -> DirObject.decode(new Encoder(8).u8(DirObject.TAG).varlong(1L << 30).toBytes()));
        Encoder truncated = new Encoder(16).u8(DirObject.TAG).varlong(2);
        truncated.bytes(new byte[] {'a'}).varlong(1).u8(FileType.REGULAR.code);
        assertThrows(StoreException.class, () -> DirObject.decode(truncated.toBytes()));
        Encoder twice = new Encoder(16).u8(DirObject.TAG).varlong(2);
        twice.bytes(new byte[] {'a'}).varlong(1).u8(FileType.REGULAR.code);
        twice.bytes(new byte[] {'a'}).varlong(2).u8(FileType.REGULAR.code);
        DirEntries d = DirObject.decode(twice.toBytes()); // as the map it was decoded into: the last one
        assertEquals(1, d.size());
        assertEquals(2, d.get("a").ino());
        Encoder badType = new Encoder(16).u8(DirObject.TAG).varlong(1);
        badType.bytes(new byte[] {'a'}).varlong(1).u8(99);
        assertThrows(StoreException.class, () -> DirObject.decode(badType.toBytes()));
        assertFalse(DirEntries.EMPTY.contains(""));
    }
}
