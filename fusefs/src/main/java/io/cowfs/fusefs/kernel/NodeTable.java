package io.cowfs.fusefs.kernel;

/**
 * The kernel's references to vfs inodes: every reply that hands the kernel a node id (LOOKUP,
 * CREATE, TMPFILE, MKNOD, MKDIR, SYMLINK, LINK, each READDIRPLUS entry) adds one; FORGET and BATCH_FORGET
 * take them back. A node the kernel has forgotten has no entry here. The root is never counted
 * (the kernel never forgets it).
 *
 * <p>A walk of a million files puts a million nodes here, one per READDIRPLUS entry. A
 * {@code ConcurrentHashMap<Long, Long>} took ~64 B per node and allocated a node and a boxed key
 * per entry and again at every resize (its transfer was 17 % of a mount's CPU in such a walk,
 * 2026-12-06). This is open addressing over a primitive array (a slot is an id and its count side
 * by side, 16 B, half full at most), split into {@link #STRIPES} stripes by the id's hash.
 *
 * <p>The hash keeps runs of {@link #RUN} consecutive ids together, in consecutive slots of one
 * stripe, and scatters the runs: a listing's entries have consecutive ids (a snapshot numbers a
 * directory's entries in order), so a READDIRPLUS adds to a few runs of adjacent slots, not to
 * one random cache line per entry (with a random slot per id, the adds were ~400 ns each, cache
 * misses, 0.4 s of a million-file walk, 2026-12-06). Ids a multiple of {@link #RUN} apart still
 * land apart. Thread-safety: each stripe's array and count are guarded by that stripe's monitor;
 * {@link #size} adds the stripes' counts one at a time.
 */
final class NodeTable {
    static final int STRIPES = 64;
    /** Consecutive ids kept in consecutive slots (see the class comment); a power of two. */
    static final int RUN_BITS = 6;
    static final int RUN = 1 << RUN_BITS;
    private final Stripe[] stripes = new Stripe[STRIPES];

    NodeTable() {
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new Stripe();
        }
    }

    /** The id's hash: its run's number mixed, its place in the run kept in the low bits. */
    static long hash(long id) {
        long h = (id >> RUN_BITS) * 0x9E3779B97F4A7C15L; // >>: a negative id's run is its own too
        h ^= h >>> 29;
        return (h & -RUN) | (id & (RUN - 1));
    }

    private Stripe stripe(long h) {
        return stripes[(int) (h >>> 58)]; // the top 6 bits; a stripe's slot comes from the low bits
    }

    void ref(long nodeid) {
        if (nodeid != Proto.ROOT_ID && nodeid != 0) { // 0 marks a free slot; no node has it
            long h = hash(nodeid);
            stripe(h).add(nodeid, h, 1);
        }
    }

    /** Takes back n references; true if the kernel now holds none. */
    boolean forget(long nodeid, long n) {
        if (n <= 0) { // nothing to take back (a count past 2^63 reads as negative): never adds
            return count(nodeid) == 0;
        }
        long h = hash(nodeid);
        return stripe(h).add(nodeid, h, -n) <= 0;
    }

    /** How many nodes the kernel holds references to. */
    int size() {
        int n = 0;
        for (Stripe s : stripes) {
            synchronized (s) {
                n += s.size;
            }
        }
        return n;
    }

    long count(long nodeid) {
        long h = hash(nodeid);
        return stripe(h).get(nodeid, h);
    }

    /**
     * Linear probing over slots of two longs (id, count); id 0 marks an empty slot (node id 0 is
     * never handed out). Removal shifts later entries of the run back, so there are no tombstones.
     * Grows at half full, shrinks at an eighth (the kernel forgets most nodes when its caches are
     * dropped).
     */
    private static final class Stripe {
        private static final int MIN = 16;
        private long[] slots = new long[2 * MIN]; // guarded by this: id at 2i, count at 2i + 1
        private int size; // guarded by this

        private int capacity() {
            return slots.length >> 1;
        }

        synchronized long get(long key, long h) {
            int mask = capacity() - 1;
            for (int i = (int) h & mask; slots[2 * i] != 0; i = (i + 1) & mask) {
                if (slots[2 * i] == key) {
                    return slots[2 * i + 1];
                }
            }
            return 0;
        }

        /** Adds delta to key's count (a new key starts at 0) and returns the new count; a count <= 0 removes the key. */
        synchronized long add(long key, long h, long delta) {
            int mask = capacity() - 1;
            int i = (int) h & mask;
            for (; slots[2 * i] != 0; i = (i + 1) & mask) {
                if (slots[2 * i] == key) {
                    long c = slots[2 * i + 1] + delta;
                    if (c > 0) {
                        slots[2 * i + 1] = c;
                    } else {
                        remove(i);
                    }
                    return c;
                }
            }
            if (delta <= 0) {
                return delta; // not held: nothing to take back
            }
            slots[2 * i] = key;
            slots[2 * i + 1] = delta;
            if (++size * 2 > capacity()) {
                resize(capacity() * 2);
            }
            return delta;
        }

        private void remove(int i) {
            int mask = capacity() - 1;
            int hole = i;
            for (int j = (i + 1) & mask; slots[2 * j] != 0; j = (j + 1) & mask) {
                int home = (int) hash(slots[2 * j]) & mask;
                // j's entry may fill the hole if its home slot does not lie in (hole, j] cyclically
                if (((j - home) & mask) >= ((j - hole) & mask)) {
                    slots[2 * hole] = slots[2 * j];
                    slots[2 * hole + 1] = slots[2 * j + 1];
                    hole = j;
                }
            }
            slots[2 * hole] = 0;
            slots[2 * hole + 1] = 0;
            size--;
            if (capacity() > MIN && size * 8 < capacity()) {
                resize(capacity() / 2);
            }
        }

        private void resize(int capacity) {
            long[] old = slots;
            slots = new long[2 * capacity];
            int mask = capacity - 1;
            for (int k = 0; k < old.length; k += 2) {
                if (old[k] != 0) {
                    int i = (int) hash(old[k]) & mask;
                    while (slots[2 * i] != 0) {
                        i = (i + 1) & mask;
                    }
                    slots[2 * i] = old[k];
                    slots[2 * i + 1] = old[k + 1];
                }
            }
        }
    }
}
