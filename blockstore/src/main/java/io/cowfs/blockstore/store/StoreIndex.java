package io.cowfs.blockstore.store;

import io.cowfs.blockstore.Config;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import org.lmdbjava.Dbi;
import org.lmdbjava.DbiFlags;
import org.lmdbjava.Env;
import org.lmdbjava.EnvFlags;
import org.lmdbjava.LmdbException;
import org.lmdbjava.LmdbNativeException;
import org.lmdbjava.Txn;

/**
 * The store's LMDB environment and its databases ({@link Db}; their key and value layouts are in
 * docs/FORMAT.md, "LMDB databases", and in one table class each).
 *
 * <p>Every transaction lives inside {@link #read} or {@link #write}; none escapes. The map
 * grows on its own: a write that hits MDB_MAP_FULL is aborted, the map doubled, and the
 * write run again; a map grown by another process is adopted when LMDB reports it.
 *
 * <p>The index is checked before liblmdb may read it ({@link IndexCheck}); a damaged one is
 * salvaged into a private copy ({@link Salvage}) that this process reads instead.
 */
public final class StoreIndex implements AutoCloseable {
    static {
        LmdbLibrary.select(); // before lmdbjava's Library loads liblmdb (nothing left in /tmp)
    }

    private final Env<byte[]> env;
    private final Path dir;
    private final StoreAccess access;
    // resizeLock: read-held by every transaction, write-held by a map resize (LMDB requires no
    // live transaction in this process while mdb_env_set_mapsize runs).
    private final ReentrantReadWriteLock resizeLock = new ReentrantReadWriteLock();
    private volatile long mapSize; // guarded by resizeLock (written under the write lock)

    public final MetaTable meta;
    public final ChunksTable chunks;
    public final CatalogTable catalog;
    public final LeasesTable leases;
    public final ViewTable vinode;
    public final ViewTable vdirent;
    public final ViewTable vblock;
    public final RemoteChunksTable rchunks;
    /** Values carry a checksum (format 2 and later; see Table). */
    private final boolean sealed;
    /** On a read-only filesystem: opened MDB_RDONLY, {@link #write} refuses. */
    private final boolean readOnly;

    /** Opening the environment again after a system error: this many times more, after 25, 50, ... ms. */
    private static final int OPEN_RETRIES = 6;
    private static final long OPEN_RETRY_MS = 25;

    /** Null, or one line saying how the index on disk is damaged (then this is a salvaged copy). */
    private final String damage;
    /** The salvaged copy this process reads instead of a damaged index; null if not damaged. */
    private final Salvage salvage;

    /** Point lookups of read transactions, in Java (see SafeReader). */
    private final SafeReader reader;
    /** The open's check; its shortcut (index/checked) is carried across this process's commits. */
    private final IndexCheck check;

    /*
     * The own-commit chain: a walk at open costs O(index) (a 73 MB index: ~0.2-0.3 s), and every
     * commit moves the file's stamp, so each `cowfs fork` made the next command walk the whole
     * index. A process whose commits are the only writes the file saw since it was found clean
     * knows the file is as clean as then plus what liblmdb wrote for it. Every process that can
     * write index/live publishes that there at each such commit (a mount too), and a command
     * (trustOwnCommits) also records index/checked at close, synced, for later boots. A commit
     * carries the knowledge on (commitFollowed) while the state before it was known clean
     * (index/live naming it; this process's chain only where there is no index/live), the file's
     * stamp just before it (taken under liblmdb's writer lock, so no other commit lands between)
     * is that state's, and the index has seen no damage (sawDamage) and no failed sync
     * (syncFailed). docs/INDEX-DAMAGE.md has the rules between processes. Not covered: a write by something other than
     * liblmdb that leaves mtime and size as they were: on a filesystem without fine-grained
     * timestamps (Linux before 6.13's multigrain ones, or 1 s timestamps) one within the same
     * clock tick as a commit's last write. fsck and verify walk always (IndexCheck.walking).
     * chainTxn and chainStamp are guarded by chainLock; chainStamp is null exactly when chainTxn
     * is -1 (no chain).
     */
    private volatile boolean trackChain;
    private final Object chainLock = new Object();
    private long chainTxn = -1;
    private IndexCheck.Stamp chainStamp;
    /**
     * Held by a write from before its transaction begins until what it knows of the file after its
     * commit is recorded (chainTxn, index/live), so that this process's commits and their records
     * follow each other in order: without it a second thread's commit could land between one
     * thread's commit and its stamp, and the chain would end at every concurrent commit of a
     * mount. liblmdb's writer lock serialises the transactions anyway; this adds only the stamp.
     * Taken before resizeLock's read lock, never while holding it.
     */
    private final java.util.concurrent.locks.ReentrantLock commitOrder = new java.util.concurrent.locks.ReentrantLock();
    /**
     * Set for good in every index open in this process when any IndexDamagedException is made in
     * it (which index the damage was in is not known there): none of them publishes or records
     * from then on. An index opened later starts afresh, with its own check at open: a spare
     * mount process, or the CLI agent, goes on serving other stores (until 2026-12-07 the flag
     * was the process's, and a spare that had met damage in one store published for none after).
     */
    private volatile boolean sawDamage;

