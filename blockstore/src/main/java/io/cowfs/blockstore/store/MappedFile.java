package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The index file (data.mdb) mapped read-only in windows of at most 1 GiB (page sizes divide
 * them, so no page straddles two), for the Java readers of LMDB's format: the open-time walk
 * ({@link LmdbPages}) and the lookups of a running process ({@link SafeReader}).
 *
 * <p>What the file has grown by since the last mapping is mapped as more windows when a read
 * asks for it, so pages already faulted in stay mapped (the index grows with every commit;
 * remapping it whole each time would fault every page in again); past 64 windows the whole file
 * is mapped afresh. Windows are only unmapped by {@link #close}, which an owner that shares the
 * mapping with no other thread calls (a reader of a long-lived process never does: another
 * thread may still be reading a window; the GC unmaps them).
 *
 * <p>Thread-safety: reads run concurrently on the current mapping, an immutable snapshot
 * replaced whole under this object's lock.
 */
final class MappedFile implements AutoCloseable {
    private static final int WINDOW_SHIFT = 30;

    private final Path file;
    private volatile Mapping map = new Mapping(0, new long[0], new ByteBuffer[0]);

    /** Mapped windows: windows[i] covers the file from starts[i]; size = bytes mapped. */
    private record Mapping(long size, long[] starts, ByteBuffer[] windows) {
    }

    /** Maps nothing yet: the first read maps the file as it then is. */
    MappedFile(Path file) {
        this.file = file;
    }

    /** Maps the file as it is now (IOException if it cannot be read). */
    static MappedFile map(Path file) throws IOException {
        MappedFile f = new MappedFile(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            f.grow(ch, Long.MAX_VALUE);
        }
        return f;
    }

    Path file() {
        return file;
    }

    /** Bytes mapped so far. */
    long size() {
        return map.size();
    }

    /**
     * len bytes at off, little-endian (LMDB's order), or null if the file does not reach that
     * far or the range crosses two windows (only a damaged page number asks for that).
     */
    ByteBuffer slice(long off, int len) {
        At a = at(off, len);
        return a == null ? null : a.window().slice(a.at(), len).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** As {@link #slice}, read in place ({@link Page}: what a lookup's descent reads). */
    Page page(long off, int len) {
        At a = at(off, len);
        return a == null ? null : Page.of(a.window(), a.at(), len);
    }

    /** Bytes at of window. */
    private record At(ByteBuffer window, int at) {
    }

    /** Where [off, off + len) lies in one window, mapping what the file has grown by; null if it does not. */
    private At at(long off, int len) {
        Mapping m = map;
        if (off + len > m.size()) {
            m = remap(off + len);
            if (off + len > m.size()) {
                return null;
            }
        }
        int i = window(m, off);
        ByteBuffer w = m.windows()[i];
        int at = (int) (off - m.starts()[i]);
        if (at + len > w.limit()) {
            return null;
        }
        return new At(w, at);
    }

    /** Copies dst.length bytes from off, across windows; false if the file does not reach that far. */
    boolean copy(long off, byte[] dst) {
        Mapping m = map;
        if (off + dst.length > m.size()) {
            m = remap(off + dst.length);
            if (off + dst.length > m.size()) {
                return false;
            }
        }
        int done = 0;
        while (done < dst.length) {
            long at = off + done;
            int i = window(m, at);
            ByteBuffer w = m.windows()[i];
            int in = (int) (at - m.starts()[i]);
            int n = Math.min(dst.length - done, w.limit() - in);
            w.get(in, dst, done, n);
            done += n;
        }
        return true;
    }

    private static int window(Mapping m, long off) {
        int i = Arrays.binarySearch(m.starts(), off);
        return i < 0 ? -i - 2 : i;
    }

    private synchronized Mapping remap(long need) {
        if (need <= map.size()) {
            return map;
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return grow(ch, need);
        } catch (IOException e) {
            throw new StoreException("cannot read the index " + file + ": " + e.getMessage(), e);
        }
    }

    private synchronized Mapping grow(FileChannel ch, long need) throws IOException {
        Mapping m = map;
        long size = ch.size();
        if (size <= m.size()) {
            return m;
        }
        long from = m.starts().length >= 64 ? 0 : m.size();
        List<Long> starts = new ArrayList<>();
        List<ByteBuffer> windows = new ArrayList<>();
        if (from > 0) {
            for (int i = 0; i < m.starts().length; i++) {
                starts.add(m.starts()[i]);
                windows.add(m.windows()[i]);
            }
        }
        for (long start = from; start < size; start += 1L << WINDOW_SHIFT) {
            starts.add(start);
            windows.add(ch.map(FileChannel.MapMode.READ_ONLY, start, Math.min(1L << WINDOW_SHIFT, size - start)));
        }
        m = new Mapping(size, starts.stream().mapToLong(Long::longValue).toArray(), windows.toArray(new ByteBuffer[0]));
        map = m;
        return m;
    }

    /** Unmaps at once (a mapping left to the GC would keep the index's pages in this process's RSS). */
    @Override
    public synchronized void close() {
        for (ByteBuffer w : map.windows()) {
            if (w instanceof MappedByteBuffer) {
                unmap(w);
            }
        }
        map = new Mapping(0, new long[0], new ByteBuffer[0]);
    }

    private static void unmap(ByteBuffer b) {
        NativeMemory.unmap(b); // if it cannot, the GC will
    }
}
