package io.cowfs.blockstore.store;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import org.lmdbjava.Dbi;
import org.lmdbjava.DbiFlags;
import org.lmdbjava.Env;
import org.lmdbjava.EnvFlags;
import org.lmdbjava.LmdbException;
import org.lmdbjava.Txn;

/**
 * The store's LMDB environment and its databases (their key layouts are in docs/FORMAT.md, "LMDB").
 *
 * <p>Every transaction lives inside {@link #read} or {@link #write}; none escapes. The map
 * grows on its own: a write that hits MDB_MAP_FULL is aborted, the map doubled, and the
 * write run again; a map grown by another process is adopted when LMDB reports it.
 */
public final class StoreIndex implements AutoCloseable {
    /** Initial map size; tests lower it (system property) to exercise growth. */
    static final long INITIAL_MAP = Long.getLong("cowfs.lmdb.initialMapSize", 256L << 20);

    private final Env<byte[]> env;
    private final Path dir;
    // resizeLock: read-held by every transaction, write-held by a map resize (LMDB requires no
    // live transaction in this process while mdb_env_set_mapsize runs).
    private final ReentrantReadWriteLock resizeLock = new ReentrantReadWriteLock();
    private volatile long mapSize; // guarded by resizeLock (written under the write lock)

    public final Table meta;
    public final Table chunks;
    public final Table catalog;
    public final Table leases;
    public final Table vinode;
    public final Table vdirent;
    public final Table vblock;
    /** Values carry a checksum (format 2 and later; see Table). */
    private final boolean sealed;

    /** The index of a store of the current format (sealed values). */
    public StoreIndex(Path dir) {
        this(dir, true, false);
    }