    static void damageSeen() {
        for (StoreIndex i : OPEN) { // the next open of each walks, whatever this process read where
            i.sawDamage = true;
            i.check.forget();
        }
    }

    /** The indexes this process has open (for damageSeen). */
    private static final java.util.Set<StoreIndex> OPEN = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** Tests only: a JVM that runs many tests has seen damage in some; chain tests start afresh. */
    static void forgetDamageSeen() {
        for (StoreIndex i : OPEN) {
            i.sawDamage = false;
        }
    }

    /** Ends this process's chain (a failed sync: the file may not hold what was committed). */
    void breakChain() {
        syncFailed = true; // before forget: a commit that publishes after it sees it and clears again
        synchronized (chainLock) {
            chainTxn = -1;
            chainStamp = null;
        }
        check.forget(); // index/live and index/checked: the file may not hold what they would name
    }

    /**
     * Set for good by a failed sync: this process's commits may not be on disk (Linux reports a
     * writeback error to one fdatasync only, so a later sync that succeeds proves nothing). From
     * then on it publishes nothing and records nothing at close.
     */
    private volatile boolean syncFailed;

    /** The id of this process's last commit that wrote (-1: none yet); guarded by commitOrder. */
    private long lastOwnCommit = -1;
    /** The id of the commit that last waited for another process's record (each waits once); guarded by commitOrder. */
    private long waitedFor = -1;

    /** The index of a store of the current format (sealed values), with the default map size. */
    public StoreIndex(Path dir) {
        this(dir, true, false, Config.fromSystemProperties().lmdbInitialMapSize());
    }

    /**
     * @param sealed     values carry a checksum (format 2 and later)
     * @param mustExist  the store exists already: a missing index is damage (LMDB would quietly
     *                   make an empty one, and the store would look empty to gc)
     * @param initialMap the map size a new environment starts with (it doubles when full)
     */
    public StoreIndex(Path dir, boolean sealed, boolean mustExist, long initialMap) {
        this(dir, sealed, mustExist, initialMap, StoreAccess.PRIVATE);
    }

    /** @param access the mode of the index directory and of LMDB's files (docs/SECURITY.md) */
    public StoreIndex(Path dir, boolean sealed, boolean mustExist, long initialMap, StoreAccess access) {
        this(dir, sealed, mustExist, initialMap, access, false);
    }

