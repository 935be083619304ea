package io.cowfs.blockstore.store;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Function;
import org.lmdbjava.PutFlags;
import org.lmdbjava.Txn;

/**
 * One store directory: format record, LMDB index, pack files, decompressed-block cache.
 *
 * <p>Chunks are written in two steps. {@link #put} appends a chunk to this process's pack and
 * remembers it as pending; {@link #commitPending} (always inside the write transaction that also
 * commits whatever refers to the chunks) adds the pending entries to the index and re-stamps the
 * entries of deduplicated chunks with the current generation. A chunk that gc removed between the
 * dedup check and the commit is stored again from the bytes kept for that purpose, so a commit
 * never refers to a missing chunk. Operations that commit chunks before the objects referring to
 * them (import, freeze) hold a {@link Lease} (docs/GC.md).
 */
public final class Store implements AutoCloseable {
    /** 2: index values sealed with a CRC-32C (Table); stores of format 1 are read as they are. */
    public static final int FORMAT = 2;
    public static final String FORMAT_FILE = "cowfs-store.properties";
    public static final int DEFAULT_BLOCK_SIZE = 64 * 1024;

    private final Path dir;
    private final int blockSize;
    private final StoreIndex index;
    private final Packs packs;
    private final Cache<ChunkId, byte[]> cache;
    private final UseLock useLock;
    private final int format;
    /** Chunk locations a salvage re-read from pack headers (the index's own entries were lost). */
    private long recovered;

    /** Counters of what this process appended, for import summaries and benchmarks. */
    public final java.util.concurrent.atomic.AtomicLong appendedChunks = new java.util.concurrent.atomic.AtomicLong();
    public final java.util.concurrent.atomic.AtomicLong appendedStoredBytes = new java.util.concurrent.atomic.AtomicLong();
    public final java.util.concurrent.atomic.AtomicLong appendedRawBytes = new java.util.concurrent.atomic.AtomicLong();

    /** Placeholder in {@code pending} while one thread appends a chunk (others must not append it too). */
    private static final ChunkLocation IN_FLIGHT = new ChunkLocation(-1, -1, 0, 0, 0);

    private final Object pendingLock = new Object();
    private Map<ChunkId, ChunkLocation> pending = new HashMap<>(); // guarded by pendingLock
    private Map<ChunkId, byte[]> hits = new HashMap<>(); // guarded by pendingLock: dedup hits since the last commit

    private Store(Path dir, int blockSize, long cacheBytes, int format, boolean existing) {
        this.dir = dir;
        this.blockSize = blockSize;
        this.format = format;
        this.useLock = UseLock.acquire(dir);
        this.index = new StoreIndex(dir.resolve("index"), format >= 2, existing);
        this.packs = new Packs(dir.resolve("packs"));
        if (index.damage() != null) {
            recovered = recoverLocations();
        }
        this.cache = Caffeine.newBuilder()
                .maximumWeight(cacheBytes)
                .weigher((ChunkId k, byte[] v) -> v.length + 64)
                .build();
    }

