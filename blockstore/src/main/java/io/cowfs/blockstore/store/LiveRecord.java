package io.cowfs.blockstore.store;

import java.io.IOException;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * index/live: the newest state of the index that some process of this boot knows to be clean,
 * shared by every process that opens the store. It is what lets a command skip the walk at open
 * after a mount's commits: a mount (several threads, a commit at every close) cannot afford to
 * write index/checked at each commit, but it can store six words into a mapped page.
 *
 * <p>A process publishes (txn, stamp) only when it knows the file is clean as of txn: it walked
 * it, or its commit txn followed a state this record named, with nothing written between (see
 * StoreIndex.commitFollowed). A reader trusts the record only when the file's newest txn and stamp
 * are those it names, and only in the boot that wrote it (boot_id): a machine crash can leave
 * data.mdb's new mtime on disk without the pages an unsynced commit wrote, so nothing recorded
 * before it counts after it.
 *
 * <p>Concurrency: any process may publish at any time; the words are written plainly, the check
 * word last, and a reader accepts only a record whose check word matches its other words. Two
 * publishers racing leave a mix that fails the check, or one of their records whole: either way
 * a record at most stale, which no file matches (the next open walks). Nothing here is a lock.
 */
final class LiveRecord {
    private static final int TXN = 0, MTIME = 8, SIZE = 16, BOOT_HI = 24, BOOT_LO = 32, CHECK = 40;
    /** Compare-and-set of the check word (a mapped, 8-aligned long: atomic across processes too). */
    private static final VarHandle WORDS = java.lang.invoke.MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());
    private static final long SALT = 0x636f7766736c6976L; // "cowfsliv": a file of zeros is no record

    /** This boot's id (/proc/sys/kernel/random/boot_id), or null where there is none: no live records then. */
    private static final long[] BOOT = readBoot();

    private final MappedByteBuffer map;

    private LiveRecord(MappedByteBuffer map) {
        this.map = map;
        // links the compare-and-set now, at open: its first call in a fresh JVM takes ~0.5 ms,
        // which would keep the record unreadable that much longer inside a commit (a check word
        // of 1 is never one check() makes, so this changes nothing)
        WORDS.compareAndSet(map, CHECK, 1L, 1L);
    }

    /** The record of the index in dir, made if missing; null if it cannot be (a read-only store, no boot id). */
    static LiveRecord open(Path dir, StoreAccess access) {
        if (BOOT == null) {
            return null;
        }
        Path file = dir.resolve("live");
        try {
            if (!Files.exists(file)) {
                Path tmp = dir.resolve("live." + ProcessHandle.current().pid() + "." + Thread.currentThread().getId() + ".tmp");
                try {
                    access.write(tmp, new byte[64]);
                    Files.createLink(file, tmp); // link(2) fails if the name exists: another opener's record stays
                } catch (java.nio.file.FileAlreadyExistsException e) {
                    // made by another opener meanwhile: map that one
                } finally {
                    Files.deleteIfExists(tmp);
                }
            }
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                if (ch.size() < 64) {
                    return null; // not ours to grow: mapping past the end would be a SIGBUS
                }
                MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_WRITE, 0, 64);
                m.order(ByteOrder.nativeOrder());
                return new LiveRecord(m);
            }
        } catch (IOException | RuntimeException e) {
            return null; // only the shortcut is lost: opens walk as before
        }
    }

    /** The txn the record names, or -1 if it holds no record of this boot (a cheap look before a stat). */
    long txn() {
        long txn = map.getLong(TXN), mtime = map.getLong(MTIME), size = map.getLong(SIZE);
        return valid(txn, mtime, size) ? txn : -1;
    }

    /** True if the record says the index as of txn, with its file at this stamp, is clean. */
    boolean matches(long txn, IndexCheck.Stamp stamp) {
        return vouches(txn, stamp) != 0;
    }

    /**
     * The check word of a record that says the index as of txn, with its file at this stamp, is
     * clean; 0 if it does not say so. A commit that follows that state publishes its own with
     * {@link #publishAfter}, which takes the place of exactly this record.
     */
    long vouches(long txn, IndexCheck.Stamp stamp) {
        if (stamp == null) {
            return 0;
        }
        long t = map.getLong(TXN), m = map.getLong(MTIME), s = map.getLong(SIZE);
        if (t != txn || m != stamp.mtimeNs || s != stamp.size) {
            return 0;
        }
        long c = map.getLong(CHECK);
        return valid(t, m, s) && c == map.getLong(CHECK) ? c : 0;
    }

    /**
     * Records the index as of txn, its file at this stamp, as clean, in place of the record whose
     * check word was vouched: only if that record is still there. A clear (damage met, a sync
     * failed, in any process) or another publish since then wins, and this one is dropped: the
     * check word is swapped to 0 atomically first, so no clear can fall between the look and the
     * write. True if published.
     */
    boolean publishAfter(long vouched, long txn, IndexCheck.Stamp stamp) {
        if (vouched == 0 || !WORDS.compareAndSet(map, CHECK, vouched, 0L)) {
            return false;
        }
        write(txn, stamp);
        return true;
    }

    /**
     * Records the index as of txn, its file at this stamp, as clean: after a walk that found it so,
     * unless the record names a later txn already and over is false: a walk that took 0.3 s
     * beside a mount that committed meanwhile must not put an older state over the mount's newer
     * one, which would end the mount's chain (a look, then a write: two publishers in the same
     * microseconds can still cross, which costs a walk later).
     */
    void publish(long txn, IndexCheck.Stamp stamp, boolean over) {
        if (!over && txn() > txn) {
            return;
        }
        map.putLong(CHECK, 0L); // readers see no record while the words change
        write(txn, stamp);
    }

    /** The words, then the check word that vouches for them (the check word is 0 on entry). */
    private void write(long txn, IndexCheck.Stamp stamp) {
        map.putLong(TXN, txn);
        map.putLong(MTIME, stamp.mtimeNs);
        map.putLong(SIZE, stamp.size);
        map.putLong(BOOT_HI, BOOT[0]);
        map.putLong(BOOT_LO, BOOT[1]);
        long word = check(txn, stamp.mtimeNs, stamp.size, BOOT[0], BOOT[1]);
        VarHandle.releaseFence(); // the words before the check word that vouches for them
        map.putLong(CHECK, word);
    }

    /** Drops the record: this process met damage, so no open may skip its walk on our word. */
    void clear() {
        map.putLong(CHECK, 0L);
        VarHandle.fullFence();
    }

    /*
     * Plain reads and writes of the mapped words (another process writes them; no Java ordering
     * reaches it): whatever mix of two publishes or of a publish half done a reader sees, the check
     * word vouches only for the words it was computed over.
     */
    private boolean valid(long txn, long mtime, long size) {
        long hi = map.getLong(BOOT_HI), lo = map.getLong(BOOT_LO);
        return hi == BOOT[0] && lo == BOOT[1] && map.getLong(CHECK) == check(txn, mtime, size, hi, lo);
    }

    private static long check(long txn, long mtime, long size, long hi, long lo) {
        long h = mix(mix(mix(mix(mix(SALT ^ txn) ^ mtime) ^ size) ^ hi) ^ lo);
        return h == 0 ? 1 : h;
    }

    /** splitmix64's finaliser: every bit of v moves about half the bits of the result. */
    private static long mix(long v) {
        v = (v ^ (v >>> 30)) * 0xbf58476d1ce4e5b9L;
        v = (v ^ (v >>> 27)) * 0x94d049bb133111ebL;
        return v ^ (v >>> 31);
    }

    /** This boot's id as written in persistent records (index/checked), or null if there is none. */
    static String bootText() {
        return BOOT == null ? null : Long.toHexString(BOOT[0]) + "-" + Long.toHexString(BOOT[1]);
    }

    private static long[] readBoot() {
        try {
            String id = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
            java.util.UUID u = java.util.UUID.fromString(id);
            return new long[] {u.getMostSignificantBits(), u.getLeastSignificantBits()};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
