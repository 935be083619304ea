package io.cowfs.blockstore.store;

import java.lang.ref.Reference;
import java.nio.Buffer;
import java.nio.ByteBuffer;

/**
 * size bytes of mapped memory (an index page, or part of one) read in place, in the machine's
 * byte order as LMDB writes its files, the way {@link SafeReader} and the open-time walk
 * ({@link LmdbPages}) read LMDB's pages. Every load is checked against the page's bounds first: an
 * offset outside it is an IndexOutOfBoundsException, as with a ByteBuffer, never a wild read.
 *
 * <p>Why not a ByteBuffer slice: a mount runs C1 only, and C1 compiles each of a direct buffer's
 * {@code getShort}/{@code getLong} as calls several frames deep (index check, scoped access,
 * byte order). A lookup's descent makes a few hundred of them: 5.2 us per index lookup in Java
 * against 1.6 us for liblmdb's own (docs/PERFORMANCE.md). Here a load is one bounds check and one
 * Unsafe access, which C1 compiles to a plain load.
 *
 * <p>The page holds the buffer it points into, so the mapping cannot be unmapped (by the GC's
 * cleaner, once nothing else holds it) while a page of it is read; each load ends with a
 * reachability fence on this page. Immutable; safe to share between threads.
 */
final class Page {
    private static final sun.misc.Unsafe U = NativeMemory.UNSAFE;
    private static final long ADDRESS = addressField();
    private static final long BYTES = U.arrayBaseOffset(byte[].class);

    private final long address;
    private final int size;
    private final Object owner;

    private Page(long address, int size, Object owner) {
        this.address = address;
        this.size = size;
        this.owner = owner;
    }

    private static long addressField() {
        try {
            return U.objectFieldOffset(Buffer.class.getDeclaredField("address"));
        } catch (NoSuchFieldException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** len bytes at at of a direct (mapped) buffer, which the page keeps reachable. */
    static Page of(ByteBuffer direct, int at, int len) {
        if (!direct.isDirect() || at < 0 || len < 0 || at > direct.capacity() - len) {
            throw new IndexOutOfBoundsException("bytes " + at + " + " + len + " of a buffer of " + direct.capacity());
        }
        return new Page(U.getLong(direct, ADDRESS) + at, len, direct);
    }

    /** The whole of a direct buffer's capacity. */
    static Page of(ByteBuffer direct) {
        return of(direct, 0, direct.capacity());
    }

    int size() {
        return size;
    }

    /**
     * The address of [off, off + len), checked to lie in the page. Small enough for C1 to inline,
     * as are the loads below (C1 inlines methods of up to 35 bytes of bytecode).
     */
    private long at(int off, int len) {
        if (off < 0 || off > size - len) {
            throw outside(off, len, size);
        }
        return address + off;
    }

    private static IndexOutOfBoundsException outside(int off, int len, int size) {
        return new IndexOutOfBoundsException("bytes " + off + " + " + len + " of a page of " + size);
    }

    /** The unsigned 16-bit value at off. */
    int u16(int off) {
        int v = U.getShort(at(off, 2)) & 0xFFFF;
        Reference.reachabilityFence(this);
        return v;
    }

    /** The 32-bit value at off. */
    int s32(int off) {
        int v = U.getInt(at(off, 4));
        Reference.reachabilityFence(this);
        return v;
    }

    /** The 64-bit value at off. */
    long s64(int off) {
        long v = U.getLong(at(off, 8));
        Reference.reachabilityFence(this);
        return v;
    }

    /** Copies len bytes from off into dst at pos. */
    void get(int off, byte[] dst, int pos, int len) {
        long from = at(off, len);
        if (pos < 0 || pos > dst.length - len) {
            throw outside(pos, len, dst.length);
        }
        U.copyMemory(null, from, dst, BYTES + pos, len);
        Reference.reachabilityFence(this);
    }

    /**
     * LMDB's default key order between the len bytes at off and key: memcmp over the shorter,
     * then the shorter first. Negative, zero or positive as the bytes here sort before, with, or
     * after key.
     */
    int compare(int off, int len, byte[] key) {
        long from = at(off, len);
        int n = Math.min(len, key.length);
        int c = 0;
        for (int i = 0; i < n && c == 0; i++) {
            c = (U.getByte(from + i) & 0xFF) - (key[i] & 0xFF);
        }
        Reference.reachabilityFence(this);
        return c != 0 ? c : len - key.length;
    }
}