    /** Creates a store in dir (which must be missing or empty). */
    public static Store init(Path dir, int blockSize) {
        if (blockSize < 4096 || blockSize > (4 << 20) || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("block size must be a power of two between 4 KiB and 4 MiB, got " + blockSize);
        }
        try {
            if (Files.exists(dir.resolve(FORMAT_FILE))) {
                throw new StoreException.StoreFormatException(dir + " is already a cowfs store");
            }
            if (Files.exists(dir)) {
                if (!Files.isDirectory(dir)) {
                    throw new StoreException.StoreFormatException(dir + " exists and is not a directory");
                }
                try (var s = Files.list(dir)) {
                    if (s.findAny().isPresent()) {
                        throw new StoreException.StoreFormatException(dir + " is not empty; choose an empty or new directory for a store");
                    }
                }
            }
            Files.createDirectories(dir.resolve("packs"));
            Files.createDirectories(dir.resolve("run"));
            Properties p = new Properties();
            p.setProperty("format", Integer.toString(FORMAT));
            p.setProperty("blockSize", Integer.toString(blockSize));
            p.setProperty("created", java.time.Instant.now().toString());
            Path tmp = dir.resolve(FORMAT_FILE + ".tmp");
            try (OutputStream out = Files.newOutputStream(tmp)) {
                p.store(out, "cowfs store: do not edit (docs/FORMAT.md)");
            }
            Store s = new Store(dir, blockSize, 32L << 20, FORMAT, false);
            s.index.write(txn -> {
                s.index.meta.put(txn, bytes("format"), StoreIndex.longKey(FORMAT));
                return null;
            });
            Files.move(tmp, dir.resolve(FORMAT_FILE), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return s;
        } catch (IOException e) {
            throw Packs.failure("cannot create store in " + dir, e);
        }
    }

    public static Store open(Path dir) {
        return open(dir, Long.getLong("cowfs.cacheBytes", 64L << 20));
    }

    public static Store open(Path dir, long cacheBytes) {
        if (!Files.isDirectory(dir)) {
            throw new StoreException.NotFoundException("no store at " + dir + " (create one with: cowfs init --store " + dir + ")");
        }
        Path f = dir.resolve(FORMAT_FILE);
        if (!Files.exists(f)) {
            throw new StoreException.NotFoundException(dir + " is not a cowfs store (no " + FORMAT_FILE + "; create one with: cowfs init --store DIR)");
        }
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(f)) {
            p.load(in);
        } catch (IOException e) {
            throw new StoreException.StoreFormatException("cannot read " + f + ": " + e.getMessage());
        }
        int format;
        int bs;
        try {
            format = Integer.parseInt(p.getProperty("format", "?"));
            bs = Integer.parseInt(p.getProperty("blockSize", "?"));
        } catch (NumberFormatException e) {
            throw new StoreException.StoreFormatException(f + " is damaged (format/blockSize unreadable)");
        }
        if (format > FORMAT) {
            throw new StoreException.StoreFormatException("store " + dir + " has format " + format
                    + ", newer than this cowfs reads (" + FORMAT + "); upgrade cowfs");
        }
        if (format < 1) {
            throw new StoreException.StoreFormatException(f + " names an unknown format " + format);
        }
        try {
            Files.createDirectories(dir.resolve("run"));
            Files.createDirectories(dir.resolve("packs"));
        } catch (IOException e) {
            throw Packs.failure("cannot prepare " + dir, e);
        }
        Store s = new Store(dir, bs, cacheBytes, format, true);
        s.ensureReserve();
        return s;
    }

    public Path dir() {
        return dir;
    }

    public int blockSize() {
        return blockSize;
    }

    public StoreIndex index() {
        return index;
    }

    public Packs packs() {
        return packs;
    }

