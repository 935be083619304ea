package io.cowfs.blockstore.store;

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
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The packs directory: pack files of chunk records (layout in docs/FORMAT.md, "Pack files";
 * codec in {@link PackRecord}), their names, this process's writer and its lifecycle, and reads.
 *
 * <p>Each process appends to its own pack ({@link PackWriter}), which it holds under an
 * exclusive file lock for as long as it writes it; gc never touches a locked pack. Reads go
 * through a shared table of read-only channels ({@link PackReaders}).
 *
 * <p>Thread-safety: appenders, sync and the flusher thread ({@link #FLUSHER}: finished packs as
 * they roll over, the current one every {@link #FORCE_EVERY_MS}) share this object's lock, which
 * guards the writer, the retired, closing and closed-unforced packs and each PackWriter's state.
 * The flusher's fsyncs run outside it (through the writer's own descriptor while it is open, else
 * by path), so appends never wait for them; sync's run inside. The flusher also closes the packs
 * a commit released ({@link #finish(PackWriter, boolean)}).
 */
public final class Packs implements AutoCloseable {
    private final Path dir;
    private final long rollover;
    private final StoreAccess access;
    private final PackReaders readers;
    private final SecureRandom random = new SecureRandom();
    private PackWriter writer; // guarded by this
    /**
     * Packs this process has finished appending to but keeps locked until every record in them is
     * committed to the index ({@link #releaseRetired}): an unlocked pack with unindexed records is
     * garbage to gc. Guarded by this.
     */
    private final List<PackWriter> retired = new ArrayList<>();
    /**
     * True if runs that continue a stream through a pack are left to the kernel's own read-ahead
     * ({@link #willNeed}): the packs' device reads far enough ahead by itself.
     */
    private final boolean kernelStreams;
    /**
     * Per pack: where the last {@link #STREAMS} streams of runs {@link #willNeed} saw through it
     * have got to (ends, 0: none), and the slot the next new stream takes. Each array is
     * guarded by itself; the map is cleared past 4,096 packs.
     */
    private final Map<Long, long[]> streamEnds = new ConcurrentHashMap<>();
    /** Streams through one pack followed at once (readers of interleaved files, several readers). */
    private static final int STREAMS = 4;
    /**
     * How far past a stream's end a run still continues it (willNeed): as far as the device
     * reads ahead (at least 1 MiB), the part of a pack the kernel reads ahead of that stream.
     */
    private final long streamAhead;
    /** How far before it (a batch taken out of order; the kernel reads ahead up to this far anyway). */
    private static final long STREAM_BEHIND = 8L << 20;
    /** Runs advised (fadvise WILLNEED). */
    private final AtomicLong advised = new AtomicLong();

    /** @param rollover a new pack is started once the current one holds this many bytes */
    public Packs(Path dir, long rollover) {
        this(dir, rollover, StoreAccess.PRIVATE);
    }

    /** @param access the mode new packs get */
    public Packs(Path dir, long rollover, StoreAccess access) {
        this(dir, rollover, access, Long.MAX_VALUE);
    }

    /**
     * @param streamReadAheadKb from this read-ahead of the directory's block device (KiB), runs of
     *                          records that continue a stream through a pack are not advised
     *                          ({@link #willNeed}); 0: never advised
     */
    public Packs(Path dir, long rollover, StoreAccess access, long streamReadAheadKb) {
        this.dir = dir;
        this.rollover = rollover;
        this.access = access;
        this.readers = new PackReaders(this::path);
        long deviceKb = streamReadAheadKb == 0 ? -1 : DeviceReadAhead.kb(dir); // 0: the device is not asked
        this.kernelStreams = streamReadAheadKb == 0 || (deviceKb >= 0 && deviceKb >= streamReadAheadKb);
        this.streamAhead = Math.max(1L << 20, deviceKb << 10);
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
        // compression runs outside the lock: callers on several threads compress in parallel,
        // each into its own record buffer (direct, pooled: no garbage and no bounce copy per block)
        ByteBuffer rec = records.poll();
        if (rec == null || rec.capacity() < PackRecord.recordBound(len)) {
            rec = ByteBuffer.allocateDirect(PackRecord.recordBound(len));
        }
        try {
            int n = PackRecord.encodeInto(id, raw, off, len, rec);
            return appendRecord(rec.limit(n), len);
        } finally {
            if (records.size() < 8) {
                records.offer(rec);
            }
        }
    }

    /** Where a run of records written together starts: the pack and the offset of its first record. */
    record Run(long packId, long offset) {
    }

    /**
     * Appends records encoded back to back between recs' position and limit with one write, all
     * to one pack (which may pass the rollover size by that much); returns where they start.
     */
    synchronized Run appendRun(ByteBuffer recs) {
        PackWriter w = openWriter();
        try {
            return new Run(w.packId, w.appendRecord(recs));
        } catch (StoreException e) {
            writer = null; // as appendRecord: a failed writer is never used again
            retired.add(w);
            throw e;
        }
    }

    /** Direct buffers of {@link Store.Appends}, reused (pooled as {@link #records}). */
    final java.util.concurrent.ConcurrentLinkedQueue<ByteBuffer> runs = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /** Direct record buffers of {@link #append}, reused (pooled, not thread-local: appenders come and go). */
    private final java.util.concurrent.ConcurrentLinkedQueue<ByteBuffer> records = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /** Drops the pooled read and record buffers (an idle process's trim; the GC frees them, new ones are made as needed). */
    void dropBuffers() {
        records.clear();
        runs.clear();
        scratch.clear();
    }

    /** Appends the whole record between rec's position and limit. */
    private synchronized ChunkLocation appendRecord(ByteBuffer rec, int rawLen) {
        PackWriter w = openWriter();
        try {
            int recLen = rec.remaining();
            long at = w.appendRecord(rec);
            return new ChunkLocation(w.packId, at, recLen - PackRecord.HEADER, rawLen, 0);
        } catch (StoreException e) {
            // a failed writer is never appended to again; the next append opens a new pack. It is
            // retired, not closed: the records before the failed one may be uncommitted (gc must
            // not take the pack) and unforced (the next sync forces them)
            writer = null;
            retired.add(w);
            throw e;
        }
    }

    /** The pack appends go to, a new one when there is none or it reached the rollover size. Lock held. */
    private PackWriter openWriter() {
        if (writer == null || writer.size() >= rollover) {
            if (writer != null) {
                writer.dropTail();
                retired.add(writer); // still locked: its records may not be committed yet
                flushSoon(writer);
            }
            long packId = newPackId();
            writer = new PackWriter(packId, path(packId), access);
            if (periodic == null) {
                periodic = FLUSHER.scheduleWithFixedDelay(this::forceCurrent, FORCE_EVERY_MS, FORCE_EVERY_MS,
                        java.util.concurrent.TimeUnit.MILLISECONDS);
            }
        }
        return writer;
    }

    ChunkLocation appendStored(ChunkId id, byte[] stored, int len, int codec) {
        return appendRecord(PackRecord.encode(id, stored, len, codec), len);
    }

    /**
     * Copies a chunk's stored record from another pack into this process's pack without
     * decoding it (gc compaction). The record header is checked against the index first.
     */
    public synchronized ChunkLocation copyRecord(ChunkId id, ChunkLocation loc) throws NoSuchFileException {
        ByteBuffer buf = readers.readRecord(id, loc);
        PackRecord h = PackRecord.decodeHeader(buf);
        if (h == null) {
            throw new StoreException.ChunkCorruptException(id, "bad record header in " + fileName(loc.pack()) + " offset " + loc.offset());
        }
        byte[] stored = new byte[loc.storedLen()];
        buf.get(stored);
        return appendStored(id, stored, loc.rawLen(), h.codec()).withGen(loc.gen());
    }

    /** One record header found by {@link #scan}. */
    public record Record(ChunkId id, long offset, int rawLen, int storedLen) {
    }

    /**
     * Walks a pack's record headers in order until the end, or until a header that is not a
     * record or runs past the end (a torn or damaged tail). Returns the offset where it stopped
     * (the file size if the pack is whole).
     */
    public long scan(long packId, Consumer<Record> out) throws IOException {
        return scan(path(packId), out);
    }

    /** As {@link #scan(long, Consumer)}, of the pack file at path (tests read packs so too). */
    public static long scan(Path pack, Consumer<Record> out) throws IOException {
        try (FileChannel ch = FileChannel.open(pack, StandardOpenOption.READ)) {
            long size = ch.size();
            long pos = PackRecord.FILE_MAGIC.length;
            while (pos + PackRecord.HEADER <= size) {
                PackRecord h = PackRecord.readHeader(ch, pos);
                if (h == null || h.storedLen() < 0 || pos + PackRecord.HEADER + h.storedLen() > size) {
                    break;
                }
                out.accept(new Record(h.id(), pos, h.rawLen(), h.storedLen()));
                pos += PackRecord.HEADER + h.storedLen();
            }
            return pos;
        }
    }

    /**
     * True if the pack's bytes from end (where {@link #scan} stopped) to its end are all zeros:
     * what the zeros a writer prepares for small fsyncs leave after a crash
     * ({@link PackWriter#prepareTail}), a tail with no record in it.
     */
    public static boolean zerosFrom(Path pack, long end) throws IOException {
        try (FileChannel ch = FileChannel.open(pack, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(64 << 10);
            for (long pos = end; ; ) {
                b.clear();
                int n = ch.read(b, pos);
                if (n < 0) {
                    return true;
                }
                if (!Store.isZero(b.array(), 0, n)) {
                    return false;
                }
                pos += n;
            }
        }
    }

    /** Ids of the pack files present. */
    public List<Long> list() {
        List<Long> out = new ArrayList<>();
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

    /**
     * Forces every record this process appended since the last sync to disk: the current pack's,
     * and those of packs it finished since (rolled over, or retired after a failed append: their
     * records are committed to the index like any other, and an fsync that left them out would
     * let a synced index name chunks a machine crash loses). A pack whose fsync failed is not
     * appended to again: it is retired (still locked, as its records may not be committed yet)
     * and the next append starts a new pack. Runs under this lock (appends wait, as they did for
     * the current pack alone): finished packs are few, one per rollover size written.
     */
    public void sync() {
        sync(false);
    }

    /**
     * As {@link #sync()}; with prepare (a view's fsync), the current writer then writes zeros
     * ahead of its next records if its last forces were small ({@link PackWriter#prepareTail}).
     */
    public synchronized void sync(boolean prepare) {
        if (flushFailure != null) {
            StoreException e = flushFailure;
            flushFailure = null; // reported once: what it held cannot be vouched for
            throw e;
        }
        if (writer != null && (writer.unforced() || writer.fsyncFailed())) {
            // nothing appended since its last force (an fsync after a rename, of a directory, of
            // a file already stored): no fsync, which would cost the disk a cache flush all the same
            PackWriter w = writer;
            try {
                w.force();
                if (prepare) {
                    w.prepareTail(); // the next small appends overwrite zeros already on disk
                    if (w.broken()) {
                        retired.add(w); // its channel closed under it: the next append starts a new pack
                        writer = null;
                    }
                }
            } catch (StoreException e) {
                retired.add(w);
                writer = null;
                throw e;
            }
        }
        for (PackWriter w : retired) {
            if (w.unforced()) {
                w.force();
            }
        }
        if (!unforcedClosed.isEmpty()) {
            try {
                StoreAccess.fsyncDirectory(dir); // their names, in case a pack was closed before its first sync
            } catch (IOException e) {
                throw StoreException.io("cannot fsync " + dir, e);
            }
        }
        while (!unforcedClosed.isEmpty()) {
            Path p = unforcedClosed.get(unforcedClosed.size() - 1);
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                ch.force(false); // its pages, written through another descriptor, are the file's
            } catch (NoSuchFileException e) {
                // gc took it: nothing in it was needed (gc syncs what it copies out)
            } catch (IOException e) {
                unforcedClosed.remove(unforcedClosed.size() - 1); // reported once: it cannot be vouched for
                throw StoreException.io("cannot fsync pack " + p.getFileName(), e);
            }
            unforcedClosed.remove(unforcedClosed.size() - 1);
        }
    }

    /**
     * Packs this process closed with records appended since the last sync (the next sync forces
     * them by name, and the directory).
     * Guarded by this.
     */
    private final List<Path> unforcedClosed = new ArrayList<>();

    /**
     * One thread per process that forces each pack as it is finished (a rollover), in the
     * background: otherwise the next sync writes every pack finished since the last one, one
     * after the other (an fsync after writing 1 GiB in a view: 16 packs). Sequential 1 GiB
     * fio write with end_fsync: 3.1 s with every pack forced at the end, see docs/PERFORMANCE.md.
     */
    static final java.util.concurrent.ScheduledExecutorService FLUSHER = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "cowfs-pack-flush");
        t.setDaemon(true);
        return t;
    });

    /** A background force that failed: the next sync throws it. Guarded by this. */
    private StoreException flushFailure;

    /**
     * How often the pack being appended to is forced if it holds unforced records: what a file
     * closed without fsync risks in a machine crash is bounded by this, as ext4 bounds it by its
     * 5 s journal commit (its data=ordered writes the data first). The index (MDB_NOSYNC) reaches
     * the disk through the kernel's write-back, 30 s by default: usually after the chunks it names.
     */
    static final long FORCE_EVERY_MS = 5_000;

    /** The periodic force of the current pack (started by the first pack this process creates); guarded by this. */
    private java.util.concurrent.ScheduledFuture<?> periodic;

    /** Forces the current pack if it holds unforced records (on {@link #FLUSHER}, every {@link #FORCE_EVERY_MS}). */
    private void forceCurrent() {
        PackWriter w;
        long size;
        synchronized (this) {
            w = writer;
            if (w == null || !w.unforced()) {
                return;
            }
            size = w.size();
        }
        forceByName(w, size);
    }

    /** Forces a finished pack soon, on {@link #FLUSHER} (by name: it may be closed meanwhile). Lock held. */
    private void flushSoon(PackWriter w) {
        long size = w.size(); // finished: it grows no more
        FLUSHER.execute(() -> forceByName(w, size));
    }

    /**
     * Forces w's file (through its own descriptor while it is open) and the directory, outside this lock (appends go on), then records
     * that its first size bytes are on disk; a failure is thrown by the next sync. On FLUSHER.
     */
    private void forceByName(PackWriter w, long size) {
        Path p = w.path();
        try {
            // through the writer's own descriptor while it is open: opening the pack by name and
            // closing that descriptor would drop this process's lock on it (PackWriter#forceOwnDescriptor)
            if (!w.forceOwnDescriptor()) {
                try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) { // closed, unlocked meanwhile
                    ch.force(false);
                }
            }
            StoreAccess.fsyncDirectory(dir);
        } catch (NoSuchFileException e) {
            return; // gc took it: nothing in it was needed
        } catch (IOException e) {
            synchronized (this) {
                flushFailure = StoreException.io("cannot fsync pack " + p.getFileName(), e);
            }
            return;
        }
        synchronized (this) {
            if (w == writer || retired.contains(w)) {
                w.forcedUpTo(size);
            } else if (w.size() == size) {
                unforcedClosed.remove(p); // closed meanwhile, nothing appended after the force
            }
        }
    }

    /**
     * Finishes a pack, remembering it for the next sync if it holds unforced records. Lock held.
     * Inline, it is closed here; otherwise on {@link #FLUSHER}, after any fsync of it queued or
     * running there: FileChannel.close waits for every thread in I/O on the channel, and this runs
     * under this lock (and a commit's, {@link Store}'s releaseRetired). Measured: 0.2-0.3 s of a
     * 1 GiB write in a view spent so, every append waiting (docs/PERFORMANCE.md). Until then it is
     * in {@link #closing}, still locked; under the POSIX-lock fallback of {@link OfdLock} a sync
     * that forces it by name drops that lock sooner, which is harmless: every record in it is
     * committed.
     */
    private void finish(PackWriter w, boolean inline) {
        w.dropTail();
        if (w.unforced()) {
            unforcedClosed.add(w.path());
        }
        if (inline) {
            w.close();
            return;
        }
        closing.add(w);
        FLUSHER.execute(() -> { // single thread: after the fsyncs queued before
            try {
                w.close();
            } finally {
                synchronized (this) {
                    closing.remove(w);
                    notifyAll(); // awaitClosed
                }
            }
        });
    }

    /** Finished packs whose close waits on {@link #FLUSHER} ({@link #finish(PackWriter, boolean)}); {@link #close} closes them. Guarded by this. */
    private final List<PackWriter> closing = new ArrayList<>();

    /**
     * Waits up to millis for the packs released but not yet closed by {@link #FLUSHER} (which
     * closes them after the fsyncs queued before them) to be closed, that is unlocked:
     * a mount that gc asked to finish its pack answers once gc can take it (docs/GC.md).
     * Not under PendingChunks' lock.
     */
    public synchronized void awaitClosed(long millis) {
        long until = System.nanoTime() + millis * 1_000_000L;
        try {
            for (long left; !closing.isEmpty() && (left = until - System.nanoTime()) > 0; ) {
                wait(Math.max(1, left / 1_000_000L));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Finished packs (not the current one) with records not forced to disk yet (tests). */
    synchronized int finishedUnforced() {
        return unforcedClosed.size() + (int) retired.stream().filter(PackWriter::unforced).count();
    }

    /** True if some records this process appended are not forced to disk yet (Store.close syncs then). */
    synchronized boolean anyUnforced() {
        return (writer != null && writer.unforced()) || !unforcedClosed.isEmpty()
                || retired.stream().anyMatch(PackWriter::unforced);
    }

    /** Finishes the current pack so that gc may compact it (every record in it must be committed). */
    public synchronized void closeWriter() {
        if (writer != null) {
            finish(writer, true);
            writer = null;
        }
        releaseRetired(true); // every pack closed at return (a store closing)
    }

    /**
     * Finishes the pack being appended to if it holds at least minBytes: gc cannot compact a pack
     * a process still appends to, so a long-lived mount would otherwise keep up to the rollover
     * size of dead records. The next append starts a new pack.
     */
    public synchronized void rollover(long minBytes) {
        if (writer != null && writer.size() >= minBytes) {
            writer.dropTail();
            retired.add(writer); // locked until its records are committed, as at any rollover
            flushSoon(writer);
            writer = null;
        }
    }

    /**
     * Unlocks finished packs, on the background thread ({@link #finish}); the store calls this
     * once nothing it appended is uncommitted.
     */
    public synchronized void releaseRetired() {
        releaseRetired(false);
    }

    private void releaseRetired(boolean inline) {
        for (PackWriter w : retired) {
            finish(w, inline);
        }
        retired.clear();
    }

    /** True if some process (this one included) is appending to the pack. */
    public boolean isLive(long packId) {
        synchronized (this) {
            if (writer != null && writer.packId == packId) {
                return true;
            }
            for (PackWriter w : retired) {
                if (w.packId == packId) {
                    return true; // never probe our own locked packs: closing the probe would drop our lock
                }
            }
            for (PackWriter w : closing) {
                if (w.packId == packId) {
                    return true; // still ours until the background thread closes it
                }
            }
        }
        return lockedByOther(path(packId));
    }

    /** Probes a pack's lock: true if another process holds it (it is appending to the pack). */
    private static boolean lockedByOther(Path pack) {
        try (FileChannel ch = FileChannel.open(pack, StandardOpenOption.WRITE)) {
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

    /** The stored record at loc (header and payload) as read, unchecked: the caller decodes it. */
    ByteBuffer readRecordBuffer(ChunkId id, ChunkLocation loc) throws NoSuchFileException {
        return readers.readRecord(id, loc);
    }

    /** Reads the stored record at loc and returns the verified raw bytes. */
    public byte[] read(ChunkId id, ChunkLocation loc) throws NoSuchFileException {
        return PackRecord.decode(id, readers.readRecord(id, loc), loc, null);
    }

    /** Direct read buffers of HEADER + the largest record a block makes, reused (pooled, not thread-local). */
    private final java.util.concurrent.ConcurrentLinkedQueue<ByteBuffer> scratch = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /**
     * Reads the stored record at loc into a direct buffer and places the verified raw bytes at
     * [0, rawLen) of out (direct); returns rawLen. The read path of file data: no heap copies.
     * frame, if not null, is a direct buffer holding out after {@link PackRecord#HEADER} bytes: a
     * raw record (the index says stored = raw length: incompressible data) is then read with one
     * pread into frame, so its payload lands in out itself and is verified there, without a copy.
     * Without verify the raw bytes are not hashed: the caller must (see PackRecord.decodeInto).
     */
    public int readInto(ChunkId id, ChunkLocation loc, ByteBuffer out, ByteBuffer frame, boolean verify) throws NoSuchFileException {
        if (frame != null && loc.storedLen() == loc.rawLen() && PackRecord.HEADER + loc.storedLen() <= frame.capacity()) {
            readers.readRecord(id, loc, frame);
            return PackRecord.decodeInto(id, frame, loc, out, true, verify);
        }
        int need = PackRecord.HEADER + loc.storedLen();
        ByteBuffer buf = scratch.poll();
        if (buf == null || buf.capacity() < need) {
            buf = ByteBuffer.allocateDirect(Math.max(need, PackRecord.HEADER + out.capacity()));
        }
        try {
            readers.readRecord(id, loc, buf);
            return PackRecord.decodeInto(id, buf, loc, out, false, verify);
        } finally {
            if (scratch.size() < 16) {
                scratch.offer(buf);
            }
        }
    }

    /**
     * Starts reading the records at locs into the page cache: in pack and offset order, records
     * within 256 KiB of each other merged into one advice. Sorted first: the chain links and
     * bases of a run of delta blocks come from several packs, interleaved, and advised in the
     * order given they cost one fadvise each (6 % of a cold read of such a file).
     *
     * <p>A run that starts between 8 MiB before and the device's read-ahead (at least 1 MiB)
     * after where one of the last four streams through the same pack has got to continues that
     * stream (a file read in the order import or a view's writes stored it). On a device whose
     * read-ahead is at least {@code cowfs.streamReadAheadKb} (1 MiB) such runs are not advised:
     * the readers' own sequential preads have the kernel read ahead, in large folios, where
     * fadvise fills the page cache 4 KiB page by 4 KiB page (kernel 6.18, ext4, read_ahead_kb
     * 8192: a fresh mount's cold 1 GiB read 0.92 -> 0.81 s, docs/PERFORMANCE.md). With the
     * common 128 KiB read-ahead the kernel keeps too little in flight by itself (the same read
     * without any advice: 0.97 -> 1.42 s), and every run is advised.
     */
    public void willNeed(List<ChunkLocation> locs) {
        List<ChunkLocation> sorted = new ArrayList<>(locs);
        sorted.sort(java.util.Comparator.comparingLong(ChunkLocation::pack).thenComparingLong(ChunkLocation::offset));
        long pack = -1;
        long from = 0;
        long to = 0;
        for (ChunkLocation l : sorted) {
            long end = l.offset() + PackRecord.HEADER + l.storedLen();
            if (l.pack() == pack && l.offset() >= from && l.offset() <= to + (256 << 10)) {
                to = Math.max(to, end);
                continue;
            }
            if (pack != -1) {
                advise(pack, from, to);
            }
            pack = l.pack();
            from = l.offset();
            to = end;
        }
        if (pack != -1) {
            advise(pack, from, to);
        }
    }

    private void advise(long pack, long from, long to) {
        if (kernelStreams) {
            if (streamEnds.size() > 4096) {
                streamEnds.clear();
            }
            long[] heads = streamEnds.computeIfAbsent(pack, p -> new long[STREAMS + 1]);
            synchronized (heads) {
                // a run continues a stream if it starts a little past one of the pack's stream
                // heads, or a few batches behind it (the read-ahead threads may take a reader's
                // batches out of order); the kernel reads such runs ahead by itself, also
                // streams that interleave in one pack (its context read-ahead)
                for (int i = 0; i < STREAMS; i++) {
                    long end = heads[i];
                    if (end > 0 && from >= end - STREAM_BEHIND && from <= end + streamAhead) {
                        heads[i] = Math.max(end, to);
                        return;
                    }
                }
                int next = (int) heads[STREAMS]; // the slot after the last one taken, round robin
                heads[next] = to;
                heads[STREAMS] = (next + 1) % STREAMS;
            }
        }
        advised.incrementAndGet();
        readers.willNeed(pack, from, to - from);
    }

    /** Runs advised so far (fadvise WILLNEED calls). */
    long advisedRuns() {
        return advised.get();
    }

    /** Drops a cached read channel and what is known of the pack (after gc deleted it). */
    public void forget(long packId) {
        streamEnds.remove(packId);
        readers.forget(packId);
    }

    /** The packs directory's modification time when {@link #dropDeleted} last looked at the packs (volatile: any thread may call it). */
    private volatile java.nio.file.attribute.FileTime sweptAt;

    /**
     * Lets go of packs another process deleted since this one opened them. gc, in its own process,
     * compacts a pack a mount has read and deletes it; the mount's descriptors would keep its
     * blocks on the disk until the mount ends (a mount that lives for days, a CI worker's, kept
     * every pack it had read). Pack ids are random and never reused, and a pack is never replaced
     * under its name, so a name that is gone means the descriptor's file is deleted. A reader in
     * the middle of a read of it gets NoSuchFileException and looks its chunk up again (the index
     * moved the chunk before the pack was deleted). Looks at the packs only if the directory
     * changed since the last call (one stat otherwise). Returns how many were let go.
     */
    public int dropDeleted() {
        java.nio.file.attribute.FileTime now;
        try {
            now = Files.getLastModifiedTime(dir);
        } catch (IOException e) {
            return 0; // the store is going away: its close lets go of everything
        }
        if (now.equals(sweptAt)) {
            return 0;
        }
        if (System.currentTimeMillis() - now.toMillis() > 2000) {
            sweptAt = now; // a deletion within the timestamp's tick of the one seen would go unseen
        }
        java.util.Set<Long> held = readers.held();
        java.util.Set<Long> known = new java.util.HashSet<>(held);
        known.addAll(streamEnds.keySet());
        int n = 0;
        for (long id : known) {
            if (Files.notExists(path(id))) { // not merely unreadable: gone
                forget(id);
                n += held.contains(id) ? 1 : 0;
            }
        }
        return n;
    }

    /** The writer appended to now, for tests (null if none). */
    synchronized PackWriter writer() {
        return writer;
    }

    @Override
    public synchronized void close() {
        if (periodic != null) {
            periodic.cancel(false);
        }
        closeWriter();
        for (PackWriter w : closing) {
            w.close(); // every pack unlocked at return (close is idempotent: FLUSHER may close it too)
        }
        closing.clear();
        readers.close();
    }
}