    /**
     * @param readOnly the index is on a read-only filesystem: LMDB opens it MDB_RDONLY (without
     *                 its lock file, which it cannot open for writing there) and {@link #write}
     *                 refuses (docs/READ-ONLY-STORES.md)
     */
    public StoreIndex(Path dir, boolean sealed, boolean mustExist, long initialMap, StoreAccess access, boolean readOnly) {
        this.dir = dir;
        this.sealed = sealed;
        this.access = access;
        this.readOnly = readOnly;
        try {
            if (!readOnly) {
                access.createDirectories(dir);
            }
            long existing = Files.exists(dir.resolve("data.mdb")) ? Files.size(dir.resolve("data.mdb")) : 0;
            long size = initialMap;
            while (size < existing * 2) {
                size *= 2;
            }
            mapSize = size;
        } catch (java.io.IOException e) {
            throw new StoreException("cannot open index " + dir + ": " + e.getMessage(), e);
        }
        Env<byte[]> opened = null;
        // liblmdb trusts the meta pages when it opens the file (a bad page size in meta 0 makes it
        // read past the end of its map): they are checked first, then every tree below them
        check = new IndexCheck(dir, sealed, access, readOnly);
        String found = mustExist && !Files.exists(dataFile().toPath()) ? "the file is missing" : check.metas();
        for (int attempt = 0; found == null; attempt++) {
            try {
                boolean[] existed = {Files.exists(dir.resolve("data.mdb")), Files.exists(dir.resolve("lock.mdb"))};
                if (readOnly) {
                    opened = create().open(dir.toFile(), access.fileMode(), EnvFlags.MDB_NOTLS, EnvFlags.MDB_RDONLY_ENV);
                } else {
                    opened = create().open(dir.toFile(), access.fileMode(), EnvFlags.MDB_NOTLS, EnvFlags.MDB_NOSYNC);
                    fixModes(dir, existed);
                }
                found = check.trees(opened);
                break;
            } catch (LmdbNativeException.ConstantDerivedException e) {
                // a system call failed (an errno, not one of LMDB's codes for a bad page or
                // file), after the meta pages read clean: not damage. One known cause is
                // lock.mdb found empty while another process holds its lock (liblmdb then maps
                // 0 bytes: EINVAL). Tried again, then refused; never salvaged or made read-only,
                // which would send the user to rebuild an index nothing is wrong with.
                if (opened != null) {
                    opened.close();
                    opened = null;
                }
                if (attempt >= OPEN_RETRIES) {
                    throw new StoreException("cannot open the index " + dataFile() + ": LMDB: " + e.getMessage()
                            + " (its pages read clean; tried " + (attempt + 1) + " times over "
                            + ((OPEN_RETRY_MS << OPEN_RETRIES) - OPEN_RETRY_MS) + " ms)", e);
                }
                sleepQuietly(OPEN_RETRY_MS << attempt);
            } catch (LmdbException e) {
                found = "LMDB refuses it: " + e.getMessage();
            } catch (RuntimeException e) { // fixModes, or lmdbjava's "Unknown result code": the environment goes with it
                if (opened != null) {
                    try {
                        opened.close();
                    } catch (RuntimeException c) {
                        e.addSuppressed(c);
                    }
                }
                throw e;
            }
        }
        if (found != null) {
            check.forget(); // fsck, verify, or any open that walked: no record may vouch for this file
            if (opened != null) {
                opened.close();
            }
            damage = "the index " + dataFile() + " is damaged (" + found + ")";
            salvage = Salvage.read(dataFile().toPath(), sealed, damage);
            if (salvage.walk().damage.isEmpty()) {
                salvage.walk().damage.add(found); // a meta page, or LMDB's refusal: the trees below the other meta read fine
            }
            try {
                opened = create().open(salvage.dir().toFile(), 0600, EnvFlags.MDB_NOTLS, EnvFlags.MDB_NOSYNC);
            } catch (RuntimeException e) {
                salvage.delete();
                throw e;
            }
        } else {
            damage = null;
            salvage = null;
            chainTxn = check.trustedTxn;
            chainStamp = check.trustedStamp;
        }
        env = opened;
        SafeReader mapped = null;
        try {
            // reader slots of processes that died (kill -9 of a mount: one parked read transaction per
            // thread, see idleRead) are freed here, by the next process to open the store
            env.readerCheck();
            mapped = new SafeReader((salvage != null ? salvage.dir() : dir).resolve("data.mdb"));
            reader = mapped;
            meta = new MetaTable(open(Db.META));
            chunks = new ChunksTable(open(Db.CHUNKS));
            catalog = new CatalogTable(open(Db.CATALOG));
            leases = new LeasesTable(open(Db.LEASES));
            vinode = new ViewTable(open(Db.VINODE));
            vdirent = new ViewTable(open(Db.VDIRENT));
            vblock = new ViewTable(open(Db.VBLOCK));
            rchunks = new RemoteChunksTable(open(Db.RCHUNKS));
            if (salvage != null) {
                writeUnchecked(txn -> {
                    salvage.fill(txn, this::table);
                    return null;
                });
            }
        } catch (RuntimeException | Error e) {
            // a table a read-only index lacks, a salvage that cannot be filled: nothing of this
            // open outlives it (a long-lived process, a spare, would otherwise keep the map and
            // the reader slot of every failed open)
            SafeReader m = mapped;
            closeAll(e, m == null ? null : m::close, env::close, salvage == null ? null : salvage::delete);
            throw e;
        }
        OPEN.add(this); // only an open that succeeded: a failed one would stay in the set
    }

