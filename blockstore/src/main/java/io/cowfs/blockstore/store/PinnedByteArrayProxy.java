package io.cowfs.blockstore.store;

import java.util.Arrays;
import java.util.Comparator;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.provider.MemoryManager;
import org.lmdbjava.BufferProxy;

/**
 * lmdbjava's byte[] proxy, without its use-after-free. lmdbjava 0.9's ByteArrayProxy copies a
 * key or value into native memory that nothing references once the copy is made, so a GC between
 * the copy and the native call may free it: LMDB then reads freed memory (an intermittent SIGSEGV
 * in mdb_put/mdb_get, lmdbjava issue #252; seen here in imports and in the map-growth test).
 * This proxy keeps every buffer it hands to LMDB reachable from a per-thread ring until the
 * thread has made {@link #RING} more, far more than one LMDB call uses.
 */
final class PinnedByteArrayProxy extends BufferProxy<byte[]> {
    static final PinnedByteArrayProxy INSTANCE = new PinnedByteArrayProxy();
    private static final int RING = 64;
    private static final MemoryManager MEM = Runtime.getSystemRuntime().getMemoryManager();

    /** Per thread: the native buffers recently given to LMDB, and the next slot to reuse. */
    private static final class Pins {
        final Pointer[] ring = new Pointer[RING];
        int next;
    }

    private static final ThreadLocal<Pins> PINS = ThreadLocal.withInitial(Pins::new);

    private PinnedByteArrayProxy() {
    }

    @Override
    protected byte[] allocate() {
        return new byte[0];
    }

    @Override
    protected void deallocate(byte[] buff) {
        // heap arrays: nothing to free
    }

    @Override
    protected byte[] getBytes(byte[] buffer) {
        return buffer;
    }

    @Override
    protected Comparator<byte[]> getSignedComparator() {
        return Arrays::compare;
    }

    @Override
    protected Comparator<byte[]> getUnsignedComparator() {
        return Arrays::compareUnsigned;
    }

    @Override
    protected void in(byte[] buffer, Pointer ptr, long ptrAddr) {
        Pointer p = MEM.allocateDirect(Math.max(1, buffer.length));
        p.put(0, buffer, 0, buffer.length);
        Pins pins = PINS.get();
        pins.ring[pins.next] = p; // keeps the memory alive until LMDB is done with it
        pins.next = (pins.next + 1) % RING;
        ptr.putLong(STRUCT_FIELD_OFFSET_SIZE, buffer.length);
        ptr.putAddress(STRUCT_FIELD_OFFSET_DATA, p.address());
    }

    @Override
    protected void in(byte[] buffer, int size, Pointer ptr, long ptrAddr) {
        throw new UnsupportedOperationException("MDB_RESERVE is not used by cowfs");
    }

    @Override
    protected byte[] out(byte[] buffer, Pointer ptr, long ptrAddr) {
        long addr = ptr.getAddress(STRUCT_FIELD_OFFSET_DATA);
        int size = (int) ptr.getLong(STRUCT_FIELD_OFFSET_SIZE);
        byte[] out = new byte[size];
        MEM.newPointer(addr, size).get(0, out, 0, size);
        return out;
    }
}
