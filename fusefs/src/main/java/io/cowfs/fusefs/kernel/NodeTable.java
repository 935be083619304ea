package io.cowfs.fusefs.kernel;

/**
 * The kernel's references to vfs inodes: every reply that hands the kernel a node id (LOOKUP,
 * CREATE, MKNOD, MKDIR, SYMLINK, LINK, each READDIRPLUS entry) adds one; FORGET and BATCH_FORGET
 * take them back. A node the kernel has forgotten has no entry here. The root is never counted
 * (the kernel never forgets it).
 *
 * <p>A walk of a million files puts a million nodes here, one per READDIRPLUS entry. A
 * {@code ConcurrentHashMap<Long, Long>} took ~64 B per node and allocated a node and a boxed key
 * per entry and again at every resize (its transfer was 17 % of a mount's CPU in such a walk,
 * 2026-12-06). This is open addressing over primitive arrays (16 B per slot, half full at most),
 * split into {@link #STRIPES} stripes by the id's hash. Thread-safety: each stripe's arrays and
 * count are guarded by that stripe's monitor; {@link #size} adds the stripes' counts one at a time.
 */
final class NodeTable {
    static final int STRIPES = 64;
    private final Stripe[] stripes = new Stripe[STRIPES];

    NodeTable() {
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new Stripe();
        }
    }

    private static long mix(long id) {
        long h = id * 0x9E3779B97F4A7C15L;
        return h ^ (h >>> 29);
    }

    private Stripe stripe(long h) {
        return stripes[(int) (h >>> 58)]; // the top 6 bits; a stripe's slot comes from the low bits
    }

    void ref(long nodeid) {
        if (nodeid != Proto.ROOT_ID && nodeid != 0) { // 0 marks a free slot; no node has it
            long h = mix(nodeid);
            stripe(h).add(nodeid, h, 1);
        }
    }

    /** Takes back n references; true if the kernel now holds none. */
    boolean forget(long nodeid, long n) {
        if (n <= 0) { // nothing to take back (a count past 2^63 reads as negative): never adds
            return count(nodeid) == 0;
        }
        long h = mix(nodeid);
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
        long h = mix(nodeid);
        return stripe(h).get(nodeid, h);
    }

    /**
     * Linear probing; key 0 marks an empty slot (node id 0 is never handed out). Removal shifts
     * later entries of the run back, so there are no tombstones. Grows at half full, shrinks at an
     * eighth (the kernel forgets most nodes when its caches are dropped).
     */
    private static final class Stripe {
        private static final int MIN = 16;
        private long[] keys = new long[MIN]; // guarded by this
        private long[] counts = new long[MIN]; // guarded by this
        private int size; // guarded by this

        synchronized long get(long key, long h) {
            int mask = keys.length - 1;
            for (int i = (int) h & mask; keys[i] != 0; i = (i + 1) & mask) {
                if (keys[i] == key) {
                    return counts[i];
                }
            }
            return 0;
        }

        /** Adds delta to key's count (a new key starts at 0) and returns the new count; a count <= 0 removes the key. */
        synchronized long add(long key, long h, long delta) {
            int mask = keys.length - 1;
            int i = (int) h & mask;
            for (; keys[i] != 0; i = (i + 1) & mask) {
                if (keys[i] == key) {
                    long c = counts[i] + delta;
                    if (c > 0) {
                        counts[i] = c;
                    } else {
                        remove(i);
                    }
                    return c;
                }
            }
            if (delta <= 0) {
                return delta; // not held: nothing to take back
            }
            keys[i] = key;
            counts[i] = delta;
            if (++size * 2 > keys.length) {
                resize(keys.length * 2);
            }
            return delta;
        }

        private void remove(int i) {
            int mask = keys.length - 1;
            int hole = i;
            for (int j = (i + 1) & mask; keys[j] != 0; j = (j + 1) & mask) {
                int home = (int) mix(keys[j]) & mask;
                // j's entry may fill the hole if its home slot does not lie in (hole, j] cyclically
                if (((j - home) & mask) >= ((j - hole) & mask)) {
                    keys[hole] = keys[j];
                    counts[hole] = counts[j];
                    hole = j;
                }
            }
            keys[hole] = 0;
            counts[hole] = 0;
            size--;
            if (keys.length > MIN && size * 8 < keys.length) {
                resize(keys.length / 2);
            }
        }

        private void resize(int capacity) {
            long[] oldKeys = keys;
            long[] oldCounts = counts;
            keys = new long[capacity];
            counts = new long[capacity];
            int mask = capacity - 1;
            for (int k = 0; k < oldKeys.length; k++) {
                if (oldKeys[k] != 0) {
                    int i = (int) mix(oldKeys[k]) & mask;
                    while (keys[i] != 0) {
                        i = (i + 1) & mask;
                    }
                    keys[i] = oldKeys[k];
                    counts[i] = oldCounts[k];
                }
            }
        }
    }
}