    /**
     * @param sealed    values carry a checksum (format 2 and later)
     * @param mustExist the store exists already: a missing index is damage (LMDB would quietly
     *                  make an empty one, and the store would look empty to gc)
     */
    public StoreIndex(Path dir, boolean sealed, boolean mustExist) {
        this.dir = dir;
        this.sealed = sealed;
        try {
            Files.createDirectories(dir);
            long existing = Files.exists(dir.resolve("data.mdb")) ? Files.size(dir.resolve("data.mdb")) : 0;
            long size = INITIAL_MAP;
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
        String found = mustExist && !Files.exists(dataFile().toPath()) ? "the file is missing" : checkMetas(dataFile().toPath());
        if (found == null) {
            try {
                opened = create().open(dir.toFile(), EnvFlags.MDB_NOTLS, EnvFlags.MDB_NOSYNC);
                found = check(opened);
            } catch (LmdbException e) {
                found = "LMDB refuses it: " + e.getMessage();
            }
        }
        if (found != null) {
            if (opened != null) {
                opened.close();
            }
            damage = "the index " + dataFile() + " is damaged (" + found + ")";
            salvage = salvage();
            if (salvage.walk().damage.isEmpty()) {
                salvage.walk().damage.add(found); // a meta page, or LMDB's refusal: the trees below the other meta read fine
            }
            opened = create().open(salvage.dir.toFile(), EnvFlags.MDB_NOTLS, EnvFlags.MDB_NOSYNC);
        } else {
            damage = null;
            salvage = null;
        }
        env = opened;
        reader = new SafeReader((salvage != null ? salvage.dir() : dir).resolve("data.mdb"));
        meta = open("meta");
        chunks = open("chunks");
        catalog = open("catalog");
        leases = open("leases");
        vinode = open("vinode");
        vdirent = open("vdirent");
        vblock = open("vblock");
        if (salvage != null) {
            fill(salvage.walk);
        }
    }

    private Env.Builder<byte[]> create() {
        return Env.create(PinnedByteArrayProxy.INSTANCE).setMapSize(mapSize).setMaxDbs(16).setMaxReaders(1024);
    }

    // ---- damage: the index is checked before liblmdb may read it (LmdbPages) ----

    /** Null, or one line saying how the index on disk is damaged (then this is a salvaged copy). */
    private final String damage;
    /** The salvaged copy this process reads instead of a damaged index; null if not damaged. */
    private final Salvage salvage;

    /** What was read from a damaged index: the walk, and the private environment it went into. */
    public record Salvage(Path dir, LmdbPages.Walk walk) {
        /**
         * Key ranges {lo, hi} of db whose entries could not be read (lo inclusive, hi exclusive,
         * null = unbounded); the whole range if the database's own record was unreadable.
         */
        public java.util.List<byte[][]> lost(String db) {
            if (!walk.counts.containsKey(db)) {
                return java.util.List.<byte[][]>of(new byte[][] {null, null});
            }
            return walk.lost.getOrDefault(db, java.util.List.of());
        }
    }

    /**
     * Walks every tree of the index as of a read transaction (which keeps those pages from being
     * reused while the walk runs). Null if whole; otherwise the first damage found and a count.
     */
    private String check(Env<byte[]> e) {
        for (int attempt = 0; attempt < 10; attempt++) {
            String stamp = fileStamp(); // before the transaction: a commit after it changes the stamp
            try (Txn<byte[]> txn = e.txnRead()) {
                String checked = txn.getId() + " " + stamp;
                if (checked.equals(readChecked())) {
                    return null; // walked clean before, and the file has not changed since
                }
                try (LmdbPages pages = LmdbPages.open(dataFile().toPath())) {
                    LmdbPages.Meta m = pages.meta(txn.getId());
                    if (m == null) {
                        continue; // a writer reused the other meta slot meanwhile: look again
                    }
                    LmdbPages.Walk w = pages.walk(m, false, sealed);
                    if (!w.clean()) {
                        return summary(w.damage);
                    }
                    writeChecked(checked);
                    return null;
                }
            } catch (java.io.IOException ex) {
                return "cannot read it: " + ex.getMessage();
            }
        }
        // neither meta page carries the transaction LMDB gave us
        try (LmdbPages pages = LmdbPages.open(dataFile().toPath())) {
            LmdbPages.Meta[] ms = pages.metas();
            return ms[0].problem() != null ? ms[0].problem() : ms[1].problem() != null ? ms[1].problem() : "its meta pages keep changing";
        } catch (java.io.IOException ex) {
            return "cannot read it: " + ex.getMessage();
        }
    }

    /**
     * index/checked remembers the last clean walk: "txnid mtime-ns size" of data.mdb. An
     * unchanged file (no commit, no write by anyone: any write moves its mtime) is not walked
     * again, so commands on a quiet store start at once; a page damaged by a write is always seen.
     */
    private Path checkedFile() {
        return dir.resolve("checked");
    }

    private String fileStamp() {
        try {
            var a = Files.readAttributes(dataFile().toPath(), java.nio.file.attribute.BasicFileAttributes.class);
            java.time.Instant t = a.lastModifiedTime().toInstant();
            return (t.getEpochSecond() * 1_000_000_000L + t.getNano()) + " " + a.size();
        } catch (java.io.IOException e) {
            return "?";
        }
    }

    private String readChecked() {
        try {
            return Files.readString(checkedFile()).strip();
        } catch (java.io.IOException e) {
            return null;
        }
    }

    private void writeChecked(String checked) {
        try {
            Path tmp = Files.createTempFile(dir, "checked", ".tmp");
            Files.writeString(tmp, checked + "\n");
            Files.move(tmp, checkedFile(), java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (java.io.IOException | RuntimeException e) {
            // only a shortcut is lost: the next open walks again
        }
    }

    /** Null if there is no index file yet or both its meta pages are sound; else what is wrong. */
    private static String checkMetas(Path data) {
        if (!Files.exists(data)) {
            return null; // a new index: LMDB creates it
        }
        try (LmdbPages pages = LmdbPages.open(data)) {
            for (LmdbPages.Meta m : pages.metas()) {
                if (m.problem() != null) {
                    return m.problem();
                }
            }
            return null;
        } catch (java.io.IOException e) {
            return "cannot read it: " + e.getMessage();
        }
    }

    private static String summary(java.util.List<String> damage) {
        return damage.get(0) + (damage.size() > 1 ? "; " + (damage.size() - 1) + " more" : "");
    }

    /** Reads every entry of the damaged index that lies on a readable page, into a private environment. */
    private Salvage salvage() {
        LmdbPages.Walk walk;
        try (LmdbPages pages = LmdbPages.open(dataFile().toPath())) {
            LmdbPages.Meta m = pages.newest();
            walk = m == null ? new LmdbPages.Walk() : pages.walk(m, true, sealed);
            if (m == null) {
                walk.damage.add("neither meta page is usable: nothing can be read from it");
            }
        } catch (java.io.IOException ex) {
            walk = new LmdbPages.Walk();
            walk.damage.add("cannot read it: " + ex.getMessage());
        }
        try {
            Path tmp = Files.createTempDirectory("cowfs-salvage-");
            return new Salvage(tmp, walk);
        } catch (java.io.IOException ex) {
            throw new StoreException(damage + "; cannot make a salvage copy: " + ex.getMessage(), ex);
        }
    }

    private void fill(LmdbPages.Walk walk) {
        writeUnchecked(txn -> {
            java.util.Map<String, Table> dbs = java.util.Map.of("meta", meta, "chunks", chunks, "catalog", catalog,
                    "leases", leases, "vinode", vinode, "vdirent", vdirent, "vblock", vblock);
            walk.entries.forEach((name, kvs) -> {
                Table db = dbs.get(name);
                if (db != null && !name.equals("leases")) {
                    for (byte[][] kv : kvs) {
                        db.putRaw(txn, kv[0], kv[1]);
                    }
                }
            });
            return null;
        });
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
    public java.util.List<byte[][]> lost(Txn<byte[]> txn, String db) {
        java.util.List<byte[][]> out = new java.util.ArrayList<>(decodeRanges(meta.get(txn, lostKey(db))));
        if (salvage != null) {
            out.addAll(salvage.lost(db));
        }
        return out;
    }

    /** Records this salvage's lost ranges in the salvaged copy itself (before it becomes the index). */
    public void recordLost(Txn<byte[]> txn) {
        for (String db : java.util.List.of("vinode", "vdirent", "vblock")) {
            java.util.List<byte[][]> all = lost(txn, db);
            if (!all.isEmpty()) {
                meta.put(txn, lostKey(db), encodeRanges(all));
            }
        }
    }

    private static byte[] lostKey(String db) {
        return ("lost/" + db).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    /** range := present:u8 (bit 0 lo, bit 1 hi) [len:u16 lo] [len:u16 hi] */
    private static byte[] encodeRanges(java.util.List<byte[][]> ranges) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (byte[][] r : ranges) {
            out.write((r[0] != null ? 1 : 0) | (r[1] != null ? 2 : 0));
            for (byte[] b : r) {
                if (b != null) {
                    out.write(b.length >>> 8);
                    out.write(b.length & 0xFF);
                    out.writeBytes(b);
                }
            }
        }
        return out.toByteArray();
    }

    private static java.util.List<byte[][]> decodeRanges(byte[] v) {
        java.util.List<byte[][]> out = new java.util.ArrayList<>();
        if (v == null) {
            return out;
        }
        int at = 0;
        while (at < v.length) {
            int present = v[at++];
            byte[][] r = new byte[2][];
            for (int i = 0; i < 2; i++) {
                if ((present & (1 << i)) != 0) {
                    int len = ((v[at] & 0xFF) << 8) | (v[at + 1] & 0xFF);
                    r[i] = Arrays.copyOfRange(v, at + 2, at + 2 + len);
                    at += 2 + len;
                }
            }
            out.add(r);
        }
        return out;
    }

    /** Writes a compact copy of this (salvaged) index into an empty directory: the rebuilt index. */
    public void copyTo(Path emptyDir) {
        env.copy(emptyDir.toFile(), org.lmdbjava.CopyFlags.MDB_CP_COMPACT);
    }

    /**
     * LMDB orders keys as unsigned bytes (memcmp); lmdbjava 0.9 bounds range iteration with a
     * signed Java comparator unless told otherwise, which made ranges over keys with a byte
     * >= 0x80 stop early or run on. Every database gets the unsigned one (LMDB itself keeps its
     * native comparator: nativeCb false).
     */
    private Table open(String name) {
        return new Table(env.openDbi(name, Arrays::compareUnsigned, false, DbiFlags.MDB_CREATE), name, sealed, reader);
    }

    /** Point lookups of read transactions, in Java (see SafeReader). */
    private final SafeReader reader;

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
            resizeLock.readLock().lock();
            try (Txn<byte[]> txn = env.txnRead()) {
                return work.apply(txn);
            } catch (LmdbException e) {
                if (!isResized(e) || attempt > 3) {
                    throw e;
                }
            } finally {
                resizeLock.readLock().unlock();
            }
            adoptResize();
        }
    }

    /**
     * Runs work in a write transaction and commits it; any exception aborts it. A damaged index
     * takes no writes (this process reads a salvaged copy): IndexDamagedException.
     */
    public <T> T write(Function<Txn<byte[]>, T> work) {
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
        for (int attempt = 0; ; attempt++) {
            boolean full = false;
            resizeLock.readLock().lock();
            try (Txn<byte[]> txn = env.txnWrite()) {
                writing.set(txn);
                T result = work.apply(txn);
                txn.commit();
                return result;
            } catch (Env.MapFullException e) {
                full = true;
            } catch (LmdbException e) {
                if (StoreException.isNoSpace(e)) {
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
            if (full) {
                grow();
            } else {
                adoptResize();
            }
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

    /** Flushes committed transactions to disk (the index is opened MDB_NOSYNC; see docs/DURABILITY.md). */
    public void sync() {
        env.sync(true);
    }

    public Path dir() {
        return dir;
    }

    public File dataFile() {
        return dir.resolve("data.mdb").toFile();
    }

    @Override
    public void close() {
        env.close();
        if (salvage != null) {
            try (var files = Files.list(salvage.dir())) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    Files.deleteIfExists(f);
                }
                Files.deleteIfExists(salvage.dir());
            } catch (java.io.IOException e) {
                // a temporary copy left in the temp directory: harmless
            }
        }
    }

    // ---- key helpers shared by the layers above (layouts in docs/FORMAT.md) ----

    public static byte[] longKey(long... parts) {
        byte[] k = new byte[parts.length * 8];
        for (int p = 0; p < parts.length; p++) {
            putLong(k, p * 8, parts[p]);
        }
        return k;
    }

    public static void putLong(byte[] b, int off, long v) {
        for (int i = 0; i < 8; i++) {
            b[off + i] = (byte) (v >>> (56 - 8 * i));
        }
    }

    public static long getLong(byte[] b, int off) {
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | (b[off + i] & 0xFF);
        }
        return v;
    }

    public static void putInt(byte[] b, int off, int v) {
        for (int i = 0; i < 4; i++) {
            b[off + i] = (byte) (v >>> (24 - 8 * i));
        }
    }

    public static int getInt(byte[] b, int off) {
        int v = 0;
        for (int i = 0; i < 4; i++) {
            v = (v << 8) | (b[off + i] & 0xFF);
        }
        return v;
    }
}
