package io.cowfs.blockstore.store;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * A least-recently-used cache bounded by total weight: the JDK's access-ordered LinkedHashMap
 * under one lock. It replaced Caffeine on the read path of mounts: Caffeine's maintenance and its
 * many generated classes made the JIT compile (and recompile) thousands of methods in the first
 * minute of a mount, a third of its CPU in a cold cat of 100K files (docs/DESIGN-DECISIONS.md §13).
 *
 * <p>Thread-safety: every access holds this object's monitor; {@link #get} runs its loader
 * outside it, so two threads missing the same key at once may both load it (the second put wins;
 * values of one key are equal).
 */
public final class Lru<K, V> {
    private final long capacity;
    private final ToLongFunction<V> weigher;
    private final LinkedHashMap<K, V> map = new LinkedHashMap<>(64, 0.75f, true); // guarded by this
    private long weight; // guarded by this

    /** At most capacity of total weight (one entry is kept whatever its weight). */
    public Lru(long capacity, ToLongFunction<V> weigher) {
        this.capacity = capacity;
        this.weigher = weigher;
    }

    /** At most n entries. */
    public static <K, V> Lru<K, V> ofSize(long n) {
        return new Lru<>(n, v -> 1);
    }

    public synchronized V getIfPresent(K key) {
        return map.get(key);
    }

    /** The cached value, or load's (then cached); load's exceptions pass through and cache nothing. */
    public V get(K key, Function<K, V> load) {
        V v = getIfPresent(key);
        if (v != null) {
            return v;
        }
        v = load.apply(key);
        put(key, v);
        return v;
    }

    public synchronized void put(K key, V value) {
        V old = map.put(key, value);
        if (old != null) {
            weight -= weigher.applyAsLong(old);
        }
        weight += weigher.applyAsLong(value);
        Iterator<Map.Entry<K, V>> it = map.entrySet().iterator();
        while (weight > capacity && map.size() > 1 && it.hasNext()) {
            Map.Entry<K, V> e = it.next();
            if (e.getKey().equals(key)) {
                continue;
            }
            weight -= weigher.applyAsLong(e.getValue());
            it.remove();
        }
    }

    /** Puts value for key if key maps to expected (the same object) now; true if it did. */
    public synchronized boolean replace(K key, V expected, V value) {
        if (map.get(key) != expected || expected == null) {
            return false;
        }
        put(key, value);
        return true;
    }

    /** The total weight it may hold. */
    public long capacity() {
        return capacity;
    }

    /** The total weight held now. */
    public synchronized long weight() {
        return weight;
    }

    public synchronized void invalidate(K key) {
        V old = map.remove(key);
        if (old != null) {
            weight -= weigher.applyAsLong(old);
        }
    }

    public synchronized void invalidateAll() {
        map.clear();
        weight = 0;
    }

    public synchronized int size() {
        return map.size();
    }

    /** The sum of f over the values held (what the cache holds, measured apart from its weigher). */
    public synchronized long sum(ToLongFunction<V> f) {
        long n = 0;
        for (V v : map.values()) {
            n += f.applyAsLong(v);
        }
        return n;
    }
}