    static byte[] bytes(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    // ---------------------------------------------------------------- chunks

    /** True if every byte of the range is zero: such a block is a hole, never a chunk. */
    public static boolean isZero(byte[] b, int off, int len) {
        int end = off + len;
        for (int i = off; i < end; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }

    /** Stores raw bytes as a chunk unless the store already has them; returns its id. */
    public ChunkId put(byte[] raw, int off, int len) {
        return put(raw, off, len, true);
    }

    /**
     * As {@link #put(byte[], int, int)}; with retain false a dedup hit keeps only the id, and a
     * commit that finds such a chunk collected meanwhile fails (callers under a lease, like import).
     */
    public ChunkId put(byte[] raw, int off, int len, boolean retain) {
        ChunkId id = ChunkId.hash(raw, off, len);
        synchronized (pendingLock) {
            if (pending.containsKey(id) || hits.containsKey(id)) {
                return id; // stored (or being stored) by this process already
            }
            pending.put(id, IN_FLIGHT); // claims the append: concurrent puts of it return at once
        }
        ChunkLocation loc;
        try {
            boolean known = index.read(txn -> index.chunks.get(txn, id.bytes()) != null);
            if (known) {
                synchronized (pendingLock) {
                    pending.remove(id);
                    hits.put(id, retain ? java.util.Arrays.copyOfRange(raw, off, off + len) : null);
                }
                return id;
            }
            loc = packs.append(id, raw, off, len);
        } catch (RuntimeException e) {
            synchronized (pendingLock) {
                pending.remove(id, IN_FLIGHT);
            }
            throw e;
        }
        appendedChunks.incrementAndGet();
        appendedStoredBytes.addAndGet(loc.storedLen() + Packs.HEADER);
        appendedRawBytes.addAndGet(len);
        synchronized (pendingLock) {
            pending.put(id, loc);
        }
        cache.put(id, java.util.Arrays.copyOfRange(raw, off, off + len));
        return id;
    }

    public ChunkId put(byte[] raw) {
        return put(raw, 0, raw.length);
    }

    /**
     * Adds pending chunks to the index and re-stamps deduplicated ones, inside the caller's write
     * transaction. Returns the generation stamped.
     */
    public long commitPending(Txn<byte[]> txn) {
        Map<ChunkId, ChunkLocation> p;
        Map<ChunkId, byte[]> h;
        synchronized (pendingLock) {
            p = pending;
            h = hits;
            pending = new HashMap<>();
            hits = new HashMap<>();
        }
        try {
            long gen = nextGen(txn);
            for (Map.Entry<ChunkId, ChunkLocation> e : p.entrySet()) {
                if (e.getValue() == IN_FLIGHT) {
                    synchronized (pendingLock) { // another thread is still appending it: its own commit takes it
                        pending.putIfAbsent(e.getKey(), IN_FLIGHT);
                    }
                    continue;
                }
                index.chunks.put(txn, e.getKey().bytes(), e.getValue().withGen(gen).encode(), PutFlags.MDB_NOOVERWRITE);
            }
            for (Map.Entry<ChunkId, byte[]> e : h.entrySet()) {
                byte[] key = e.getKey().bytes();
                byte[] v = index.chunks.get(txn, key);
                ChunkLocation loc;
                if (v == null) {
                    // gc removed it after our dedup check: store it again
                    byte[] raw = e.getValue();
                    if (raw == null) {
                        throw new StoreException("chunk " + e.getKey().shortHex()
                                + " was collected by a concurrent gc during this operation; run it again");
                    }
                    loc = packs.append(e.getKey(), raw, 0, raw.length);
                } else {
                    loc = ChunkLocation.decode(v);
                    if (loc.gen() == gen) {
                        continue;
                    }
                }
                index.chunks.put(txn, key, loc.withGen(gen).encode());
            }
            return gen;
        } catch (RuntimeException e) {
            // keep them pending: a retried transaction (map growth) commits them again
            synchronized (pendingLock) {
                pending.putAll(p);
                hits.putAll(h);
            }
            throw e;
        }
    }

    /** Runs work in one write transaction after committing pending chunks in it. */
    public <T> T commit(Function<Txn<byte[]>, T> work) {
        T result;
        try {
            result = index.write(txn -> {
                commitPending(txn);
                return work.apply(txn);
            });
        } catch (StoreException.StoreFullException e) {
            if (!releaseReserve()) {
                throw e;
            }
            // the index needed pages the full disk could not give: the reserve is for this
            result = index.write(txn -> {
                commitPending(txn);
                return work.apply(txn);
            });
        }
        synchronized (pendingLock) {
            if (pending.isEmpty()) {
                packs.releaseRetired(); // every record this process appended is committed now
            }
        }
        return result;
    }

    // ---------------------------------------------------------------- reserve

    /** Size of run/reserve, the space kept back so that index commits (rm, unlink) work on a full disk. */
    static final int RESERVE_BYTES = 4 << 20;

    private Path reserveFile() {
        return dir.resolve("run").resolve("reserve");
    }

    /** Re-creates the reserve if it is missing and there is room (open and gc call this). */
    public void ensureReserve() {
        Path r = reserveFile();
        if (Files.exists(r)) {
            return;
        }
        Path tmp = r.resolveSibling("reserve.tmp");
        try (var ch = java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.WRITE, java.nio.file.StandardOpenOption.TRUNCATE_EXISTING)) {
            java.nio.ByteBuffer zeros = java.nio.ByteBuffer.allocate(64 << 10);
            for (long pos = 0; pos < RESERVE_BYTES; pos += zeros.capacity()) {
                zeros.clear();
                while (zeros.hasRemaining()) {
                    ch.write(zeros, pos + zeros.position());
                }
            }
            ch.force(false);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // no room for it now; the next open or gc tries again
            }
            return;
        }
        try {
            Files.move(tmp, r, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // another process made it first
        }
    }

    /** Frees the reserve; true if there was one. */
    public boolean releaseReserve() {
        try {
            return Files.deleteIfExists(reserveFile());
        } catch (IOException e) {
            return false;
        }
    }

    private long nextGen(Txn<byte[]> txn) {
        byte[] k = bytes("gen");
        byte[] v = index.meta.get(txn, k);
        long g = v == null ? 1 : StoreIndex.getLong(v, 0) + 1;
        index.meta.put(txn, k, StoreIndex.longKey(g));
        return g;
    }

    public long currentGen(Txn<byte[]> txn) {
        byte[] v = index.meta.get(txn, bytes("gen"));
        return v == null ? 0 : StoreIndex.getLong(v, 0);
    }

    /** A fresh id from the store-wide counter (views, leases). */
    public long nextId(Txn<byte[]> txn) {
        byte[] k = bytes("nextId");
        byte[] v = index.meta.get(txn, k);
        long id = v == null ? 1 : StoreIndex.getLong(v, 0);
        index.meta.put(txn, k, StoreIndex.longKey(id + 1));
        return id;
    }

    public ChunkLocation locate(ChunkId id) {
        return index.read(txn -> {
            byte[] v = index.chunks.get(txn, id.bytes());
            return v == null ? null : ChunkLocation.decode(v);
        });
    }

    /** The verified raw bytes of a chunk; never wrong bytes (ChunkCorruptException instead). */
    public byte[] get(ChunkId id) {
        try {
            return cache.get(id, this::readVerified); // one load per id, concurrent callers wait for it
        } catch (java.util.concurrent.CompletionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
    }

    /** True if the chunk is in the decompressed-block cache. */
    public boolean cached(ChunkId id) {
        return cache.getIfPresent(id) != null;
    }

    /** Reads from disk, bypassing the cache (verify uses this). */
    public byte[] readVerified(ChunkId id) {
        for (int attempt = 0; attempt < 3; attempt++) {
            ChunkLocation loc = locate(id);
            if (loc == null) {
                synchronized (pendingLock) {
                    loc = pending.get(id);
                    if (loc == IN_FLIGHT) {
                        loc = null;
                    }
                    byte[] hit = hits.get(id);
                    if (hit != null) {  // a retained dedup hit whose entry gc removed
                        return hit;
                    }
                }
            }
            if (loc == null) {
                throw new StoreException.ChunkMissingException(id, "not in the index");
            }
            try {
                return packs.read(id, loc);
            } catch (NoSuchFileException e) {
                packs.forget(loc.pack()); // gc compacted it away: look the chunk up again
            }
        }
        throw new StoreException.ChunkMissingException(id, "its pack file is gone");
    }

    /** fsync: packs first, then the index, so a synced index never names unsynced chunks. */
    public void sync() {
        packs.sync();
        index.sync();
    }

    /** Drops the decompressed-block cache (tests and benchmarks of cold reads). */
    public void dropCache() {
        cache.invalidateAll();
    }

    /**
     * Finishes this process's pack if it holds at least minBytes and unlocks it once nothing in
     * it is uncommitted (a mount, asked by gc after persisting: see docs/GC.md).
     */
    public void rollover(long minBytes) {
        synchronized (pendingLock) {
            packs.rollover(minBytes);
            if (pending.isEmpty()) {
                packs.releaseRetired();
            }
        }
    }

    // ---------------------------------------------------------------- damaged index

    /**
     * A salvaged index lacks whatever lay on its damaged pages. Chunk locations are not lost with
     * them: every pack record repeats its chunk's id, so the salvage adds each record the index
     * no longer names (the first copy found; reads check the hash anyway).
     */
    private long recoverLocations() {
        long[] added = {0};
        index.salvageWrite(txn -> {
            for (long p : packs.list()) {
                try {
                    packs.scan(p, r -> {
                        if (index.chunks.get(txn, r.id().bytes()) == null) {
                            index.chunks.put(txn, r.id().bytes(),
                                    new ChunkLocation(p, r.offset(), r.storedLen(), r.rawLen(), 0).encode());
                            added[0]++;
                        }
                    });
                } catch (IOException e) {
                    // an unreadable pack: its chunks stay missing, reads of them give EIO
                }
            }
            return null;
        });
        return added[0];
    }

    /** Chunk locations re-read from pack headers by the salvage of a damaged index (0 if whole). */
    public long recoveredLocations() {
        return recovered;
    }

    /**
     * Replaces a damaged index by the salvaged copy this process reads: needs the store to itself
     * (no mount, import or other command open: BusyException otherwise). The damaged index is
     * kept beside it as index.damaged-TIME; returns that directory.
     */
    public Path rebuildIndex() {
        if (index.damage() == null) {
            throw new IllegalStateException("the index is not damaged");
        }
        useLock.exclusive(dir);
        index.salvageWrite(txn -> {
            index.recordLost(txn);
            mendCounters(txn);
            return null;
        });
        try {
            Path rebuilt = dir.resolve("index.rebuilt");
            deleteTree(rebuilt);
            Files.createDirectories(rebuilt);
            index.copyTo(rebuilt);
            Path kept = dir.resolve("index.damaged-" + java.time.LocalDateTime.now().withNano(0).toString().replace(':', '-'));
            Files.move(dir.resolve("index"), kept);
            Files.move(rebuilt, dir.resolve("index"));
            return kept;
        } catch (IOException e) {
            throw Packs.failure("cannot rebuild the index of " + dir, e);
        }
    }

    /**
     * The counters in meta may have been lost with a damaged page: nextId must stay above every
     * id in use (a reused view id would mix two views' changes), gen at or above every stamp.
     */
    private void mendCounters(Txn<byte[]> txn) {
        long maxId = 0;
        for (var e : new io.cowfs.blockstore.catalog.Catalog(this).list(txn)) {
            maxId = Math.max(maxId, e.viewId());
        }
        for (Table t : List.of(index.vinode, index.vdirent, index.vblock, index.leases)) {
            for (var kv : t.iterate(txn)) {
                maxId = Math.max(maxId, StoreIndex.getLong(kv.key(), 0));
            }
        }
        byte[] next = index.meta.get(txn, bytes("nextId"));
        if (next == null || StoreIndex.getLong(next, 0) <= maxId) {
            index.meta.put(txn, bytes("nextId"), StoreIndex.longKey(maxId + 1));
        }
        long maxGen = 0;
        for (var kv : index.chunks.iterate(txn)) {
            maxGen = Math.max(maxGen, ChunkLocation.decode(kv.val()).gen());
        }
        if (currentGen(txn) < maxGen) {
            index.meta.put(txn, bytes("gen"), StoreIndex.longKey(maxGen));
        }
        if (index.meta.get(txn, bytes("format")) == null) {
            index.meta.put(txn, bytes("format"), StoreIndex.longKey(format));
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (var s = Files.walk(p)) {
            for (Path f : (Iterable<Path>) s.sorted(java.util.Comparator.reverseOrder())::iterator) {
                Files.delete(f);
            }
        }
    }

    // ---------------------------------------------------------------- leases

    /**
     * Registers an operation that commits chunks before the objects that refer to them; gc keeps
     * every chunk stamped at or after the oldest live lease's generation.
     */
    public Lease lease() {
        if (index.damage() != null) {
            return new Lease(-1); // nothing can be collected from a damaged store: no gc runs on it
        }
        long pid = ProcessHandle.current().pid();
        long[] idGen = index.write(txn -> {
            long id = nextId(txn);
            long gen = currentGen(txn);
            index.leases.put(txn, StoreIndex.longKey(id), StoreIndex.longKey(pid, gen));
            return new long[] {id, gen};
        });
        return new Lease(idGen[0]);
    }

    /** A registered lease; close it once the objects are committed. */
    public final class Lease implements AutoCloseable {
        private final long id;

        private Lease(long id) {
            this.id = id;
        }

        @Override
        public void close() {
            if (id < 0) {
                return;
            }
            index.write(txn -> index.leases.delete(txn, StoreIndex.longKey(id)));
        }
    }

    /** Oldest generation pinned by a lease of a live process (Long.MAX_VALUE if none); drops dead ones. */
    public long leaseFloor(Txn<byte[]> txn) {
        long floor = Long.MAX_VALUE;
        List<byte[]> dead = new ArrayList<>();
        for (var kv : index.leases.iterate(txn)) {
            long pid = StoreIndex.getLong(kv.val(), 0);
            long gen = StoreIndex.getLong(kv.val(), 8);
            if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                floor = Math.min(floor, gen);
            } else {
                dead.add(kv.key());
            }
        }
        for (byte[] k : dead) {
            index.leases.delete(txn, k);
        }
        return floor;
    }

    @Override
    public void close() {
        packs.close();
        index.close();
        useLock.close();
    }
}
