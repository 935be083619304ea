package io.cowfs.blockstore.store;

import java.lang.reflect.Field;

/**
 * malloc and free, without zeroing; and unmapping a mapped buffer at once. jffi's {@code MemoryIO.allocateMemory(size, false)}, which
 * the code used before, is {@code calloc} in the jffi 1.3.13 binary whatever its second argument
 * says (its disassembly: {@code mov $1,%esi; jmp calloc}), and glibc's calloc clears every block
 * it takes from the heap: 1.3 us per 64 KiB here, 23 % of a loop that then copies 64 KiB into the
 * block, and a page fault for every page of fresh memory before anyone writes it. The JDK's
 * {@code Unsafe.allocateMemory} is malloc. Memory from {@link #allocate} is freed with
 * {@link #free} and with nothing else; its bytes are undefined until written.
 */
public final class NativeMemory {
    /** Also read by {@link Page}. */
    static final sun.misc.Unsafe UNSAFE = unsafe();

    private NativeMemory() {
    }

    private static sun.misc.Unsafe unsafe() {
        try {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (sun.misc.Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** bytes (at least 1) of native memory, not cleared; OutOfMemoryError if there are none. */
    public static long allocate(long bytes) {
        return UNSAFE.allocateMemory(Math.max(1, bytes));
    }

    /** Frees memory from {@link #allocate}. */
    public static void free(long address) {
        UNSAFE.freeMemory(address);
    }

    /**
     * Unmaps a mapped buffer now rather than when the GC finds it; false if it cannot be (a slice
     * or duplicate: the GC will). Nothing may use b or a view of it afterwards.
     */
    static boolean unmap(java.nio.ByteBuffer b) {
        try {
            UNSAFE.invokeCleaner(b);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
