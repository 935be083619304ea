package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.List;
import org.lmdbjava.Env;
import org.lmdbjava.Txn;

/**
 * The check of an index before liblmdb may read it ({@link LmdbPages}), and its shortcuts: an
 * unchanged file (no commit, no write by anyone: any write moves its mtime) is not walked again,
 * so commands on a quiet store start at once; a page damaged by a write is always seen. Two
 * records say which file was found clean, each as its newest transaction id and the stamp of
 * data.mdb ({@link Stamp}):
 * <ul>
 * <li>index/checked, "txnid mtime-ns size boot synced|unsynced": written after a clean walk and by
 * a command at close (StoreIndex's own-commit chain). Trusted in the boot that wrote it, and in
 * a later one only if the file was synced when it was written: after a machine crash the file
 * can carry its new mtime without the pages an unsynced commit wrote.</li>
 * <li>index/live ({@link LiveRecord}): the same, of this boot only, kept up to date at every
 * commit by any process (a mount too) whose commit followed a state it knew clean.</li>
 * </ul>
 */
public final class IndexCheck {
    private final Path dir;
    private final boolean sealed;

    private final StoreAccess access;

    /**
     * The transaction id and file stamp this process found clean at open (walked, or matched
     * index/checked), -1 / null if it found none; StoreIndex carries it across its own commits
     * (see {@link #stamp}). Set once by {@link #trees}, before any commit.
     */
    long trustedTxn = -1;
    Stamp trustedStamp;

    /** True once {@link #trees} walked the file (no record matched it); for tests and timings. */
    boolean walked;

    /** index/live, or null (a read-only store, no boot id): opens then trust index/checked alone. */
    private final LiveRecord live;

    /**
     * Set around the open of a command whose job is to find damage (fsck, verify): it walks even
     * an index recorded clean, whatever index/checked says (a page changed on disk without a
     * write leaves the record matching). Per thread: the CLI agent runs other commands beside.
     */
    static final ThreadLocal<Boolean> WALK_ALWAYS = ThreadLocal.withInitial(() -> false);

    /** Runs open with {@link #WALK_ALWAYS} set on this thread. */
    public static <T> T walking(java.util.function.Supplier<T> open) {
        WALK_ALWAYS.set(true);
        try {
            return open.get();
        } finally {
            WALK_ALWAYS.set(false);
        }
    }

    IndexCheck(Path dir, boolean sealed, StoreAccess access, boolean readOnly) {
        this.dir = dir;
        this.sealed = sealed;
        this.access = access;
        this.live = readOnly ? null : LiveRecord.open(dir, access);
    }

    /** index/live, or null. */
    LiveRecord live() {
        return live;
    }

    /**
     * data.mdb's mtime in ns and size: what a write changes. Compared field by field (a record's
     * equals costs a fresh CLI JVM ~15 ms the first time, see Catalog.requireUnchanged).
     */
    static final class Stamp {
        final long mtimeNs;
        final long size;

        Stamp(long mtimeNs, long size) {
            this.mtimeNs = mtimeNs;
            this.size = size;
        }

        boolean same(Stamp o) {
            return o != null && o.mtimeNs == mtimeNs && o.size == size;
        }

        @Override
        public String toString() {
            return mtimeNs + " " + size;
        }
    }

    private Path dataFile() {
        return dir.resolve("data.mdb");
    }

    private Path checkedFile() {
        return dir.resolve("checked");
    }

