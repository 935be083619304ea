package io.cowfs.blockstore.store;

import io.cowfs.blockstore.Config;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.lmdbjava.Txn;

/**
 * One store directory: format record, LMDB index, pack files, decompressed-block cache.
 *
 * <p>Chunks are written in two steps. {@link #put} appends a chunk to this process's pack and
 * remembers it as pending ({@link PendingChunks}); {@link #commit} (in the write transaction
 * that also commits whatever refers to the chunks) adds the pending entries to
 * the index and re-stamps the entries of deduplicated chunks with the current generation.
 * Operations that commit chunks before the objects referring to them (import, freeze) hold a
 * {@link Lease} (docs/GC.md).
 *
 * <p>The other concerns live beside it: {@link StoreFormat} (the format file, init and open
 * checks), {@link SpaceReserve} (space for commits on a full disk), {@link MetaTable} (the
 * generation and id counters), {@link LeasesTable} (leases), {@link IndexRepair} (salvage and
 * rebuild of a damaged index).
 */
public final class Store implements AutoCloseable {
    /**
     * 2: index values sealed with a CRC-32C (Seal); stores of format 1 are read as they are.
     * 3: a view's block override may be a sub-block delta ("P" object, vblock value of 64 bytes);
     * stores of format 2 are read and written as they are (views there store whole blocks only).
     * 4: a snapshot's chunks may be on a remote, named in the rchunks database (a lazy pull);
     * a store becomes format 4 at its first lazy pull ({@link #requireFormat}).
     * 5: a view's sub-block delta may apply over an earlier delta of the block ("Q" object, vblock
     * value naming the whole chain); views of older stores store deltas over whole chunks only.
     * 6: a regular file's block list of 1 to 4 entries may be kept in its inode (type code 8)
     * instead of a page object; imports and freezes of older stores write pages, as before.
     * 7: a view's sub-block deltas have sequenced ids ({@link ChunkId#sequenced}), which an older
     * build's reads would take for damage; views of older stores name deltas by their hash.
     */
    public static final int FORMAT = 7;
    /** The first format whose views' deltas have sequenced ids. */
    public static final int FORMAT_SEQUENCED_DELTAS = 7;
    /** The first format whose inodes may hold their block list (BlockList.INLINE). */
    public static final int FORMAT_INLINE_LISTS = 6;
    /** The first format whose views may chain sub-block deltas. */
    public static final int FORMAT_DELTA_CHAINS = 5;
    /** The first format whose snapshots may have chunks on a remote (rchunks). */
    public static final int FORMAT_REMOTE_CHUNKS = 4;
    /** The first format whose views may store sub-block deltas. */
    public static final int FORMAT_SUB_BLOCKS = 3;
    public static final String FORMAT_FILE = "cowfs-store.properties";
    public static final int DEFAULT_BLOCK_SIZE = 64 * 1024;

    private final Path dir;
    private final int blockSize;
    private final StoreAccess access;
    private final Config config;
    private final StoreIndex index;
    private final Packs packs;
    /** Decoded chunks as byte arrays: tree objects, and blocks that writes and tools ask for whole. */
    private final Lru<ChunkId, byte[]> cache;
    /** Decoded file blocks in direct memory, for reads ({@link #read}); see BlockCache. */
    private final BlockCache blocks;
    private final UseLock useLock;
    /** On a read-only filesystem (see {@link #readOnly()}). */
    private final boolean readOnly;
    private volatile int format;
    /** Where chunks the index lacks come from (a lazily pulled snapshot's remote); null: nowhere. */
    private volatile ChunkSource source;
    private final PendingChunks pending = new PendingChunks();
    private final SpaceReserve reserve;
    /** Chunk locations a salvage re-read from pack headers (the index's own entries were lost). */
    private final long recovered;

    /**
     * The last sequence number given to a sequenced id by this process ({@link #sequencedId}).
     * Starts at the time: ids of later processes sort after earlier ones' (an index insert where
     * the last ones went), and two processes' ids can only be equal for equal content.
     */
    private final AtomicLong deltaSeq = new AtomicLong();

    /** Counters of what this process appended, for import summaries and benchmarks. */
    public final AtomicLong appendedChunks = new AtomicLong();
    public final AtomicLong appendedStoredBytes = new AtomicLong();
    public final AtomicLong appendedRawBytes = new AtomicLong();

    private Store(Path dir, int blockSize, StoreAccess access, Config config, int format, boolean existing, boolean readOnly) {
        this.dir = dir;
        this.blockSize = blockSize;
        this.access = access;
        this.config = config;
        this.format = format;
        this.readOnly = readOnly;
        this.useLock = readOnly ? UseLock.acquireReadOnly(dir) : UseLock.acquire(dir, access);
        StoreIndex opened;
        try {
            opened = new StoreIndex(dir.resolve("index"), format >= 2, existing, config.lmdbInitialMapSize(), access, readOnly);
        } catch (RuntimeException e) {
            useLock.close();
            throw e;
        }
        this.index = opened;
        this.packs = new Packs(dir.resolve("packs"), config.packRollover(), access, config.streamReadAheadKb());
        this.reserve = new SpaceReserve(dir, access);
        this.recovered = index.damage() != null ? new IndexRepair(dir, index, packs).recoverLocations() : 0;
        this.cache = new Lru<>(config.cacheBytes(), v -> v.length + 64);
        this.blocks = new BlockCache(blockSize, config.blockCacheBytes(), PackRecord.HEADER);
    }

    /** Creates a store in dir (which must be missing or empty), tuned by the system properties. */
    public static Store init(Path dir, int blockSize) {
        return init(dir, blockSize, Config.fromSystemProperties());
    }

    /** Creates a store in dir (which must be missing or empty). */
    public static Store init(Path dir, int blockSize, Config config) {
        return init(dir, blockSize, StoreAccess.PRIVATE, config);
    }

    /**
     * Creates a store in dir (which must be missing or empty) that access allows: its owner
     * alone, or one group (docs/SECURITY.md).
     */
    public static Store init(Path dir, int blockSize, StoreAccess access, Config config) {
        try {
            Path prepared = StoreFormat.prepare(dir, blockSize, access);
            Store s = new Store(dir, blockSize, access, config.withCacheBytes(32L << 20), FORMAT, false, false);
            s.index.write(txn -> {
                s.index.meta.putLong(txn, MetaTable.FORMAT, FORMAT);
                return null;
            });
            // the index and its names on disk before the format file that makes dir a store
            s.index.sync();
            StoreAccess.fsyncDirectory(dir.resolve("index"));
            StoreFormat.publish(dir, prepared);
            return s;
        } catch (IOException e) {
            throw StoreException.io("cannot create store in " + dir, e);
        }
    }

