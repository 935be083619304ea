package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongFunction;

/**
 * The shared table of read-only pack channels: positional reads, so concurrent readers need no
 * lock. A channel stays open until {@link #forget} (gc deleted its pack, in this process or, found
 * by Packs#dropDeleted, in another) or close.
 */
final class PackReaders implements AutoCloseable {
    private final LongFunction<java.nio.file.Path> path;
    private final Map<Long, FileChannel> readers = new ConcurrentHashMap<>();

    PackReaders(LongFunction<java.nio.file.Path> path) {
        this.path = path;
    }

    /** The record (header and payload) at loc, read whole; a short pack is a truncated pack. */
    ByteBuffer readRecord(ChunkId id, ChunkLocation loc) throws NoSuchFileException {
        ByteBuffer buf = ByteBuffer.allocate(PackRecord.HEADER + loc.storedLen());
        readRecord(id, loc, buf);
        return buf;
    }

    /**
     * As {@link #readRecord(ChunkId, ChunkLocation)}, into into (for a direct buffer of at least
     * HEADER + storedLen bytes: one pread, no copy through the heap); into is left positioned at
     * 0, limited to the record.
     */
    void readRecord(ChunkId id, ChunkLocation loc, ByteBuffer into) throws NoSuchFileException {
        for (int attempt = 0; ; attempt++) {
            FileChannel ch = channel(loc.pack());
            into.clear().limit(PackRecord.HEADER + loc.storedLen());
            try {
                long pos = loc.offset();
                while (into.hasRemaining()) {
                    int n = ch.read(into, pos);
                    if (n < 0) {
                        throw new StoreException.ChunkCorruptException(id, "pack " + Packs.fileName(loc.pack())
                                + " ends before offset " + (loc.offset() + PackRecord.HEADER + loc.storedLen()) + " (truncated pack)");
                    }
                    pos += n;
                }
                into.flip();
                return;
            } catch (java.nio.channels.ClosedByInterruptException e) {
                // the read's own thread was interrupted, and Java closed the channel for every reader:
                // it leaves the table, so that the next read opens the pack again
                readers.remove(loc.pack(), ch);
                throw new StoreException("interrupted while reading pack " + Packs.fileName(loc.pack()), e);
            } catch (java.nio.channels.ClosedChannelException e) {
                // closed under this read: by a sweep that found the pack deleted (Packs#dropDeleted),
                // a forget, another reader's interrupt, or the store's close. Only this channel
                // leaves the table (not one another reader opened since); a pack that is gone
                // sends the caller to look its chunk up again, one that is there is opened again
                readers.remove(loc.pack(), ch);
                if (attempt >= 2 || java.nio.file.Files.notExists(path.apply(loc.pack()))) {
                    NoSuchFileException gone = new NoSuchFileException(path.apply(loc.pack()).toString(), null, "its channel was closed");
                    gone.initCause(e);
                    throw gone;
                }
            } catch (IOException e) {
                throw new StoreException.ChunkCorruptException(id, "cannot read pack " + Packs.fileName(loc.pack()) + ": " + e.getMessage());
            }
        }
    }

    private FileChannel channel(long packId) throws NoSuchFileException {
        FileChannel ch = readers.get(packId);
        if (ch != null) {
            return ch;
        }
        // opened once per pack, never a second descriptor closed again: closing any descriptor of
        // a pack this process appends to would drop its lock on it (PackWriter#forceOwnDescriptor)
        try {
            return readers.computeIfAbsent(packId, id -> {
                try {
                    return FileChannel.open(path.apply(id), StandardOpenOption.READ);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        } catch (java.io.UncheckedIOException u) {
            if (u.getCause() instanceof NoSuchFileException e) {
                throw e;
            }
            throw new StoreException("cannot open pack " + path.apply(packId) + ": " + u.getCause().getMessage(), u.getCause());
        }
    }

    /** Drops a cached read channel and advice descriptor (after gc deleted the pack). */
    void forget(long packId) {
        FileChannel ch = readers.remove(packId);
        if (ch != null) {
            closeQuietly(ch);
        }
        Integer fd = adviceFds.remove(packId);
        if (fd != null) {
            Libc.LIBC.close(fd);
        }
    }

    /** The packs this process holds a descriptor of (a channel or an advice descriptor). */
    java.util.Set<Long> held() {
        java.util.Set<Long> out = new java.util.HashSet<>(readers.keySet());
        out.addAll(adviceFds.keySet());
        return out;
    }

    /** Read-ahead advice: libc's posix_fadvise, which java.nio lacks (through {@link Libc}, as are the open and close of the descriptor it needs). */
    public interface Advice {
        int POSIX_FADV_WILLNEED = 3;

        /** Asks the kernel to read the whole file into the page cache now, without waiting (best effort). */
        static void willNeed(java.nio.file.Path file) {
            int fd = Libc.LIBC.open(file.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
            if (fd >= 0) {
                Libc.LIBC.posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
                Libc.LIBC.close(fd);
            }
        }
    }

    /** Descriptors for read-ahead advice, one per pack (a FileChannel does not show its own). */
    private final Map<Long, Integer> adviceFds = new ConcurrentHashMap<>();

    /**
     * Asks the kernel to start reading [off, off+len) of a pack into the page cache now
     * (POSIX_FADV_WILLNEED): the disk works ahead of the readers, which then copy from memory.
     * Best effort: a pack that cannot be opened is simply not advised.
     */
    void willNeed(long packId, long off, long len) {
        if (closed) {
            return;
        }
        // one descriptor per pack, opened inside the map's compute: a second one, closed again by
        // the thread that lost a race to put its own, would drop this process's POSIX lock on a
        // pack it appends to (the fallback of OfdLock; see channel)
        Integer fd = adviceFds.computeIfAbsent(packId, id -> {
            int f = Libc.LIBC.open(path.apply(id).toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
            return f < 0 ? null : f;
        });
        if (fd == null) {
            return;
        }
        if (closed) { // close ran meanwhile and may have missed this one
            if (adviceFds.remove(packId, fd)) {
                Libc.LIBC.close(fd);
            }
            return;
        }
        // a forget or close may have closed fd just now, and the number may name another file by
        // then: advice only (read-ahead of some file, or EBADF), which changes no data, offset or lock
        Libc.LIBC.posix_fadvise(fd, off, len, Advice.POSIX_FADV_WILLNEED);
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // read-only channel: nothing to lose
        }
    }

    @Override
    public void close() {
        readers.values().forEach(PackReaders::closeQuietly);
        readers.clear();
        closed = true;
        // each descriptor is closed by the one thread that takes it out of the map: a close of a
        // number already closed (here and in a concurrent forget) could close a file opened since
        // under that number, in this process (LMDB's lock file, whose POSIX locks would go with it)
        for (Long pack : java.util.List.copyOf(adviceFds.keySet())) {
            Integer fd = adviceFds.remove(pack);
            if (fd != null) {
                Libc.LIBC.close(fd);
            }
        }
    }

    /** Set by close: a descriptor opened for advice after it is closed again at once. */
    private volatile boolean closed;
}
