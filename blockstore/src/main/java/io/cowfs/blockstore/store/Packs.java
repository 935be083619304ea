package io.cowfs.blockstore.store;

import com.github.luben.zstd.Zstd;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Pack files: append-only files of chunk records (layout in docs/FORMAT.md, "Packs").
 *
 * <p>Each process appends to its own pack, which it holds under an exclusive file lock for as
 * long as it writes it; gc never touches a locked pack. Reads go through a shared table of
 * read-only channels (positional reads, so concurrent readers need no lock).
 */
public final class Packs implements AutoCloseable {
    public static final byte[] FILE_MAGIC = "COWFSPK1".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    public static final int RECORD_MAGIC = 0x43484B31; // "CHK1"
    public static final int HEADER = 4 + ChunkId.LENGTH + 4 + 4 + 1;
    public static final int CODEC_RAW = 0;
    public static final int CODEC_ZSTD = 1;
    static final long ROLLOVER = Long.getLong("cowfs.pack.rollover", 64L << 20);
    static final int ZSTD_LEVEL = 3;

    private final Path dir;
    private final Map<Long, FileChannel> readers = new ConcurrentHashMap<>();
    private final SecureRandom random = new SecureRandom();
    private Writer writer; // guarded by this
    /**
     * Packs this process has finished appending to but keeps locked until every record in them is
     * committed to the index ({@link #releaseRetired}): an unlocked pack with unindexed records is
     * garbage to gc. Guarded by this.
     */
    private final java.util.List<Writer> retired = new java.util.ArrayList<>();

    public Packs(Path dir) {
        this.dir = dir;
    }

    public static String fileName(long packId) {
        return "pack-" + HexFormat.of().toHexDigits(packId) + ".pack";
    }

    public static long idOf(Path file) {
        String n = file.getFileName().toString();
        return HexFormat.fromHexDigitsToLong(n.substring(5, 21));
    }

    public Path path(long packId) {
        return dir.resolve(fileName(packId));
    }

    public Path dir() {
        return dir;
    }

    /** Compresses and appends one chunk; returns its location (gen 0: the commit sets it). */
    public ChunkLocation append(ChunkId id, byte[] raw, int off, int len) {
        // compression runs outside the lock: callers on several threads compress in parallel
        byte[] stored;
        int codec;
        byte[] z = new byte[(int) Zstd.compressBound(len)];
        long zlen = Zstd.compressByteArray(z, 0, z.length, raw, off, len, ZSTD_LEVEL);
        if (Zstd.isError(zlen)) {
            throw new StoreException("zstd failed: " + Zstd.getErrorName(zlen));
        }
        if (zlen < len - len / 64) {
            stored = Arrays.copyOf(z, (int) zlen);
            codec = CODEC_ZSTD;
        } else {
            stored = Arrays.copyOfRange(raw, off, off + len);
            codec = CODEC_RAW;
        }
        return appendStored(id, stored, len, codec);
    }

    private synchronized ChunkLocation appendStored(ChunkId id, byte[] stored, int len, int codec) {
        if (writer == null || writer.size >= ROLLOVER) {
            if (writer != null) {
                retired.add(writer); // still locked: its records may not be committed yet
            }
            writer = new Writer(newPackId());
        }
        Writer w = writer;
        try {
            long at = w.append(id, stored, len, codec);
            return new ChunkLocation(w.packId, at, stored.length, len, 0);
        } catch (StoreException e) {
            writer = null; // a failed writer is never used again; the next append opens a new pack
            w.close();
            throw e;
        }
    }

    /**
     * Copies a chunk's stored record from another pack into this process's pack without
     * decoding it (gc compaction). The record header is checked against the index first.
     */
    public synchronized ChunkLocation copyRecord(ChunkId id, ChunkLocation loc) throws NoSuchFileException {
        ByteBuffer buf = readRecord(id, loc);
        if (buf.getInt(0) != RECORD_MAGIC) {
            throw new StoreException.ChunkCorruptException(id, "bad record header in " + fileName(loc.pack()) + " offset " + loc.offset());
        }
        byte[] stored = new byte[loc.storedLen()];
        buf.position(HEADER);
        buf.get(stored);
        int codec = buf.get(HEADER - 1);
        return appendStored(id, stored, loc.rawLen(), codec).withGen(loc.gen());
    }

    /** One record header found by {@link #scan}. */
    public record Record(ChunkId id, long offset, int rawLen, int storedLen) {
    }