    /** Null if there is no index file yet or both its meta pages are sound; else what is wrong. */
    String metas() {
        if (!Files.exists(dataFile())) {
            return null; // a new index: LMDB creates it
        }
        String problem = null;
        // A commit by another process (a mount) between taking the file's size and reading a meta
        // page makes that page name pages past the size taken: the file only grows, so a problem
        // that goes away when looked at again was such a commit, not damage.
        for (int attempt = 0; attempt < 5; attempt++) {
            problem = null;
            try (LmdbPages pages = LmdbPages.open(dataFile())) {
                for (LmdbPages.Meta m : pages.metas()) {
                    if (m.problem() != null) {
                        problem = m.problem();
                        break;
                    }
                }
            } catch (IOException e) {
                return "cannot read it: " + e.getMessage();
            }
            if (problem == null) {
                return null;
            }
            try {
                Thread.sleep(20L << attempt);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return problem;
    }

    /**
     * Walks every tree of the index as of a read transaction (which keeps those pages from being
     * reused while the walk runs). Null if whole; otherwise the first damage found and a count.
     */
    String trees(Env<byte[]> e) {
        int moved = 0; // looks again because the file moved on: counted apart from the meta races below
        int ahead = 0; // of those, because index/live named a later txn than ours
        for (int attempt = 0; attempt < 10; attempt++) {
            Stamp stamp = stamp(); // before the transaction: a commit after it changes the stamp
            try (Txn<byte[]> txn = e.txnRead()) {
                if (stamp != null && !stamp.same(stamp())) {
                    // a commit (a mount's) landed between the stamp and the transaction: the pair
                    // names no state of the file, and recorded it would end the committer's chain
                    if (moved++ < 9) {
                        attempt--;
                        continue;
                    }
                    stamp = null; // a file that keeps changing: walk, and record nothing
                }
                // no stamp: nothing to record or trust
                if (!WALK_ALWAYS.get() && stamp != null
                        && ((live != null && live.matches(txn.getId(), stamp)) || trusts(readChecked(), txn.getId(), stamp))) {
                    trustedTxn = txn.getId();
                    trustedStamp = stamp;
                    return null; // found clean before, and the file has not changed since
                }
                if (!WALK_ALWAYS.get() && stamp != null && live != null && live.txn() > txn.getId() && moved < 9) {
                    moved++;
                    ahead++;
                    attempt--;
                    continue; // a commit recorded since our look (a mount's): look again rather than walk
                }
                try (LmdbPages pages = LmdbPages.open(dataFile())) {
                    LmdbPages.Meta m = pages.meta(txn.getId());
                    if (m == null) {
                        continue; // a writer reused the other meta slot meanwhile: look again
                    }
                    walked = true;
                    LmdbPages.Walk w = pages.walk(m, false, sealed);
                    if (!w.clean()) {
                        return summary(w.damage);
                    }
                    if (stamp != null) {
                        writeChecked(txn.getId(), stamp, false);
                        if (live != null) {
                            // after nine looks the record stayed ahead of the file: it names another
                            // file (data.mdb restored from a copy with lower ids), and ours replaces it
                            live.publish(txn.getId(), stamp, ahead >= 9);
                        }
                        trustedTxn = txn.getId();
                        trustedStamp = stamp;
                    }
                    return null;
                }
            } catch (IOException ex) {
                return "cannot read it: " + ex.getMessage();
            }
        }
        // neither meta page carries the transaction LMDB gave us
        try (LmdbPages pages = LmdbPages.open(dataFile())) {
            LmdbPages.Meta[] ms = pages.metas();
            return ms[0].problem() != null ? ms[0].problem() : ms[1].problem() != null ? ms[1].problem() : "its meta pages keep changing";
        } catch (IOException ex) {
            return "cannot read it: " + ex.getMessage();
        }
    }

    /**
     * Records that the index as of transaction txn, whose file now has this stamp, is clean and
     * synced: a process whose own commits are all the file saw since it was found clean
     * (StoreIndex's chain), each synced. The next open of an unchanged file then skips the walk,
     * in this boot or a later one.
     */
    void recordClean(long txn, Stamp stamp) {
        writeChecked(txn, stamp, true);
    }

    /**
     * Drops index/checked and index/live: this process met damage (a mount's read of a page that
     * changed on disk without a write leaves the file's stamp as it was), so the next open must walk.
     */
    void forget() {
        if (live != null) {
            live.clear();
        }
        try {
            Files.deleteIfExists(checkedFile());
        } catch (IOException | RuntimeException e) {
            // a read-only store: nothing recorded there can be dropped; its next open walks only if the file changed
        }
    }

    /*
     * A commit's stamps (StoreIndex.commitFollowed, two per commit; a mount commits at every close
     * of a written file) come from fstat of a descriptor of data.mdb kept for them: 0.6 us each,
     * against 2-4 us for a path's stat through java.nio. Opened at the first commit, used only
     * under StoreIndex.commitOrder, closed by close (under StoreIndex's resize write lock, which
     * no commit holds then). -2: not opened yet; -1: it could not be (then stamp() serves).
     */
    private int statFd = -2;
    private jnr.ffi.Pointer statBuf;

    /** {@link #stamp} for a commit, through the kept descriptor. */
    Stamp commitStamp() {
        try {
            if (statFd == -2) {
                statFd = Libc.LIBC.open(dataFile().toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
                if (statFd >= 0) {
                    statBuf = jnr.ffi.Memory.allocateDirect(jnr.ffi.Runtime.getRuntime(Libc.LIBC), Libc.STAT_SIZE, true);
                }
            }
            if (statFd < 0) {
                return stamp();
            }
            if (Libc.LIBC.fstat(statFd, statBuf) != 0) {
                return null;
            }
        } catch (LinkageError e) {
            // glibc before 2.33 exports no fstat (only __fxstat): jnr-ffi's stub throws on the call
            close();
            return stamp();
        }
        return new Stamp(statBuf.getLong(Libc.STAT_MTIME_AT) * 1_000_000_000L + statBuf.getLong(Libc.STAT_MTIME_AT + 8),
                statBuf.getLong(Libc.STAT_SIZE_AT));
    }

    /** Lets the kept descriptor go. */
    void close() {
        if (statFd >= 0) {
            Libc.LIBC.close(statFd);
        }
        statFd = -1;
    }

    /**
     * Drops index/checked (not index/live): a commit by a process other than the one that wrote
     * it, or after it, makes a record of the state before stale, and a synced one would be
     * trusted after a machine crash. Quiet when there is none. The directory is synced after an
     * unlink, so that it reaches the disk before pages written after it (an fsync per record
     * dropped, none when there was none).
     */
    void dropPersistent() {
        try {
            if (Files.deleteIfExists(checkedFile())) {
                try (java.nio.channels.FileChannel d = java.nio.channels.FileChannel.open(dir, java.nio.file.StandardOpenOption.READ)) {
                    d.force(true); // the unlink on disk before anything written after it (one fsync per record dropped)
                }
            }
        } catch (IOException | RuntimeException e) {
            // a store not ours to write: its record stays, as before
        }
    }

    /** data.mdb's mtime and size now, or null if they cannot be read. */
    Stamp stamp() {
        try {
            var a = Files.readAttributes(dataFile(), BasicFileAttributes.class);
            Instant t = a.lastModifiedTime().toInstant();
            return new Stamp(t.getEpochSecond() * 1_000_000_000L + t.getNano(), a.size());
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * True if the index/checked line says the file as of txn, at this stamp, was clean, and may be
     * believed now: written in this boot, or synced when written.
     */
    static boolean trusts(String checked, long txn, Stamp stamp) {
        if (checked == null) {
            return false;
        }
        String[] f = checked.split(" ");
        if (f.length != 5 || !f[0].equals(Long.toString(txn)) || !f[1].equals(Long.toString(stamp.mtimeNs))
                || !f[2].equals(Long.toString(stamp.size))) {
            return false; // another file, or a record of the old form (no boot): walk once
        }
        return f[4].equals("synced") || f[3].equals(LiveRecord.bootText());
    }

    private String readChecked() {
        try {
            return Files.readString(checkedFile()).strip();
        } catch (IOException e) {
            return null;
        }
    }

    private void writeChecked(long txn, Stamp stamp, boolean synced) {
        String boot = LiveRecord.bootText();
        String checked = txn + " " + stamp + " " + (boot == null ? "-" : boot) + " " + (synced ? "synced" : "unsynced");
        try {
            Path tmp = dir.resolve("checked." + ProcessHandle.current().pid() + "." + Thread.currentThread().getId() + ".tmp");
            access.write(tmp, (checked + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            Files.move(tmp, checkedFile(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            // only a shortcut is lost: the next open walks again
        }
    }

    private static String summary(List<String> damage) {
        return damage.get(0) + (damage.size() > 1 ? "; " + (damage.size() - 1) + " more" : "");
    }
}
