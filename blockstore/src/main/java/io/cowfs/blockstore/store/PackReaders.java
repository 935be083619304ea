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
 * lock. A channel stays open until {@link #forget} (gc deleted or replaced its pack) or close.
 */
final class PackReaders implements AutoCloseable {
    private final LongFunction<java.nio.file.Path> path;
    private final Map<Long, FileChannel> readers = new ConcurrentHashMap<>();

    PackReaders(LongFunction<java.nio.file.Path> path) {
        this.path = path;
    }

    /** The record (header and payload) at loc, read whole; a short pack is a truncated pack. */
    ByteBuffer readRecord(ChunkId id, ChunkLocation loc) throws NoSuchFileException {
        FileChannel ch = channel(loc.pack());
        ByteBuffer buf = ByteBuffer.allocate(PackRecord.HEADER + loc.storedLen());
        try {
            long pos = loc.offset();
            while (buf.hasRemaining()) {
                int n = ch.read(buf, pos);
                if (n < 0) {
                    throw new StoreException.ChunkCorruptException(id, "pack " + Packs.fileName(loc.pack())
                            + " ends before offset " + (loc.offset() + PackRecord.HEADER + loc.storedLen()) + " (truncated pack)");
                }
                pos += n;
            }
        } catch (IOException e) {
            throw new StoreException.ChunkCorruptException(id, "cannot read pack " + Packs.fileName(loc.pack()) + ": " + e.getMessage());
        }
        buf.flip();
        return buf;
    }

    private FileChannel channel(long packId) throws NoSuchFileException {
        FileChannel ch = readers.get(packId);
        if (ch != null) {
            return ch;
        }
        try {
            ch = FileChannel.open(path.apply(packId), StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw e;
        } catch (IOException e) {
            throw new StoreException("cannot open pack " + path.apply(packId) + ": " + e.getMessage(), e);
        }
        FileChannel prev = readers.putIfAbsent(packId, ch);
        if (prev != null) {
            closeQuietly(ch);
            return prev;
        }
        return ch;
    }

    /** Drops a cached read channel (after gc deleted or replaced the pack). */
    void forget(long packId) {
        FileChannel ch = readers.remove(packId);
        if (ch != null) {
            closeQuietly(ch);
        }
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
    }
}