    /**
     * Walks a pack's record headers in order until the end, or until a header that is not a
     * record or runs past the end (a torn or damaged tail). Returns the offset where it stopped
     * (the file size if the pack is whole).
     */
    public long scan(long packId, java.util.function.Consumer<Record> out) throws IOException {
        try (FileChannel ch = FileChannel.open(path(packId), StandardOpenOption.READ)) {
            long size = ch.size();
            long pos = FILE_MAGIC.length;
            ByteBuffer h = ByteBuffer.allocate(HEADER);
            while (pos + HEADER <= size) {
                h.clear();
                while (h.hasRemaining() && ch.read(h, pos + h.position()) > 0) {
                    // a header is read whole or not at all
                }
                h.flip();
                if (h.remaining() < HEADER || h.getInt() != RECORD_MAGIC) {
                    break;
                }
                ChunkId id = ChunkId.read(h);
                int raw = h.getInt();
                int stored = h.getInt();
                if (stored < 0 || pos + HEADER + stored > size) {
                    break;
                }
                out.accept(new Record(id, pos, raw, stored));
                pos += HEADER + stored;
            }
            return pos;
        }
    }

    /** Ids of the pack files present. */
    public java.util.List<Long> list() {
        java.util.List<Long> out = new java.util.ArrayList<>();
        try (var s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String n = p.getFileName().toString();
                if (n.startsWith("pack-") && n.endsWith(".pack") && n.length() == 26) {
                    out.add(idOf(p));
                }
            }
        } catch (IOException e) {
            throw new StoreException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        return out;
    }

    /** Forces appended chunks to disk (fsync of the current pack). */
    public synchronized void sync() {
        if (writer != null) {
            writer.force();
        }
    }

    /** Finishes the current pack so that gc may compact it (every record in it must be committed). */
    public synchronized void closeWriter() {
        if (writer != null) {
            writer.close();
            writer = null;
        }
        releaseRetired();
    }

    /**
     * Finishes the pack being appended to if it holds at least minBytes: gc cannot compact a pack
     * a process still appends to, so a long-lived mount would otherwise keep up to ROLLOVER bytes
     * of dead records. The next append starts a new pack.
     */
    public synchronized void rollover(long minBytes) {
        if (writer != null && writer.size >= minBytes) {
            retired.add(writer); // locked until its records are committed, as at any rollover
            writer = null;
        }
    }

    /** Unlocks finished packs; the store calls this once nothing it appended is uncommitted. */
    public synchronized void releaseRetired() {
        for (Writer w : retired) {
            w.close();
        }
        retired.clear();
    }

