package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.tree.DirObject.Entry;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A directory's entries as a few flat arrays: every name's UTF-8 bytes in one array, sorted
 * bytewise (code point order), each with its inode number and type. Immutable, so shared freely
 * between threads.
 *
 * <p>Why not a {@code TreeMap}: a walk of a million files met each directory once, and a map
 * of its entries is four objects an entry (the map's node, the name and its bytes, the entry);
 * copying them out of the young generation was 18 % of a mount's CPU (2026-12-06). Here a
 * directory is five objects whatever its size, and a listing copies names out as bytes without
 * making a {@code String} of each.
 *
 * <p>Directory objects are written sorted by Java's {@code String} order (UTF-16 code units,
 * docs/FORMAT.md). That agrees with the bytes' order unless a name holds a character above
 * U+FFFF and another one above U+E000 at the same place; such a directory is sorted again here.
 */
public final class DirEntries {
    public static final DirEntries EMPTY = new DirEntries(new byte[0], new int[0], new long[0], new byte[0]);

    private final byte[] names;
    /** Where name i ends in {@link #names}; it starts where name i - 1 ends (0 for the first). */
    private final int[] ends;
    private final long[] inos;
    private final byte[] types;

    private DirEntries(byte[] names, int[] ends, long[] inos, byte[] types) {
        this.names = names;
        this.ends = ends;
        this.inos = inos;
        this.types = types;
    }

    /** Collects entries in any order, then sorts them (when they are not sorted already). */
    static final class Builder {
        private byte[] names;
        private int[] ends;
        private long[] inos;
        private byte[] types;
        private int n;
        private int used;
        private boolean sorted = true;

        Builder(int expected, int nameBytes) {
            names = new byte[Math.max(16, nameBytes)];
            ends = new int[Math.max(1, expected)];
            inos = new long[ends.length];
            types = new byte[ends.length];
        }

        Builder add(byte[] src, int off, int len, long ino, FileType type) {
            if (n == ends.length) {
                int m = n * 2;
                ends = Arrays.copyOf(ends, m);
                inos = Arrays.copyOf(inos, m);
                types = Arrays.copyOf(types, m);
            }
            if (used + len > names.length) {
                names = Arrays.copyOf(names, Math.max(names.length * 2, used + len));
            }
            System.arraycopy(src, off, names, used, len);
            if (n > 0 && sorted) {
                int start = n == 1 ? 0 : ends[n - 2];
                sorted = Arrays.compareUnsigned(names, start, ends[n - 1], names, used, used + len) < 0;
            }
            used += len;
            ends[n] = used;
            inos[n] = ino;
            types[n] = (byte) type.code;
            n++;
            return this;
        }

        /** Gives the entry added last another inode and type. */
        void replaceLast(long ino, FileType type) {
            inos[n - 1] = ino;
            types[n - 1] = (byte) type.code;
        }

        Builder add(String name, Entry e) {
            byte[] b = name.getBytes(StandardCharsets.UTF_8);
            return add(b, 0, b.length, e.ino(), e.type());
        }

        DirEntries build() {
            if (n == 0) {
                return EMPTY;
            }
            DirEntries d = new DirEntries(Arrays.copyOf(names, used), Arrays.copyOf(ends, n), Arrays.copyOf(inos, n),
                    Arrays.copyOf(types, n));
            return sorted ? d : d.sortedCopy();
        }
    }