    /** Opens the store at dir, tuned by the system properties. */
    public static Store open(Path dir) {
        return open(dir, Config.fromSystemProperties());
    }

    public static Store open(Path dir, Config config) {
        StoreFormat f = StoreFormat.read(dir);
        boolean readOnly = StoreAccess.onReadOnlyFilesystem(dir);
        Store s = new Store(dir, f.blockSize(), f.access(), config, f.format(), true, readOnly);
        if (!readOnly) {
            s.ensureReserve();
        }
        return s;
    }

    /**
     * True if the store is on a read-only filesystem (read-only media, a read-only bind mount of
     * it): this process only reads it; every write is refused with ReadOnlyStoreException
     * (docs/READ-ONLY-STORES.md).
     */
    public boolean readOnly() {
        return readOnly;
    }

    /** ReadOnlyStoreException naming what would write, if the store is read-only. */
    public void requireWritable(String what) {
        if (readOnly) {
            throw new StoreException.ReadOnlyStoreException("the store " + dir + " is on a read-only filesystem, and " + what
                    + " writes to it; a read-only store allows list, show, du, stats, verify, fsck without --repair, export and diff of snapshots, and read-only mounts");
        }
    }

    public Path dir() {
        return dir;
    }

    public int blockSize() {
        return blockSize;
    }

    /**
     * True if {@link Appends#putUnindexed} (a view's sub-block deltas) gives sequenced ids: format
     * 7 on, unless {@code -Dcowfs.sequencedDeltas=false} (kept to measure the change against: hash
     * ids, which every format reads).
     */
    public boolean sequencedDeltas() {
        return format >= FORMAT_SEQUENCED_DELTAS && SEQUENCED_DELTAS;
    }

    private static final boolean SEQUENCED_DELTAS = !"false".equals(System.getProperty("cowfs.sequencedDeltas"));

    /** A new sequenced id for the chunk whose SHA-256 is hash: see {@link #deltaSeq}. */
    ChunkId sequencedId(ChunkId hash) {
        long now = System.currentTimeMillis() << 14; // 16K ids a millisecond before it runs ahead of the clock; 56 bits last until 2109
        long seq = deltaSeq.updateAndGet(last -> Math.max(last + 1, now));
        return ChunkId.sequenced(hash, seq);
    }

    /** The format version of this store (cowfs-store.properties); at most {@link #FORMAT}. */
    public int format() {
        return format;
    }

    /** Who may use this store; every file made in it gets its mode from this. */
    public StoreAccess access() {
        return access;
    }

    /** The access recorded in the store at dir (for a process that makes files there without opening it). */
    public static StoreAccess accessOf(Path dir) {
        return StoreFormat.read(dir).access();
    }

    /** The tuning this store was opened with. */
    public Config config() {
        return config;
    }

    public StoreIndex index() {
        return index;
    }

    public Packs packs() {
        return packs;
    }

    // ---------------------------------------------------------------- chunks