    /** Runs each of closes (nulls skipped), each whatever the others threw; their failures are added to e. */
    private static void closeAll(Throwable e, Runnable... closes) {
        for (Runnable c : closes) {
            if (c != null) {
                try {
                    c.run();
                } catch (RuntimeException f) {
                    e.addSuppressed(f);
                }
            }
        }
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreException("interrupted while opening the index", e);
        }
    }

    /**
     * LMDB creates data.mdb and lock.mdb with the mode given to open less the umask: a shared
     * store's group bits are set again here on the files this open made (a private store's mode
     * can only have narrowed; an existing file keeps its mode, fsck reports one that is too open).
     */
    private void fixModes(Path in, boolean... existed) {
        try {
            String[] files = {"data.mdb", "lock.mdb"};
            for (int i = 0; i < files.length; i++) {
                String f = files[i];
                if (Files.exists(in.resolve(f)) && !(i < existed.length && existed[i])) {
                    access.fix(in.resolve(f));
                }
            }
        } catch (java.io.IOException e) {
            throw new StoreException("cannot set the mode of the index in " + in + ": " + e.getMessage(), e);
        }
    }

    StoreAccess access() {
        return access;
    }

    private Env.Builder<byte[]> create() {
        return Env.create(PinnedByteArrayProxy.INSTANCE).setMapSize(mapSize).setMaxDbs(16).setMaxReaders(1024);
    }

    /**
     * LMDB orders keys as unsigned bytes (memcmp); lmdbjava 0.9 bounds range iteration with a
     * signed Java comparator unless told otherwise, which made ranges over keys with a byte
     * >= 0x80 stop early or run on. Every database gets the unsigned one (LMDB itself keeps its
     * native comparator: nativeCb false).
     */
    private Table.Handle open(Db db) {
        Dbi<byte[]> dbi;
        if (readOnly && salvage == null) {
            try {
                dbi = env.openDbi(db.dbName(), Arrays::compareUnsigned, false);
            } catch (LmdbException e) { // MDB_NOTFOUND: a table a newer cowfs adds when it opens the store writable
                throw new StoreException.ReadOnlyStoreException("the index " + dataFile() + " has no table "
                        + db.dbName() + " (an older cowfs wrote it last) and is on a read-only filesystem; open it once where it is writable");
            }
        } else {
            dbi = env.openDbi(db.dbName(), Arrays::compareUnsigned, false, DbiFlags.MDB_CREATE);
        }
        return new Table.Handle(dbi, db, sealed, reader);
    }

    /** The table of db. */
    public Table table(Db db) {
        return switch (db) {
            case META -> meta;
            case CHUNKS -> chunks;
            case CATALOG -> catalog;
            case LEASES -> leases;
            case VINODE -> vinode;
            case VDIRENT -> vdirent;
            case VBLOCK -> vblock;
            case RCHUNKS -> rchunks;
        };
    }

    /** Null if the index is whole; otherwise one line naming the damage (this process reads a salvaged copy). */
    public String damage() {
        return damage;
    }

    /** The salvage this process reads, or null if the index is whole. */
    public Salvage salvaged() {
        return salvage;
    }

    /**
     * Key ranges of db whose entries are known lost: those this salvage could not read, plus
     * those an earlier repair recorded under meta "lost/DB" (a rebuilt index keeps saying which
     * of a view's inodes lost changes, so they read as EIO instead of as the base snapshot).
     */
    public List<byte[][]> lost(Txn<byte[]> txn, Db db) {
        List<byte[][]> out = new ArrayList<>(meta.lost(txn, db));
        if (salvage != null) {
            out.addAll(salvage.lost(db.dbName()));
        }
        return out;
    }

    /** Records this salvage's lost ranges in the salvaged copy itself (before it becomes the index). */
    void recordLost(Txn<byte[]> txn) {
        for (Db db : Db.OF_VIEWS) {
            List<byte[][]> all = lost(txn, db);
            if (!all.isEmpty()) {
                meta.putLost(txn, db, all);
            }
        }
    }

    /** Writes a compact copy of this (salvaged) index into an empty directory: the rebuilt index. */
    public void copyTo(Path emptyDir) {
        env.copy(emptyDir.toFile(), org.lmdbjava.CopyFlags.MDB_CP_COMPACT);
        fixModes(emptyDir); // mdb_env_copy makes its file 0666 less the umask
    }

    /**
     * The write transaction this thread is running, if any: a read inside it (gc's sweep reads
     * objects while it holds the write transaction) uses it instead of beginning a nested read
     * transaction, which could meet MDB_MAP_RESIZED and try to resize the map under a live
     * write transaction (EINVAL) or wait forever on resizeLock.
     */
    private final ThreadLocal<Txn<byte[]>> writing = new ThreadLocal<>();

    public <T> T read(Function<Txn<byte[]>, T> work) {
        Txn<byte[]> outer = writing.get();
        if (outer != null) {
            return work.apply(outer);
        }
        for (int attempt = 0; ; attempt++) {
            lockOpen();
            Txn<byte[]> txn = idleRead.get();
            try {
                if (txn != null) {
                    idleRead.set(null); // in use: a nested read on this thread begins its own
                    txn.renew();
                } else {
                    txn = env.txnRead();
                }
                return work.apply(txn);
            } catch (LmdbException e) {
                if (!isResized(e) || attempt > 3) {
                    throw e;
                }
            } finally {
                park(txn);
                resizeLock.readLock().unlock();
            }
            adoptResize();
        }
    }

    /**
     * A reset read transaction per thread, renewed by its next read: beginning a transaction
     * costs lmdbjava an object, a flag mask built with streams and two native calls, and a mount
     * begins one per chunk it looks up (a cold cat of 100K small files: 8 % of its CPU). A reset
     * transaction holds its reader slot (MDB_NOTLS: the slot belongs to the transaction) but no
     * snapshot, so it keeps no page from reuse and does not stand in the way of a map resize.
     */
    private final ThreadLocal<Txn<byte[]>> idleRead = new ThreadLocal<>();
    /** Every parked transaction, for {@link #close}; at most {@link #PARKED} (threads that come and go). */
    private final java.util.Set<Txn<byte[]>> parked = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private static final int PARKED = 64;

    /** After a read: txn is reset and kept for this thread's next read, or closed. Resize lock read-held. */
    private void park(Txn<byte[]> txn) {
        if (txn == null) {
            return;
        }
        boolean keep = idleRead.get() == null && (parked.contains(txn) || parked.size() < PARKED);
        try {
            if (keep) {
                txn.reset();
                parked.add(txn);
                idleRead.set(txn);
                return;
            }
        } catch (RuntimeException e) {
            // not resettable (a failed renew leaves it done): closed below
        }
        parked.remove(txn);
        txn.close();
    }

    /**
     * Runs work in a write transaction and commits it; any exception aborts it. A damaged index
     * takes no writes (this process reads a salvaged copy): IndexDamagedException.
     */
    public <T> T write(Function<Txn<byte[]>, T> work) {
        if (readOnly) {
            throw new StoreException.ReadOnlyStoreException("the store's index " + dataFile() + " is on a read-only filesystem; "
                    + "nothing can be written to it");
        }
        if (damage != null) {
            throw new StoreException.IndexDamagedException(damage + "; the store is read-only until 'cowfs fsck --repair' rebuilds it");
        }
        return writeUnchecked(work);
    }

    /** Salvage-time writes into the private copy (and every write of a whole index). */
    public <T> T salvageWrite(Function<Txn<byte[]>, T> work) {
        if (salvage == null) {
            throw new IllegalStateException("not a salvaged index");
        }
        return writeUnchecked(work);
    }

    private <T> T writeUnchecked(Function<Txn<byte[]>, T> work) {
        LiveRecord live = check.live();
        boolean follow = salvage == null; // a salvaged copy is private: nothing of its commits concerns the file's records
        for (int attempt = 0; ; attempt++) {
            boolean full = false;
            if (follow) {
                commitOrder.lock();
            }
            try {
                lockOpen();
                try (Txn<byte[]> txn = env.txnWrite()) {
                    writing.set(txn);
                    T result = work.apply(txn);
                    if (!follow) {
                        txn.commit();
                        commits.incrementAndGet();
                        return result;
                    }
                    commitFollowed(txn, live);
                    return result;
                } catch (Env.MapFullException e) {
                    full = true;
                } catch (LmdbException e) {
                    if (StoreException.isNoSpace(e) || shortWriteOnAFullDisk(e)) {
                        throw new StoreException.StoreFullException("cannot commit to the index " + dir
                                + ": no space left on the store's filesystem (free space, or rm + gc)", e);
                    }
                    if (!isResized(e) || attempt > 3) {
                        throw e;
                    }
                } finally {
                    writing.remove();
                    resizeLock.readLock().unlock();
                }
            } finally {
                if (follow) {
                    commitOrder.unlock();
                }
            }
            if (full) {
                grow();
            } else {
                adoptResize();
            }
        }
    }

    /**
     * How long a commit waits, holding liblmdb's writer lock, for another process to record the
     * commit just before it: a fresh CLI JVM takes a few ms between its commit and its record.
     */
    private static final long PUBLISH_WAIT_NANOS = 10_000_000;

    /**
     * Commits txn and records what is known of the file after it (under commitOrder). The file is
     * known clean after this commit if index/live names the state the last commit left (this
     * process's chain where there is no index/live), and nothing wrote it since (its stamp, taken
     * inside the transaction, under liblmdb's writer lock, is that state's stamp). Then the chain
     * moves to this commit, its stamp the one taken just after it, and index/live names it in
     * place of the record that vouched (LiveRecord.publishAfter); else the chain ends and
     * index/live is left as it was (stale: the next open walks). Whatever wrote
     * between our commit and that stamp is taken for part of it: another process's commit (then
     * our record names an older id than the file's and matches nothing), or a write by anything
     * else in those microseconds (the gap docs/INDEX-DAMAGE.md names). Two fstats per commit (0.6 us
     * each in a C1 JVM), against a commit's 100+ us.
     */
    private void commitFollowed(Txn<byte[]> txn, LiveRecord live) {
        long id = txn.getId();
        boolean foreign = lastOwnCommit != id - 1; // another process committed since our last commit, or this is our first
        if (foreign) {
            // a record another process made at its close, synced, names a state this commit leaves
            // behind: liblmdb reuses that state's pages a few commits on, and after a machine crash
            // the file could match the record torn (pages written back before the meta page and
            // the new mtime). Dropped durably before any page of ours can reach the disk.
            check.dropPersistent();
        }
        long vouched = 0;
        boolean known = false;
        IndexCheck.Stamp before = null;
        if (!sawDamage && !syncFailed) {
            if (live != null) {
                long t = live.txn();
                if ((t == -1 || (t >= 0 && t == id - 2)) && foreign && waitedFor != id) {
                    // another process committed id - 1 a moment ago and records it right after its
                    // commit returned, which may not have happened yet or may be under way (the
                    // record reads as none while its words change; we hold liblmdb's writer lock
                    // since): wait for it a little rather than lose the chain, once per id
                    waitedFor = id;
                    long until = System.nanoTime() + PUBLISH_WAIT_NANOS;
                    while (live.txn() != id - 1 && System.nanoTime() < until) {
                        java.util.concurrent.locks.LockSupport.parkNanos(20_000);
                    }
                }
                // only the shared record vouches, also for this process's own last commit: another
                // process that met damage cleared it, and our memory of a clean file must not outlive that
                if (live.txn() == id - 1) {
                    before = check.commitStamp();
                    vouched = live.vouches(id - 1, before);
                    known = vouched != 0;
                }
            } else {
                long own;
                IndexCheck.Stamp ownStamp;
                synchronized (chainLock) {
                    own = chainTxn;
                    ownStamp = chainStamp;
                }
                if (own == id - 1) {
                    before = check.commitStamp();
                    known = before != null && before.same(ownStamp);
                }
            }
        }
        txn.commit();
        commits.incrementAndGet();
        try {
            if (foreign) {
                check.dropPersistent(); // one a command wrote while we committed (see close)
            }
            IndexCheck.Stamp after = known ? check.commitStamp() : null;
            // a commit that changed nothing writes nothing and spends no id: id - 1 stays the newest
            // (and known if it was). A stamp that moved says it wrote; else the newest id is asked
            // (also when no stamps were taken: a process whose chain is lost)
            boolean spent = after != null && !after.same(before) || env.info().lastTransactionId == id;
            if (!spent) {
                return;
            }
            lastOwnCommit = id;
            boolean keep = after != null;
            synchronized (chainLock) {
                chainTxn = keep ? id : -1;
                chainStamp = keep ? after : null;
            }
            if (keep && live != null && !sawDamage && !syncFailed) {
                // in place of exactly the record that vouched: a clear by any process since (damage,
                // a failed sync) wins
                boolean published = live.publishAfter(vouched, id, after);
                java.lang.invoke.VarHandle.fullFence(); // our check word before our look at the flags
                if (published && (sawDamage || syncFailed)) {
                    live.clear(); // damage met, or a sync failed, on another thread meanwhile: its clear may have come first
                }
            }
        } catch (RuntimeException | LinkageError | InternalError e) {
            // the commit stands; only what we know of the file after it is lost (a SIGBUS on the
            // mapped record of a full copy-on-write filesystem comes as an InternalError)
            synchronized (chainLock) {
                chainTxn = -1;
                chainStamp = null;
            }
        }
    }

    /** Free bytes below which an EIO from a commit is taken for a short write (see below). */
    static final long SHORT_WRITE_ROOM = 1 << 20;

    /**
     * True for liblmdb's answer to a page write that found room for part of its pages: a short
     * write, which mdb_page_flush reports as EIO ("short write, filesystem full?"), not ENOSPC.
     * A disk with less than {@link #SHORT_WRITE_ROOM} free after it is taken to be that (FullDiskIT
     * saw an unlink in a view fail with EIO this way); an EIO with room left is a real I/O error.
     */
    private boolean shortWriteOnAFullDisk(LmdbException e) {
        if (!(e instanceof LmdbNativeException n) || n.getResultCode() != 5) { // EIO
            return false;
        }
        try {
            return Files.getFileStore(dir).getUsableSpace() < SHORT_WRITE_ROOM;
        } catch (java.io.IOException x) {
            return false;
        }
    }

    private static boolean isResized(LmdbException e) {
        String m = String.valueOf(e.getMessage());
        return e instanceof Dbi.MapResizedException || m.contains("MAP_RESIZED") || m.contains("-30785");
    }

    private void grow() {
        resizeLock.writeLock().lock();
        try {
            mapSize = mapSize * 2;
            env.setMapSize(mapSize);
        } finally {
            resizeLock.writeLock().unlock();
        }
    }

    private void adoptResize() {
        resizeLock.writeLock().lock();
        try {
            env.setMapSize(0); // 0 = take the size another process set
        } finally {
            resizeLock.writeLock().unlock();
        }
    }

    public long mapSize() {
        return mapSize;
    }

    /** True once this process has committed a write transaction (close then syncs the index). */
    boolean written() {
        return commits.get() > 0;
    }

    /**
     * Flushes committed transactions to disk (the index is opened MDB_NOSYNC; see
     * docs/DURABILITY.md); nothing if this process has committed none since its last sync (an
     * fsync in a view after one that synced, with nothing changed between): mdb_env_sync would
     * fdatasync all the same, a cache flush of the disk. Another process's commits are its own
     * to sync.
     */
    public void sync() {
        if (readOnly) {
            return; // nothing written (MDB_RDONLY refuses mdb_env_sync)
        }
        long c = commits.get();
        if (c == syncedCommits.get()) {
            return;
        }
        try {
            env.sync(true);
        } catch (RuntimeException e) {
            breakChain(); // the file may not hold what was committed: the next open walks
            throw e;
        }
        syncedCommits.accumulateAndGet(c, Math::max);
    }

    /** Write transactions this process has committed (counted after each commit). */
    private final java.util.concurrent.atomic.AtomicLong commits = new java.util.concurrent.atomic.AtomicLong();

    /** {@link #commits} as it was before the last sync that succeeded: all of those are on disk. */
    private final java.util.concurrent.atomic.AtomicLong syncedCommits = new java.util.concurrent.atomic.AtomicLong();

    public Path dir() {
        return dir;
    }

    public File dataFile() {
        return dir.resolve("data.mdb").toFile();
    }

    /** True if the open walked the file: no record (index/checked, index/live) named it clean. */
    boolean walkedAtOpen() {
        return check.walked;
    }

    /** Carry the open's clean check across this process's own commits (see chainTxn); the CLI's commands. */
    public void trustOwnCommits() {
        trackChain = true;
    }

    @Override
    public void close() {
        // under the write lock: a read still running on another thread (a mount's read-ahead as
        // the mount ends) finishes first, and any later one fails in lockOpen instead of calling
        // liblmdb on a freed environment (a SIGSEGV that took down the test JVM, 2026-12-05)
        resizeLock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            OPEN.remove(this);
            long last;
            IndexCheck.Stamp stamp;
            synchronized (chainLock) {
                last = chainTxn;
                stamp = chainStamp;
            }
            if (trackChain && stamp != null && !sawDamage && !syncFailed && commits.get() > 0 && commits.get() == syncedCommits.get()) {
                try {
                    // no commit since ours (the last id), no write since (the stamp), all synced
                    // where index/live is, it alone vouches: another process that met damage cleared it
                    LiveRecord live = check.live();
                    if (env.info().lastTransactionId == last && stamp.same(check.stamp()) && (live == null || live.matches(last, stamp))) {
                        check.recordClean(last, stamp);
                        // a commit (or a clear) between the look and the record did not see the
                        // record (commitFollowed drops it after its commit too): look again
                        if (env.info().lastTransactionId != last || !stamp.same(check.stamp()) || (live != null && !live.matches(last, stamp))) {
                            check.dropPersistent();
                        }
                    }
                } catch (RuntimeException e) {
                    // only the shortcut is lost: the next open walks
                }
            }
            for (Txn<byte[]> txn : parked) {
                try {
                    txn.renew(); // lmdbjava aborts only a live transaction, and abort frees the reader slot
                } catch (RuntimeException e) {
                    // the environment goes anyway
                }
                txn.close();
            }
            parked.clear();
            check.close();
            env.close();
            reader.close();
            if (salvage != null) {
                salvage.delete();
            }
        } finally {
            resizeLock.writeLock().unlock();
        }
    }

    /** Set by {@link #close}; guarded by resizeLock (written under the write lock). */
    private boolean closed;

    /** Read-locks resizeLock for a transaction; throws, unlocked, if the index is closed. */
    private void lockOpen() {
        resizeLock.readLock().lock();
        if (closed) {
            resizeLock.readLock().unlock();
            throw new StoreException("the store's index " + dataFile() + " is closed");
        }
    }
}