    /**
     * The same entries sorted bytewise. A name given twice (no directory object has one; bytes that
     * are not UTF-8 may read as one name) keeps its last entry, as a map would.
     */
    private DirEntries sortedCopy() {
        Integer[] order = new Integer[size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        // stable: entries of one name stay in their order
        Arrays.sort(order, (a, b) -> Arrays.compareUnsigned(names, start(a), ends[a], names, start(b), ends[b]));
        Builder b = new Builder(order.length, names.length);
        int before = -1;
        for (int i : order) {
            if (before >= 0 && Arrays.equals(names, start(before), ends[before], names, start(i), ends[i])) {
                b.replaceLast(inos[i], FileType.ofCode(types[i]));
            } else {
                b.add(names, start(i), ends[i] - start(i), inos[i], FileType.ofCode(types[i]));
            }
            before = i;
        }
        return b.build();
    }

    /** The entries of a map (any order; a null entry is skipped). */
    public static DirEntries of(Map<String, Entry> m) {
        Builder b = new Builder(m.size(), m.size() * 16);
        for (Map.Entry<String, Entry> e : m.entrySet()) {
            if (e.getValue() != null) {
                b.add(e.getKey(), e.getValue());
            }
        }
        return b.build();
    }

    /**
     * These entries with changes applied: a name mapped to an entry is added or replaced, a name
     * mapped to null removed. Linear in both sizes (the changes are sorted bytewise first).
     */
    public DirEntries with(SortedMap<String, Entry> changes) {
        if (changes.isEmpty()) {
            return this;
        }
        byte[][] keys = new byte[changes.size()][];
        Entry[] vals = new Entry[keys.length];
        Integer[] order = new Integer[keys.length];
        int k = 0;
        for (Map.Entry<String, Entry> c : changes.entrySet()) {
            keys[k] = c.getKey().getBytes(StandardCharsets.UTF_8);
            vals[k] = c.getValue();
            order[k] = k;
            k++;
        }
        Arrays.sort(order, (a, b) -> Arrays.compareUnsigned(keys[a], keys[b]));
        Builder out = new Builder(size() + keys.length, names.length + keys.length * 16);
        int i = 0;
        int j = 0;
        while (i < size() || j < keys.length) {
            int cmp;
            if (i == size()) {
                cmp = 1;
            } else if (j == keys.length) {
                cmp = -1;
            } else {
                byte[] key = keys[order[j]];
                cmp = Arrays.compareUnsigned(names, start(i), ends[i], key, 0, key.length);
            }
            if (cmp < 0) {
                out.add(names, start(i), ends[i] - start(i), inos[i], FileType.ofCode(types[i]));
                i++;
                continue;
            }
            Entry v = vals[order[j]];
            if (v != null) {
                byte[] key = keys[order[j]];
                out.add(key, 0, key.length, v.ino(), v.type());
            }
            j++;
            if (cmp == 0) {
                i++; // replaced or removed
            }
        }
        return out.build();
    }

    public int size() {
        return ends.length;
    }

    public boolean isEmpty() {
        return ends.length == 0;
    }

    private int start(int i) {
        return i == 0 ? 0 : ends[i - 1];
    }

    public String name(int i) {
        return new String(names, start(i), ends[i] - start(i), StandardCharsets.UTF_8);
    }

    /** The length of entry i's name in UTF-8 bytes. */
    public int nameLength(int i) {
        return ends[i] - start(i);
    }

    /** Puts entry i's name as UTF-8 into out at index at (no copy made first); out's position stays. */
    public void putName(int i, java.nio.ByteBuffer out, int at) {
        out.put(at, names, start(i), ends[i] - start(i));
    }

    public long ino(int i) {
        return inos[i];
    }

    public FileType type(int i) {
        return FileType.ofCode(types[i]);
    }

    public Entry entry(int i) {
        return new Entry(inos[i], type(i));
    }

    /** Where name is, or -1. */
    public int indexOf(String name) {
        byte[] q = name.getBytes(StandardCharsets.UTF_8);
        int lo = 0;
        int hi = ends.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            int cmp = Arrays.compareUnsigned(names, start(mid), ends[mid], q, 0, q.length);
            if (cmp < 0) {
                lo = mid + 1;
            } else if (cmp > 0) {
                hi = mid - 1;
            } else {
                return mid;
            }
        }
        return -1;
    }

    /** The entry of name, or null. */
    public Entry get(String name) {
        int i = indexOf(name);
        return i < 0 ? null : entry(i);
    }

    public boolean contains(String name) {
        return indexOf(name) >= 0;
    }

    /** The entries as a new sorted map (for code that merges or compares directories). */
    public TreeMap<String, Entry> toMap() {
        TreeMap<String, Entry> out = new TreeMap<>();
        for (int i = 0; i < size(); i++) {
            out.put(name(i), entry(i));
        }
        return out;
    }
}