    /** True if some process (this one included) is appending to the pack. */
    public boolean isLive(long packId) {
        synchronized (this) {
            if (writer != null && writer.packId == packId) {
                return true;
            }
            for (Writer w : retired) {
                if (w.packId == packId) {
                    return true; // never probe our own locked packs: closing the probe would drop our lock
                }
            }
        }
        try (FileChannel ch = FileChannel.open(path(packId), StandardOpenOption.WRITE)) {
            FileLock l = ch.tryLock();
            if (l == null) {
                return true;
            }
            l.release();
            return false;
        } catch (OverlappingFileLockException e) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private long newPackId() {
        long id;
        do {
            id = random.nextLong() & Long.MAX_VALUE;
        } while (Files.exists(path(id)));
        return id;
    }

    /** Reads the stored record at loc and returns the verified raw bytes. */
    public byte[] read(ChunkId id, ChunkLocation loc) throws NoSuchFileException {
        return decodeRecord(id, readRecord(id, loc), loc, fileName(loc.pack()));
    }

    /** The record (header and payload) at loc, read whole; a short pack is a truncated pack. */
    private ByteBuffer readRecord(ChunkId id, ChunkLocation loc) throws NoSuchFileException {
        FileChannel ch = channel(loc.pack());
        ByteBuffer buf = ByteBuffer.allocate(HEADER + loc.storedLen());
        try {
            long pos = loc.offset();
            while (buf.hasRemaining()) {
                int n = ch.read(buf, pos);
                if (n < 0) {
                    throw new StoreException.ChunkCorruptException(id, "pack " + fileName(loc.pack())
                            + " ends before offset " + (loc.offset() + HEADER + loc.storedLen()) + " (truncated pack)");
                }
                pos += n;
            }
        } catch (IOException e) {
            throw new StoreException.ChunkCorruptException(id, "cannot read pack " + fileName(loc.pack()) + ": " + e.getMessage());
        }
        buf.flip();
        return buf;
    }

    static byte[] decodeRecord(ChunkId id, ByteBuffer buf, ChunkLocation loc, String where) {
        String at = where + " offset " + loc.offset();
        if (buf.getInt() != RECORD_MAGIC) {
            throw new StoreException.ChunkCorruptException(id, "bad record header in " + at);
        }
        ChunkId recorded = ChunkId.read(buf);
        int rawLen = buf.getInt();
        int storedLen = buf.getInt();
        int codec = buf.get();
        if (!recorded.equals(id) || rawLen != loc.rawLen() || storedLen != loc.storedLen()) {
            throw new StoreException.ChunkCorruptException(id, "record header does not match the index in " + at);
        }
        // decoded straight from the read buffer: no intermediate copy of the payload (cold-read path)
        int payload = buf.position();
        byte[] raw;
        if (codec == CODEC_ZSTD) {
            raw = new byte[rawLen];
            long n;
            try {
                n = Zstd.decompressByteArray(raw, 0, rawLen, buf.array(), payload, storedLen);
            } catch (com.github.luben.zstd.ZstdException e) { // zstd-jni reports a damaged frame by throwing
                throw new StoreException.ChunkCorruptException(id, "cannot decompress (" + e.getMessage() + ") in " + at);
            }
            if (Zstd.isError(n)) {
                throw new StoreException.ChunkCorruptException(id, "cannot decompress (" + Zstd.getErrorName(n) + ") in " + at);
            }
            if (n != rawLen) {
                throw new StoreException.ChunkCorruptException(id, "decompressed to " + n + " bytes, expected " + rawLen + " in " + at);
            }
        } else if (codec == CODEC_RAW) {
            raw = java.util.Arrays.copyOfRange(buf.array(), payload, payload + storedLen);
        } else {
            throw new StoreException.ChunkCorruptException(id, "unknown codec " + codec + " in " + at);
        }
        if (!ChunkId.hash(raw).equals(id)) {
            throw new StoreException.ChunkCorruptException(id, "content does not match its hash in " + at);
        }
        return raw;
    }

    private FileChannel channel(long packId) throws NoSuchFileException {
        FileChannel ch = readers.get(packId);
        if (ch != null) {
            return ch;
        }
        try {
            ch = FileChannel.open(path(packId), StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw e;
        } catch (IOException e) {
            throw new StoreException("cannot open pack " + path(packId) + ": " + e.getMessage(), e);
        }
        FileChannel prev = readers.putIfAbsent(packId, ch);
        if (prev != null) {
            closeQuietly(ch);
            return prev;
        }
        return ch;
    }

    /** Drops a cached read channel (after gc deleted or replaced the pack). */
    public void forget(long packId) {
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
    public synchronized void close() {
        closeWriter();
        readers.values().forEach(Packs::closeQuietly);
        readers.clear();
    }

    /** One pack being appended by this process. Broken after any write error. */
    private final class Writer {
        final long packId;
        final FileChannel ch;
        final FileLock lock;
        long size;

        Writer(long packId) {
            this.packId = packId;
            Path p = path(packId);
            Path tmp = p.resolveSibling(p.getFileName() + ".new");
            try {
                // created under another name and locked before it gets its real one, so that gc
                // never sees an unlocked pack that is about to be written
                ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.READ);
                lock = ch.lock();
                ch.write(ByteBuffer.wrap(FILE_MAGIC), 0);
                size = FILE_MAGIC.length;
                Files.move(tmp, p, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // nothing was written
                }
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // nothing was written
                }
                throw failure("cannot create pack " + p, e);
            }
        }

        long append(ChunkId id, byte[] stored, int rawLen, int codec) {
            ByteBuffer rec = ByteBuffer.allocate(HEADER + stored.length);
            rec.putInt(RECORD_MAGIC);
            id.writeTo(rec);
            rec.putInt(rawLen);
            rec.putInt(stored.length);
            rec.put((byte) codec);
            rec.put(stored);
            rec.flip();
            long at = size;
            try {
                long pos = at;
                while (rec.hasRemaining()) {
                    pos += ch.write(rec, pos);
                }
            } catch (IOException e) {
                try {
                    ch.truncate(at); // drop the partial record; a failed writer is not used again anyway
                } catch (IOException ignored) {
                    // the partial record is garbage that gc and fsck know how to skip
                }
                throw failure("cannot append to pack " + fileName(packId), e);
            }
            size = at + HEADER + stored.length;
            return at;
        }

        void force() {
            try {
                ch.force(false);
            } catch (IOException e) {
                throw failure("cannot fsync pack " + fileName(packId), e);
            }
        }

        void close() {
            try {
                lock.release();
                ch.close();
            } catch (IOException ignored) {
                // best effort; the data was already written or the writer is broken
            }
        }
    }

    static StoreException failure(String what, IOException e) {
        if (StoreException.isNoSpace(e)) {
            return new StoreException.StoreFullException(what + ": no space left on the store's filesystem (free space, or rm + gc)", e);
        }
        return new StoreException(what + ": " + e.getMessage(), e);
    }
}