    /** True if every byte of the range is zero: such a block is a hole, never a chunk. */
    public static boolean isZero(byte[] b, int off, int len) {
        // Arrays.mismatch compares 8 bytes or more at a time; a loop over bytes runs one at a time in
        // the C1-compiled CLI and mount (40 us per 64 KiB block, as long as its SHA-256; 1 us this way)
        for (int at = off, end = off + len; at < end; at += ZEROS.length) {
            int n = Math.min(ZEROS.length, end - at);
            if (Arrays.mismatch(b, at, at + n, ZEROS, 0, n) >= 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * Sets b[from, to) to zero: Arrays.fill is a loop over bytes in C1-compiled code (24 us per
     * 60 KiB), System.arraycopy from a zero array is a memcpy (2 us).
     */
    public static void zero(byte[] b, int from, int to) {
        for (int at = from; at < to; at += ZEROS.length) {
            System.arraycopy(ZEROS, 0, b, at, Math.min(ZEROS.length, to - at));
        }
    }

    /** What {@link #isZero} and {@link #zero} compare with and copy from; never written. */
    private static final byte[] ZEROS = new byte[64 << 10];

    /** Stores raw bytes as a chunk unless the store already has them; returns its id. */
    public ChunkId put(byte[] raw, int off, int len) {
        return put(raw, off, len, true);
    }

    /**
     * As {@link #put(byte[], int, int)}; with retain false a dedup hit keeps only the id, and a
     * commit that finds such a chunk collected meanwhile fails (callers under a lease, like import).
     */
    public ChunkId put(byte[] raw, int off, int len, boolean retain) {
        return put(raw, off, len, retain, true);
    }

    /**
     * As {@link #put(byte[], int, int, boolean)}; with cache false the chunk does not enter the
     * heap cache. File data written by a view or an import takes that path: it is rarely read
     * back by this process (the kernel's page cache has it), and a 64 KiB heap copy of every
     * block written outlived the young generation and cost the mount a full GC every few
     * megabytes (measured: 20 CPU-seconds of a 1 GiB sequential write, half of them in the GC).
     */
    public ChunkId put(byte[] raw, int off, int len, boolean retain, boolean cache) {
        ChunkId id = ChunkId.hash(raw, off, len);
        if (!claimNew(id, raw, off, len, retain ? Hit.COPY : Hit.ID_ONLY)) {
            return id;
        }
        ChunkLocation loc;
        try {
            loc = packs.append(id, raw, off, len);
        } catch (RuntimeException e) {
            pending.failed(id);
            throw e;
        }
        appended(id, loc, len);
        if (cache) {
            this.cache.put(id, Arrays.copyOfRange(raw, off, off + len));
        }
        return id;
    }

    /** What a dedup hit keeps until its commit ({@link PendingChunks}). */
    private enum Hit {
        /** a copy of its bytes: a commit that finds it collected stores it again */
        COPY,
        /** its id: a commit that finds it collected fails (callers under a lease, like import) */
        ID_ONLY,
        /** its id: the owner checks it at its own commit ({@link Appends}) */
        OWNER_CHECKS
    }

    /**
     * The dedup check of a put: false if this process has stored (or is storing) id already, or
     * the index has it (a hit, recorded as hit says); true if id is claimed for the caller, who
     * appends it and records it ({@link #appended}) or drops the claim ({@code pending.failed}).
     */
    private boolean claimNew(ChunkId id, byte[] raw, int off, int len, Hit hit) {
        if (!pending.claim(id)) {
            return false;
        }
        try {
            if (index.read(txn -> index.chunks.location(txn, id) == null)) {
                return true;
            }
        } catch (RuntimeException e) {
            pending.failed(id);
            throw e;
        }
        if (hit == Hit.OWNER_CHECKS) {
            pending.checkedHit(id); // no copy of the bytes: the owner checks at its commit
        } else {
            pending.hit(id, raw, off, len, hit == Hit.COPY);
        }
        return false;
    }

    public ChunkId put(byte[] raw) {
        return put(raw, 0, raw.length);
    }

    /** Puts of one thread whose new chunks are written to the pack together ({@link Appends}). */
    public Appends appends() {
        return new Appends();
    }

    /**
     * Puts of one thread (as {@link #put(byte[], int, int, boolean, boolean)} with no heap cache:
     * a view's written blocks) whose new chunks are encoded back to back into one
     * direct buffer and written to the pack with one write per {@link #RUN_BYTES} and at
     * {@link #close}, not one write per chunk: on this kind of VM every system call is a trip
     * through the host, and random 4 KiB writes stored one record of ~4 KiB per page
     * (docs/PERFORMANCE.md). A chunk is claimed at its put and recorded as appended when its run
     * is written: close before any commit that names these chunks (a commit leaves a claimed
     * chunk to the commit of its claimer). A failed write drops the claims of its run and
     * throws; close after a failure only drops claims. Not thread-safe: one thread uses it.
     *
     * <p>A dedup hit keeps no copy of its bytes (put with retain copies every hit into native
     * memory until the commit: restoring 1 GiB the store holds took 2.23 s with those copies,
     * 1.84 s without, and 12.6K page faults instead of 4.0K). The caller must check, inside the transaction of the commit that names
     * its chunks, that each is indexed ({@link #missing}), and put them again if not: gc may
     * have collected a hit between the dedup check and that commit.
     */
    public final class Appends implements AutoCloseable {
        private ByteBuffer run;
        private final List<ChunkId> ids = new ArrayList<>();
        private final List<int[]> lens = new ArrayList<>(); // per chunk: offset in the run, stored length, raw length
        /** putUnindexed's ids so far, by hash (an Appends is one thread's). */
        private final Map<ChunkId, ChunkId> sequenced = new HashMap<>();

        private Appends() {
            run = packs.runs.poll();
            if (run == null) {
                run = ByteBuffer.allocateDirect(RUN_BYTES);
            }
            run.clear();
        }

        /**
         * As Store.put(raw, off, len, true, false), but a dedup hit keeps no copy (see the class);
         * a new chunk is in the pack once its run is written.
         */
        public ChunkId put(byte[] raw, int off, int len) {
            return put(raw, off, len, ChunkId.hash(raw, off, len));
        }

        /**
         * As {@link #put(byte[], int, int)} for bytes whose id the caller has computed (several
         * at once: {@link ChunkId#hashAll}); id must be the hash of raw[off, off+len).
         */
        public ChunkId put(byte[] raw, int off, int len, ChunkId id) {
            return put(raw, off, len, id, true);
        }

        /**
         * As {@link #put(byte[], int, int)}, without looking the chunk up in the index first: for
         * chunks that are rarely anywhere else, a view's sub-block deltas. In a store of format 7
         * the chunk gets a sequenced id ({@link #sequencedDeltas}), new each time but for the same
         * bytes put again through this Appends. Otherwise it is named by its hash (this process's
         * own pending chunks still dedup it), and one that the index does hold is appended again
         * and its commit keeps the indexed copy (restamped, PendingChunks.commit); the appended
         * record is left for gc.
         */
        public ChunkId putUnindexed(byte[] raw, int off, int len) {
            ChunkId hash = ChunkId.hash(raw, off, len);
            if (!sequencedDeltas()) {
                return put(raw, off, len, hash, false);
            }
            ChunkId id = sequenced.get(hash); // the same bytes twice through this Appends: stored once
            if (id == null) {
                id = sequencedId(hash);
                sequenced.put(hash, id);
            }
            return put(raw, off, len, id, false);
        }

        private ChunkId put(byte[] raw, int off, int len, ChunkId id, boolean lookup) {
            if (lookup ? !claimNew(id, raw, off, len, Hit.OWNER_CHECKS) : !pending.claim(id)) {
                return id;
            }
            try {
                if (run.remaining() < PackRecord.recordBound(len)) {
                    write();
                }
                if (run.capacity() < PackRecord.recordBound(len)) { // never for a block of the store's size
                    ChunkLocation loc = packs.append(id, raw, off, len);
                    appended(id, loc, len);
                    return id;
                }
                int at = run.position();
                int n = PackRecord.encodeInto(id, raw, off, len, run.slice(at, run.capacity() - at));
                run.position(at + n);
                ids.add(id);
                lens.add(new int[] {at, n - PackRecord.HEADER, len});
            } catch (RuntimeException e) {
                pending.failed(id);
                throw e;
            }
            return id;
        }

        /** Writes the records put so far, if any. */
        private void write() {
            if (ids.isEmpty()) {
                return;
            }
            Packs.Run at;
            try {
                at = packs.appendRun(run.flip());
            } catch (RuntimeException e) {
                drop();
                throw e;
            }
            for (int i = 0; i < ids.size(); i++) {
                int[] l = lens.get(i);
                appended(ids.get(i), new ChunkLocation(at.packId(), at.offset() + l[0], l[1], l[2], 0), l[2]);
            }
            ids.clear();
            lens.clear();
            run.clear();
        }

        private void drop() {
            ids.forEach(pending::failed);
            ids.clear();
            lens.clear();
            run.clear();
        }

        /** Writes what is left; after a failure, drops it. */
        @Override
        public void close() {
            if (run == null) {
                return;
            }
            try {
                write();
            } finally {
                drop();
                if (packs.runs.size() < 4) {
                    packs.runs.offer(run);
                }
                run = null;
            }
        }
    }

    /**
     * The ids among ids that the index does not hold in txn (a commit's write transaction, after
     * its pending chunks were added): dedup hits of {@link Appends} that gc collected before that
     * commit. Empty in all but that race.
     */
    public List<ChunkId> missing(Txn<byte[]> txn, Iterable<ChunkId> ids) {
        PendingChunks.Taken now = committing;
        List<ChunkId> out = new ArrayList<>();
        for (ChunkId id : ids) {
            if (now != null && now.indexed(id)) {
                continue; // this commit added or stamped it: no lookup
            }
            if (index.chunks.location(txn, id) == null) {
                out.add(id);
            }
        }
        return out;
    }

    /** What the write transaction in progress committed of the pending chunks (one writer at a time: LMDB's write lock). */
    private volatile PendingChunks.Taken committing;

    /**
     * Stamps the indexed chunks among ids with a new generation now, in one write transaction,
     * and returns those the index does not hold. Under a {@link Lease} taken before, a stamped
     * chunk is then kept by gc until the lease ends, whether or not anything names it yet: a freeze
     * names the chunks of a view's delta in a snapshot committed later, and a mount may stop naming
     * them meanwhile (docs/GC.md, "Freezing a mounted view").
     */
    public List<ChunkId> stampNow(java.util.Collection<ChunkId> ids) {
        if (ids.isEmpty() || index.damage() != null) {
            return List.of(); // a damaged store is read-only, and no gc runs on it
        }
        return index.write(txn -> {
            List<ChunkId> gone = new ArrayList<>();
            long gen = index.meta.nextGen(txn);
            for (ChunkId id : ids) {
                ChunkLocation loc = index.chunks.location(txn, id);
                if (loc == null) {
                    gone.add(id);
                } else if (loc.gen() < gen) {
                    index.chunks.put(txn, id, loc.withGen(gen));
                }
            }
            return gone;
        });
    }

    /** Bytes of records an {@link Appends} writes at once. */
    static final int RUN_BYTES = 1 << 20;

    private void appended(ChunkId id, ChunkLocation loc, int rawLen) {
        appendedChunks.incrementAndGet();
        appendedStoredBytes.addAndGet(loc.storedLen() + PackRecord.HEADER);
        appendedRawBytes.addAndGet(rawLen);
        pending.appended(id, loc);
    }

    /**
     * Stores a chunk fetched from a remote, given as a whole pack record (header and payload, as
     * in a pack file and in a remote's pack objects), without compressing it again: the record is
     * decoded and checked against its id first, so nothing unverified enters the store. Returns
     * the verified raw bytes. The chunk is readable at once and enters the index at
     * {@link #commitFetched}, which commits fetched chunks only: a fetch in a mount never commits
     * the chunks its writes have pending (those are committed with the blocks that refer to them).
     */
    public byte[] putFetched(ChunkId id, byte[] rec, int off, int len, String where) {
        PackRecord h = checkedHeader(id, rec, off, len, where);
        byte[] raw = PackRecord.decode(id, ByteBuffer.wrap(rec, off, len), new ChunkLocation(0, 0, h.storedLen(), h.rawLen(), 0), where);
        if (pending.fetchedLocation(id) != null || index.read(txn -> index.chunks.location(txn, id)) != null) {
            return raw; // fetched by another thread, or stored meanwhile
        }
        appendFetched(id, h, rec, off, len, raw.length);
        return raw;
    }

    private static PackRecord checkedHeader(ChunkId id, byte[] rec, int off, int len, String where) {
        PackRecord h = PackRecord.decodeHeader(ByteBuffer.wrap(rec, off, len));
        if (h == null || len != PackRecord.HEADER + h.storedLen()) {
            throw new StoreException.ChunkCorruptException(id, "bad record header in " + where);
        }
        return h;
    }

    private ChunkLocation appendFetched(ChunkId id, PackRecord h, byte[] rec, int off, int len, int rawLen) {
        byte[] stored = Arrays.copyOfRange(rec, off + PackRecord.HEADER, off + len);
        ChunkLocation loc = pending.lockedAppend(() -> packs.appendStored(id, stored, h.rawLen(), h.codec()), id);
        appendedChunks.incrementAndGet();
        appendedStoredBytes.addAndGet(len);
        appendedRawBytes.addAndGet(rawLen);
        return loc;
    }

    /**
     * Replaces damaged or lost chunks with intact copies from elsewhere (fsck --repair --from
     * REMOTE): each record (header and payload) is decoded and checked against its id, those
     * that pass are appended, the packs are synced, and then the index names the new copies, in
     * one transaction that overwrites whatever location each id had. The damaged records stay in
     * their packs, unreferenced, until gc rewrites those packs. Returns the ids whose record
     * failed its check, with why (those are not stored).
     */
    public Map<ChunkId, String> replaceRecords(Map<ChunkId, byte[]> records, String where) {
        Map<ChunkId, ChunkLocation> appended = new java.util.LinkedHashMap<>();
        Map<ChunkId, String> bad = new HashMap<>();
        try {
            for (Map.Entry<ChunkId, byte[]> e : records.entrySet()) {
                ChunkId id = e.getKey();
                byte[] rec = e.getValue();
                try {
                    PackRecord h = checkedHeader(id, rec, 0, rec.length, where);
                    byte[] raw = PackRecord.decode(id, ByteBuffer.wrap(rec), new ChunkLocation(0, 0, h.storedLen(), h.rawLen(), 0), where);
                    appended.put(id, appendFetched(id, h, rec, 0, rec.length, raw.length));
                } catch (StoreException.ChunkCorruptException ex) {
                    bad.put(id, ex.getMessage());
                }
            }
            if (!appended.isEmpty()) {
                packs.sync(); // on disk before the index names them
                index.write(txn -> {
                    long gen = index.meta.nextGen(txn);
                    appended.forEach((id, loc) -> index.chunks.put(txn, id, loc.withGen(gen)));
                    return null;
                });
            }
        } finally {
            pending.committedFetched(appended.keySet()); // committed, or unreferenced records gc reclaims
        }
        pending.ifAllCommitted(packs::releaseRetired);
        return bad;
    }

    /**
     * Adds the fetched chunks among ids ({@link #putFetched}) to the index, then runs also, in one
     * write transaction (a pull adds its catalog entry so; a lazy fetch drops the rchunks entries).
     */
    public void commitFetched(java.util.Collection<ChunkId> ids, java.util.function.Consumer<Txn<byte[]>> also) {
        java.util.Set<ChunkId> done = index.write(txn -> {
            java.util.Set<ChunkId> added = pending.commitFetched(txn, index, ids).keySet();
            also.accept(txn);
            return added;
        });
        pending.committedFetched(done);
        pending.ifAllCommitted(packs::releaseRetired);
    }

    /**
     * A chunk's whole pack record (header and payload) as this store holds it, checked first
     * (decoded and hashed): push sends records to a remote as they are, never re-compressed.
     */
    public byte[] readRecord(ChunkId id) {
        for (int attempt = 0; attempt < 3; attempt++) {
            ChunkLocation loc = locate(id);
            if (loc == null) {
                loc = pending.location(id);
            }
            if (loc == null && attempt == 0 && fromSource(id) != null) {
                continue; // a lazily pulled chunk, fetched and stored now: read it from its pack
            }
            if (loc == null) {
                throw new StoreException.ChunkMissingException(id, "not in the index");
            }
            try {
                ByteBuffer rec = packs.readRecordBuffer(id, loc);
                PackRecord.decode(id, rec.duplicate(), loc, null);
                byte[] out = new byte[PackRecord.HEADER + loc.storedLen()];
                rec.get(rec.position(), out);
                return out;
            } catch (NoSuchFileException e) {
                packs.forget(loc.pack());
            }
        }
        throw new StoreException.ChunkMissingException(id, "its pack file is gone");
    }

    /** Sets where chunks the index lacks come from (LazySource.attach); null for nowhere. */
    public void chunkSource(ChunkSource s) {
        source = s;
    }

    /** The source of chunks the index lacks, or null. */
    public ChunkSource chunkSource() {
        return source;
    }

    /** The verified bytes of id from the chunk source, or null if there is none or it does not know id. */
    private byte[] fromSource(ChunkId id) {
        ChunkSource s = source;
        return s == null ? null : s.fetch(id);
    }

    /**
     * Raises the store's format to this build's ({@link #FORMAT}); returns the format it had. It
     * needs the store to itself (BusyException while a mount, import or other command has it
     * open): a process that opened it at the older format keeps that format's rules, and an
     * older build's gc would not know what the newer format adds (sub-block deltas name their
     * base chunks in the view's block entries). Older cowfs builds refuse the store afterwards.
     */
    public int upgrade() {
        int was = format;
        if (was >= FORMAT) {
            return was;
        }
        if (index.damage() != null) {
            throw new StoreException("the index of " + dir + " is damaged; repair it first (cowfs fsck --repair)");
        }
        useLock.exclusive(dir);
        requireFormat(FORMAT);
        return was;
    }

    /**
     * Raises the store's format to at least f (rewriting its format file and meta), for the first
     * operation that needs a newer format's feature (a lazy pull: format 4). Readers of an older
     * cowfs then refuse the store with a message, instead of misreading it.
     */
    public synchronized void requireFormat(int f) {
        if (format >= f) {
            return;
        }
        try {
            StoreFormat.upgrade(dir, f, access);
        } catch (IOException e) {
            throw StoreException.io("cannot raise the format of " + dir + " to " + f, e);
        }
        index.write(txn -> {
            index.meta.putLong(txn, MetaTable.FORMAT, f);
            return null;
        });
        format = f;
    }

    /**
     * Runs work in one write transaction after committing pending chunks in it (they leave the
     * pending set only once that transaction has committed: a failed one leaves them for the next).
     */
    public <T> T commit(Function<Txn<byte[]>, T> work) {
        List<PendingChunks.Taken> taken = new ArrayList<>(1); // of the run that commits (a run may be repeated)
        Function<Txn<byte[]>, T> tx = txn -> {
            taken.clear();
            taken.add(pending.commit(txn, index, packs));
            committing = taken.get(0);
            try {
                return work.apply(txn);
            } finally {
                committing = null;
            }
        };
        T result;
        try {
            result = index.write(tx);
        } catch (StoreException.StoreFullException e) {
            if (!releaseReserve()) {
                throw e;
            }
            // the index needed pages the full disk could not give: the reserve is for this
            result = index.write(tx);
        }
        pending.committed(taken.get(0));
        pending.ifAllCommitted(packs::releaseRetired); // every record this process appended is committed now
        return result;
    }

    /** Re-creates the space reserve if it is missing and there is room (open and gc call this). */
    public void ensureReserve() {
        reserve.ensure();
    }

    /** Frees the space reserve; true if there was one. */
    public boolean releaseReserve() {
        return reserve.release();
    }

    public long currentGen(Txn<byte[]> txn) {
        return index.meta.currentGen(txn);
    }

    /** A fresh id from the store-wide counter (views, leases). */
    public long nextId(Txn<byte[]> txn) {
        return index.meta.nextId(txn);
    }

    public ChunkLocation locate(ChunkId id) {
        return index.read(txn -> index.chunks.location(txn, id));
    }

    /** The verified raw bytes of a chunk; never wrong bytes (ChunkCorruptException instead). */
    public byte[] get(ChunkId id) {
        byte[] b = blocks.bytes(id);
        if (b != null) {
            return b;
        }
        return cache.get(id, this::readVerified);
    }

    /**
     * As {@link #get}, for bytes wanted once (a persist reading the base or the prior delta of a
     * block it stores): a cached copy if there is one, else read from disk without putting it in
     * the heap cache, where it would outlive its one use and end as old-generation garbage (512 MiB
     * of random 4 KiB rewrites: full GCs were a third of the mount's CPU).
     */
    public byte[] getOnce(ChunkId id) {
        byte[] b = blocks.bytes(id);
        if (b == null) {
            b = cache.getIfPresent(id);
        }
        return b != null ? b : readVerified(id);
    }

    /** True if the chunk is in (or being loaded into) one of the decoded-block caches. */
    public boolean cached(ChunkId id) {
        return blocks.contains(id) || cache.getIfPresent(id) != null;
    }

    /**
     * Copies bytes [from, from+len) of file block id into dst at dstPos (fewer where the chunk
     * ends first) and returns the count: the read path of file data. The chunk is decoded and
     * verified once into the direct-memory block cache and copied from there, with no heap copy.
     */
    public int read(ChunkId id, int from, ByteBuffer dst, int dstPos, int len) {
        int n = blocks.copy(id, this::loadBlock, from, dst, dstPos, len);
        if (n >= 0) {
            return n;
        }
        byte[] b = get(id); // every slot is in use by other readers: take the heap path
        n = Math.max(0, Math.min(len, b.length - from));
        dst.put(dstPos, b, from, n);
        return n;
    }

    /** Whether {@link #readAllInto} reads at all (-Dcowfs.readDirect=false: every block through the block cache; A/B). */
    public static final boolean READ_DIRECT = !"false".equals(System.getProperty("cowfs.readDirect"));

    /**
     * The cold sequential read path: places each of the file blocks ids that no cache holds
     * straight into out (direct) at pos[i], at most max[i] bytes, read from its pack and decoded
     * there, the ones read from disk hashed together (parallel lanes) before this returns; sets
     * lens[i] to the raw length placed, or -1 where it placed nothing (cached, not in the index,
     * too long, a failed read or a mismatch: the caller reads those through {@link #read}, which
     * meets and reports any error). A block read this way skips the block cache: one copy of its
     * bytes fewer (pack -> reply, not pack -> cache slot -> reply), and the kernel keeps the file's
     * pages anyway. A raw record (stored = raw length) needs pos[i] >= {@link PackRecord#HEADER}:
     * it is read with one pread whose header lands in the HEADER bytes before pos[i] (restored
     * after) and whose payload lands in place. Takes no lock of the store's (a read transaction of
     * the index, the concurrent {@code located} map, positional pack reads); out is the caller's
     * alone (a FUSE worker's reply buffer) until this returns.
     */
    public void readAllInto(List<ChunkId> ids, ByteBuffer out, int[] pos, int[] max, int[] lens) {
        Arrays.fill(lens, 0, ids.size(), -1);
        if (!READ_DIRECT || !out.isDirect()) {
            return;
        }
        placeAll(ids, locateUncached(ids), out, pos, max, lens);
    }

    /**
     * The verified bytes of chunks ids that no cache holds, read from their packs into one
     * scratch buffer (direct memory, pooled) and hashed together, as {@link #readAllInto} reads:
     * {@link Reads#got} has one slice per id, its bytes [0, limit), or null where nothing was read
     * (cached, pending, remote, more than maxEach bytes, a failed read or a mismatch: the caller
     * reads those the usual way, which reports any error). The slices are valid until the
     * caller closes the Reads, which gives the buffer back. The read path's way for the sub-block
     * deltas of a read's blocks, applied from there (SubBlock.applyInPlace) with no copy of them on
     * the heap.
     */
    public Reads readAll(List<ChunkId> ids, int maxEach) {
        int n = ids.size();
        Reads r = new Reads(new ByteBuffer[n]);
        if (!READ_DIRECT || n == 0) {
            return r;
        }
        ChunkLocation[] locs = locateUncached(ids);
        int[] pos = new int[n];
        int[] max = new int[n];
        int[] lens = new int[n];
        long need = PackRecord.HEADER;
        for (int i = 0; i < n; i++) {
            pos[i] = (int) need;
            max[i] = maxEach;
            need += locs[i] == null ? 0 : Math.min(maxEach, locs[i].rawLen()) + PackRecord.HEADER; // room for the next record's header
            if (need > READ_BUFFER_MAX) {
                return r;
            }
        }
        ByteBuffer buf = readBuffers.poll();
        if (buf == null || buf.capacity() < need) {
            buf = ByteBuffer.allocateDirect((int) Math.max(need, READ_BUFFER_MIN));
        }
        r.buf = buf;
        placeAll(ids, locs, buf, pos, max, lens);
        for (int i = 0; i < n; i++) {
            if (lens[i] >= 0) {
                r.got[i] = buf.slice(pos[i], lens[i]);
            }
        }
        return r;
    }

    /** What {@link #readAll} read; closing it gives its buffer back to the pool (the slices are then void). */
    public final class Reads implements AutoCloseable {
        /** Per id asked for: its verified bytes, or null. */
        public final ByteBuffer[] got;
        private ByteBuffer buf;

        private Reads(ByteBuffer[] got) {
            this.got = got;
        }

        @Override
        public void close() {
            if (buf != null && readBuffers.size() < READ_BUFFERS) {
                readBuffers.offer(buf);
            }
            buf = null;
        }
    }

    /** Bytes a {@link #readAll} buffer has at least, and at most (a read wanting more is read the usual way). */
    private static final int READ_BUFFER_MIN = 1 << 20;
    private static final int READ_BUFFER_MAX = 16 << 20;
    /** {@link #readAll} buffers kept for reuse at most: one per FUSE worker and some. */
    private static final int READ_BUFFERS = 4;
    /** {@link #readAll}'s buffers not in use (a concurrent queue: no lock); an idle mount drops them ({@link #dropCache}). */
    private final java.util.concurrent.ConcurrentLinkedQueue<ByteBuffer> readBuffers = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /**
     * Where chunks ids lie in the packs, null for those a cache holds (read ahead, or written by
     * this process: the caches serve them) and those not in the index; the locations read ahead
     * ({@code located}) are taken, the rest looked up in one read transaction.
     */
    private ChunkLocation[] locateUncached(List<ChunkId> ids) {
        int n = ids.size();
        ChunkLocation[] locs = new ChunkLocation[n];
        List<Integer> lookup = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ChunkId id = ids.get(i);
            if (blocks.contains(id) || cache.getIfPresent(id) != null) {
                continue;
            }
            locs[i] = located.remove(id);
            if (locs[i] == null) {
                lookup.add(i);
            }
        }
        if (!lookup.isEmpty()) {
            index.read(txn -> {
                for (int i : lookup) {
                    locs[i] = index.chunks.location(txn, ids.get(i));
                }
                return null;
            });
        }
        return locs;
    }

    /**
     * Reads each chunk ids[i] that has a location into out at pos[i] (at most max[i] bytes), then
     * hashes them together; lens[i] is set to the raw length where the bytes are right, left
     * alone (-1) elsewhere. See {@link #readAllInto}.
     */
    private void placeAll(List<ChunkId> ids, ChunkLocation[] locs, ByteBuffer out, int[] pos, int[] max, int[] lens) {
        int n = ids.size();
        Arrays.fill(lens, 0, n, -1);
        ByteBuffer[] check = new ByteBuffer[n];
        int[] which = new int[n];
        int k = 0;
        byte[] saved = new byte[PackRecord.HEADER];
        for (int i = 0; i < n; i++) {
            ChunkLocation loc = locs[i];
            if (loc == null || loc.rawLen() > max[i] || pos[i] + loc.rawLen() > out.limit()) {
                continue; // pending, remote or missing: the block cache's loader knows where to look
            }
            ChunkId id = ids.get(i);
            int p = pos[i];
            ByteBuffer place = out.slice(p, loc.rawLen());
            try {
                if (loc.storedLen() == loc.rawLen()) {
                    if (p < PackRecord.HEADER) {
                        continue;
                    }
                    out.get(p - PackRecord.HEADER, saved);
                    try {
                        packs.readInto(id, loc, place, out.slice(p - PackRecord.HEADER, PackRecord.HEADER + loc.rawLen()), false);
                    } finally {
                        out.put(p - PackRecord.HEADER, saved);
                    }
                } else {
                    packs.readInto(id, loc, place, null, false);
                }
            } catch (NoSuchFileException | RuntimeException e) {
                continue; // gc moved it, or it is damaged: read the usual way, which says what is wrong
            }
            check[k] = place;
            which[k++] = i;
        }
        if (k == 0) {
            return;
        }
        byte[][] digests;
        try {
            digests = Sha256.digestAll(check, k);
        } catch (RuntimeException e) {
            return; // nothing placed counts: each is read (and checked) the usual way
        }
        for (int j = 0; j < k; j++) {
            int i = which[j];
            if (ids.get(i).names(digests[j])) {
                lens[i] = locs[i].rawLen();
            }
        }
    }

    /** Makes a block into a block-cache slot (its bytes from 0); returns its length. See {@link #readDerived}. */
    public interface Maker {
        /** frame: the slot with room before it, for {@link #baseInto}. */
        int make(ByteBuffer slot, ByteBuffer frame);
    }

    /**
     * As {@link #read}, for a block made from stored chunks rather than stored as one (a sub-block
     * delta applied over its base): kept in the block cache under key (never a chunk's id; see
     * SubBlock.blockKey), made by the first reader straight into its slot (no copy of the block
     * on the heap), copied from there by the rest. When every slot is in use, make is given a
     * buffer of its own.
     */
    public int readDerived(ChunkId key, Maker make, int from, ByteBuffer dst, int dstPos, int len) {
        int n = blocks.copy(key, (k, slot, frame) -> make.make(slot, frame), from, dst, dstPos, len);
        if (n >= 0) {
            return n;
        }
        ByteBuffer own = ByteBuffer.allocateDirect(PackRecord.HEADER + blockSize);
        int made = make.make(own.slice(PackRecord.HEADER, blockSize), own);
        n = Math.max(0, Math.min(len, made - from));
        dst.put(dstPos, own, PackRecord.HEADER + from, n);
        return n;
    }

    /** Read-ahead of a block {@link #readDerived} reads: makes it into the block cache now. */
    public void loadDerived(ChunkId key, Maker make) {
        blocks.load(key, (k, slot, frame) -> make.make(slot, frame));
    }

    /**
     * For a {@link Maker}: the verified bytes of whole chunk id put at slot's start (copied from
     * the block cache if it is there: read ahead or batch-loaded with the read, else decoded from
     * its pack into slot itself, frame being the slot with {@link PackRecord#HEADER} bytes of
     * room before it); returns their count.
     */
    public int baseInto(ChunkId id, ByteBuffer slot, ByteBuffer frame) {
        int n = blocks.copyIfCached(id, slot);
        return n >= 0 ? n : loadBlock(id, slot, frame, true);
    }

    /**
     * Read-ahead of file blocks: asks the kernel to start reading their records from the packs
     * now (one advice per run of neighbouring records), without waiting. {@link #load} then
     * decodes them.
     */
    public void willNeed(List<ChunkId> ids) {
        List<ChunkLocation> locs = new ArrayList<>(ids.size());
        List<ChunkId> absent = new ArrayList<>();
        index.read(txn -> {
            for (ChunkId id : ids) {
                ChunkLocation l = index.chunks.location(txn, id);
                if (l == null) {
                    absent.add(id);
                } else {
                    locs.add(l);
                    if (located.size() >= 4096) {
                        located.clear(); // left by loads that never came (read-ahead dropped them)
                    }
                    located.put(id, l);
                }
            }
            return null;
        });
        packs.willNeed(locs);
        ChunkSource s = source;
        if (s != null && !absent.isEmpty()) {
            s.willNeed(absent);
        }
    }

    /**
     * Locations found by {@link #willNeed}, taken (once) by the load or readVerified of the same chunk that
     * follows, which then need not look it up again. A location gc has moved meanwhile fails
     * its read with NoSuchFileException and is looked up afresh.
     */
    private final java.util.concurrent.ConcurrentHashMap<ChunkId, ChunkLocation> located = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * For a process about to serve reads (a mount): starts reading the index into the page cache
     * in the background if it is no bigger than maxBytes. Every cold lookup of a chunk's location
     * lands on a random leaf page of the index (ids are hashes); one sequential read of the whole
     * file is far cheaper than thousands of random ones.
     */
    public void prefetchIndex(long maxBytes) {
        java.nio.file.Path f = index.dataFile().toPath();
        try {
            if (java.nio.file.Files.size(f) > maxBytes) {
                return;
            }
        } catch (IOException e) {
            return;
        }
        Thread t = new Thread(() -> PackReaders.Advice.willNeed(f), "cowfs-index-prefetch");
        t.setDaemon(true);
        t.start();
    }

    /** Decodes file block id into the block cache if it is not there (read-ahead); errors wait for the reader. */
    public void load(ChunkId id) {
        blocks.load(id, this::loadBlock);
    }

    /**
     * Decodes those of file blocks ids that are not in the block cache, as one batch whose
     * hashes are checked together (several in parallel lanes: {@link Sha256#digestAll}); the
     * read path's way for the blocks of one read request and for read-ahead. Errors wait for the
     * reader, as with {@link #load}.
     */
    public void loadAll(List<ChunkId> ids) {
        blocks.loadAll(ids, (id, slot, frame) -> loadBlock(id, slot, frame, false), this::loadBlock);
    }

    /**
     * The block cache's loader: chunk id verified into slot, from the heap cache if it is there,
     * else its pack; frame holds the slot after {@link PackRecord#HEADER} bytes of room.
     */
    private int loadBlock(ChunkId id, ByteBuffer slot, ByteBuffer frame) {
        return loadBlock(id, slot, frame, true);
    }

    /**
     * As {@link #loadBlock(ChunkId, ByteBuffer, ByteBuffer)}; without verify, bytes read from a
     * pack are not hashed, and the length n comes back as -n-1 (BlockCache.DeferredLoader).
     */
    private int loadBlock(ChunkId id, ByteBuffer slot, ByteBuffer frame, boolean verify) {
        byte[] hot = cache.getIfPresent(id); // written by this process, or asked for whole
        if (hot != null && hot.length <= slot.capacity()) {
            slot.put(0, hot);
            return hot.length;
        }
        ChunkLocation ahead = located.remove(id);
        for (int attempt = 0; attempt < 3; attempt++) {
            ChunkLocation loc = attempt == 0 && ahead != null ? ahead : locate(id);
            if (loc == null) {
                loc = pending.location(id);
                byte[] hit = pending.retained(id);
                if (hit != null && hit.length <= slot.capacity()) {
                    slot.put(0, hit);
                    return hit.length;
                }
            }
            if (loc == null) {
                byte[] fetched = fromSource(id);
                if (fetched != null && fetched.length <= slot.capacity()) {
                    slot.put(0, fetched);
                    return fetched.length;
                }
                if (fetched == null && source != null && attempt == 0) {
                    continue; // another thread may have fetched and committed it meanwhile: look again
                }
                throw new StoreException.ChunkMissingException(id, "not in the index");
            }
            try {
                int n = packs.readInto(id, loc, slot, frame, verify);
                return verify ? n : -n - 1;
            } catch (NoSuchFileException e) {
                packs.forget(loc.pack()); // gc compacted it away: look the chunk up again
            } catch (RuntimeException e) {
                if (loc != ahead) {
                    throw e;
                }
                // a location read ahead may predate a repair (fsck --repair wrote an intact copy
                // elsewhere): a mounted snapshot kept answering EIO for a repaired chunk whenever
                // read-ahead had looked it up before; look it up again, and fail if that is the same
            }
        }
        throw new StoreException.ChunkMissingException(id, "its pack file is gone");
    }

    /** Reads from disk, bypassing the cache (verify uses this). */
    public byte[] readVerified(ChunkId id) {
        ChunkLocation ahead = located.remove(id); // looked up by willNeed (a delta's chain read ahead)
        for (int attempt = 0; attempt < 3; attempt++) {
            ChunkLocation loc = attempt == 0 && ahead != null ? ahead : locate(id);
            if (loc == null) {
                loc = pending.location(id);
                byte[] hit = pending.retained(id);
                if (hit != null) { // a retained dedup hit whose entry gc removed
                    return hit;
                }
            }
            if (loc == null) {
                byte[] fetched = fromSource(id);
                if (fetched != null) {
                    return fetched;
                }
                if (source != null && attempt == 0) {
                    continue; // another thread may have fetched and committed it meanwhile: look again
                }
                throw new StoreException.ChunkMissingException(id, "not in the index");
            }
            try {
                return packs.read(id, loc);
            } catch (NoSuchFileException e) {
                packs.forget(loc.pack()); // gc compacted it away: look the chunk up again
            } catch (StoreException.ChunkCorruptException e) {
                if (loc.equals(locate(id))) {
                    throw e;
                }
                // a location looked up before the index moved the chunk (fsck --repair put an
                // intact copy elsewhere, gc rewrote its pack): look it up again
            }
        }
        throw new StoreException.ChunkMissingException(id, "its pack file is gone");
    }

    /** fsync: packs first, then the index, so a synced index never names unsynced chunks. */
    public void sync() {
        packs.sync();
        index.sync();
    }

    /**
     * A view's fsync: as {@link #sync}, and a pack writer whose last forces were small prepares
     * zeros ahead of its next records (docs/DURABILITY.md, "Zeros ahead of small fsyncs").
     */
    public void fsync() {
        packs.sync(true);
        index.sync();
    }

    /** Drops the decompressed-block cache (tests and benchmarks of cold reads). */
    public void dropCache() {
        cache.invalidateAll();
        blocks.clear();
        located.clear();
        PackRecord.closePooledCodecs(); // an idle mount keeps no zstd tables
        packs.dropBuffers(); // nor pooled pack buffers
        readBuffers.clear(); // nor readAll's
        Sha256.dropBuffers(); // nor hashing's managers and staging buffers
    }

    /**
     * Finishes this process's pack if it holds at least minBytes and unlocks it once nothing in
     * it is uncommitted (a mount, asked by gc after persisting: see docs/GC.md).
     */
    public void rollover(long minBytes) {
        pending.locked(() -> {
            packs.rollover(minBytes);
            pending.ifAllCommitted(packs::releaseRetired);
        });
        packs.awaitClosed(5_000); // released packs are unlocked on the background thread, after the fsyncs queued before them (gc waits 10 s for the answer)
    }

    // ---------------------------------------------------------------- damaged index

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
        return new IndexRepair(dir, index, packs).rebuild(format);
    }

    // ---------------------------------------------------------------- leases

    /**
     * Registers an operation that commits chunks before the objects that refer to them; gc keeps
     * every chunk stamped at or after the oldest live lease's generation.
     */
    public Lease lease() {
        if (index.damage() != null || readOnly) {
            return new Lease(-1); // nothing can be collected from a damaged or read-only store: no gc runs on it
        }
        long pid = ProcessHandle.current().pid();
        return index.write(txn -> {
            long id = nextId(txn);
            index.leases.put(txn, id, new LeasesTable.Holder(pid, currentGen(txn)));
            return new Lease(id);
        });
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
            index.write(txn -> index.leases.delete(txn, id));
        }
    }

    /** Oldest generation pinned by a lease of a live process (Long.MAX_VALUE if none); drops dead ones. */
    public long leaseFloor(Txn<byte[]> txn) {
        return index.leases.floor(txn);
    }

    /**
     * Closes the store, after forcing what this process wrote to disk (its packs, then the index)
     * if it wrote anything: a command that returns (import, fork, snapshot, gc, rm) or a mount that
     * is unmounted leaves its work durable. Without this, a view's later fsync synced an index that
     * named the chunks of an import whose packs were still only in the page cache (PowerCutIT).
     */
    @Override
    public void close() {
        ChunkSource s = source;
        if (s != null) {
            s.close(); // its fetches append to the packs closed below
        }
        try {
            if (!readOnly && index.damage() == null && (packs.anyUnforced() || index.written())) {
                sync();
            }
        } finally {
            packs.close();
            pending.discardRetained(); // uncommitted puts are lost with the process anyway; their copies need not be
            index.close();
            useLock.close();
        }
    }
}
