package io.cowfs.fusefs.vfs;

import com.kenai.jffi.MemoryIO;
import io.cowfs.blockstore.store.NativeMemory;
import java.util.Arrays;

/**
 * Native memory for the pages of dirty blocks: written data waits here, off the Java heap (no
 * garbage collector work for it, and the mount JVM's small heap does not bound it). Pages are
 * fixed-size slots in slabs of native memory allocated on demand and kept for the next writes;
 * {@link #trim} frees them once no page is in use, when the mount goes idle.
 *
 * <p>Not thread-safe by itself: guarded by the owning {@link ViewFs}'s lock (write lock to
 * allocate, release or write a page; read lock to read one, as readers never race a writer).
 */
final class PageArena {
    private static final MemoryIO IO = MemoryIO.getInstance();
    private static final int SLAB_BYTES = 1 << 20;

    private final int pageSize;
    private final int pagesPerSlab;
    private long[] slabs = new long[0]; // native addresses
    private int[] free = new int[0]; // stack of free slots
    private int freeCount;
    private int used;

    PageArena(int pageSize) {
        this.pageSize = pageSize;
        this.pagesPerSlab = Math.max(1, SLAB_BYTES / pageSize);
    }

    int pageSize() {
        return pageSize;
    }

    /** Pages in use (their bytes are the arena's share of a mount's dirty data). */
    int used() {
        return used;
    }

    /** A free slot; its bytes are undefined until written. */
    int allocate() {
        if (freeCount == 0) {
            grow();
        }
        used++;
        return free[--freeCount];
    }

    private void grow() {
        int s = slabs.length;
        long bytes = (long) pagesPerSlab * pageSize;
        long addr = NativeMemory.allocate(bytes);
        populate(addr, bytes);
        slabs = Arrays.copyOf(slabs, s + 1);
        slabs[s] = addr;
        if (free.length < (s + 1) * pagesPerSlab) {
            free = Arrays.copyOf(free, (s + 1) * pagesPerSlab);
        }
        for (int i = pagesPerSlab - 1; i >= 0; i--) {
            free[freeCount++] = s * pagesPerSlab + i;
        }
    }

    /**
     * Faults the slab's pages in now, with one madvise(MADV_POPULATE_WRITE) (best effort: an
     * older kernel refuses it, and the pages are faulted in as they are written). A slab is
     * written through soon, and a page fault each 4 KiB cost random writes into a new file a
     * twentieth of the mount's CPU on this kind of VM (perf: a fault is an exception and an
     * interrupt-enable trap into the hypervisor).
     */
    private static void populate(long addr, long bytes) {
        long from = (addr + 4095) & ~4095L;
        long to = (addr + bytes) & ~4095L;
        if (to > from) {
            io.cowfs.fusefs.kernel.LibC.get().madvise(from, to - from, io.cowfs.fusefs.kernel.LibC.MADV_POPULATE_WRITE);
        }
    }

    void release(int slot) {
        free[freeCount++] = slot;
        used--;
    }

    /**
     * Frees every slab if no page is in use; returns the bytes freed. Slabs are kept while a
     * mount writes: freeing them when a persist left no dirty page and allocating them again at
     * the next write made the kernel fault in every page of fresh memory once per 32 MiB written
     * (a fifth of a sequential write's CPU time, measured). The idle trimmer calls this
     * ({@link ViewFs#trimMemory}), so an idle mount still holds none.
     */
    long trim() {
        if (used != 0 || slabs.length == 0) {
            return 0;
        }
        long bytes = (long) slabs.length * pagesPerSlab * pageSize;
        for (long a : slabs) {
            NativeMemory.free(a);
        }
        slabs = new long[0];
        free = new int[0];
        freeCount = 0;
        return bytes;
    }

    private long address(int slot, int at) {
        return slabs[slot / pagesPerSlab] + (long) (slot % pagesPerSlab) * pageSize + at;
    }

    void write(int slot, int at, byte[] src, int off, int len) {
        IO.putByteArray(address(slot, at), src, off, len);
    }

    /** Copies src[pos, pos+len) (src's position and limit are not used) into the slot at at. */
    void write(int slot, int at, java.nio.ByteBuffer src, int pos, int len) {
        java.util.Objects.checkFromIndexSize(pos, len, src.capacity());
        if (src.isDirect()) {
            IO.copyMemory(IO.getDirectBufferAddress(src) + pos, address(slot, at), len);
            java.lang.ref.Reference.reachabilityFence(src); // its memory is read by address until here
        } else {
            IO.putByteArray(address(slot, at), src.array(), src.arrayOffset() + pos, len);
        }
    }

    void read(int slot, int at, byte[] dst, int off, int len) {
        IO.getByteArray(address(slot, at), dst, off, len);
    }
}
