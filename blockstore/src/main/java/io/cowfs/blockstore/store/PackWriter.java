package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * One pack this process appends to, held under an exclusive lock ({@link OfdLock}) from its creation to
 * {@link #close}. Broken after any write error: a failed append leaves the file in a state
 * nobody can vouch for past the record before it, so every later append fails at once (as
 * restic's packer refuses any call after an error) and the owner starts a new pack; it is still
 * forced at the next sync, for the whole records before the failed one. After a failed fsync
 * nothing in it can be vouched for: every later append and force fails.
 *
 * <p>Thread-safety: {@link Packs} calls it under its own lock, but for {@link #forceOwnDescriptor}
 * and {@link #close}, which its background thread also calls without it: both only touch the
 * channel (FileChannel is thread-safe) and the lock ({@link OfdLock} has its own); close may run
 * twice.
 */
final class PackWriter {
    final long packId;
    private final Path path;
    private final FileChannel ch;
    private final OfdLock lock;
    private long size;
    /** Bytes on disk as of the last successful {@link #force} (what a machine crash keeps). */
    private long forced;
    /**
     * The end of the zeros written and forced past {@link #size} by {@link #prepareTail} (0 if
     * none): the file is this long while it is larger than size, and appends below it overwrite
     * blocks the filesystem has already allocated and made durable.
     */
    private long prepared;
    /** A preparation failed (a full disk, an I/O error): this writer tries no more. */
    private boolean noPrepare;
    /** Forces in a row, up to the last, that each wrote at most {@link #PREPARE_BELOW} bytes. */
    private int smallForces;
    /** Why this writer refuses further use, or null while it is sound. */
    private String broken;
    /** An fsync failed: what it held cannot be vouched for, and it is never forced again. */
    private boolean fsyncFailed;

    /** Creates the pack at path, locked before it gets its name (gc never sees it unlocked). */
    PackWriter(long packId, Path path) {
        this(packId, path, StoreAccess.PRIVATE);
    }

    /** Creates the pack at path with access's file mode, locked before it gets its name. */
    PackWriter(long packId, Path path, StoreAccess access) {
        this.packId = packId;
        this.path = path;
        Path tmp = path.resolveSibling(path.getFileName() + ".new");
        FileChannel c = null;
        OfdLock l = null;
        try {
            c = access.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.READ);
            l = OfdLock.lock(tmp, c, false);
            c.write(ByteBuffer.wrap(PackRecord.FILE_MAGIC), 0);
            size = PackRecord.FILE_MAGIC.length;
            Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE);
            ch = c;
            lock = l;
        } catch (IOException e) {
            if (l != null) {
                l.release();
            }
            if (c != null) {
                try {
                    c.close();
                } catch (IOException ignored) {
                    // nothing was written
                }
            }
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // nothing was written
            }
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // nothing was written
            }
            throw StoreException.io("cannot create pack " + path, e);
        }
    }

    /** Bytes written so far. */
    long size() {
        return size;
    }

    /** True once an append or force failed: it takes no more calls. */
    boolean broken() {
        return broken != null;
    }

    /** Appends one record; returns its offset. */
    long append(ChunkId id, byte[] stored, int rawLen, int codec) {
        return write(PackRecord.encode(id, stored, rawLen, codec));
    }

    /** Appends one whole record already encoded between rec's position and limit ({@link PackRecord#encodeInto}); returns its offset. */
    long appendRecord(ByteBuffer rec) {
        return write(rec);
    }

    private long write(ByteBuffer rec) {
        checkUsable();
        int len = rec.remaining();
        long at = size;
        try {
            long pos = at;
            while (rec.hasRemaining()) {
                pos += ch.write(rec, pos);
            }
        } catch (IOException e) {
            broken = "an append failed (" + e + ")";
            try {
                ch.truncate(at); // drop the partial record
                prepared = 0;
            } catch (IOException ignored) {
                // the partial record is garbage that gc and fsck know how to skip
            }
            throw StoreException.io("cannot append to pack " + Packs.fileName(packId), e);
        }
        size = at + len;
        return at;
    }

    /**
     * fsync of what was appended, and the first time of the directory entry too (the pack was
     * created after the last sync of the directory). A writer whose append failed is forced all
     * the same: the records before the failed one are whole, and the index may name them.
     */
    void force() {
        if (fsyncFailed) {
            throw new StoreException("pack " + path + " takes no more writes: " + broken);
        }
        try {
            ch.force(false);
            if (forced == 0) {
                StoreAccess.fsyncDirectory(path.getParent());
            }
            smallForces = size - forced <= PREPARE_BELOW ? smallForces + 1 : 0;
            forced = size;
        } catch (IOException e) {
            // after a failed fsync the kernel may have dropped the dirty pages: what this pack
            // holds cannot be vouched for, and a later fsync could succeed without them
            broken = "an fsync failed (" + e + ")";
            fsyncFailed = true;
            throw StoreException.io("cannot fsync pack " + Packs.fileName(packId), e);
        }
    }

    /**
     * An fsync of a small append costs ext4 a journal commit for the file's new size and blocks
     * on top of the data's write (4 KiB and fdatasync on this machine's disk: 250 us appended,
     * 170 us over blocks already written). So once the last two forces each wrote at most {@link
     * #PREPARE_BELOW} bytes (a database's commits, not a bulk write, nor the one sync of a command
     * that closes the store) this writes {@link #PREPARE_AHEAD} bytes of zeros past the records
     * whenever fewer than {@link #PREPARE_LOW} are left, and forces them: the next fsyncs' appends
     * land in them. Called for a view's fsync only ({@link Packs#sync(boolean)}), under Packs'
     * lock: appends wait for it, about once per 250 fsyncs of 4 KiB. Best effort: a failure (a
     * full disk) stops the preparation of this writer and fails nothing, as the records before
     * were forced already and those after are forced by their own fsync; a closed channel (an
     * interrupt) breaks the writer, as it would break an append. A crash leaves the zeros as a
     * pack's torn tail, which every scan stops at ({@link Packs#scan}); {@link #dropTail} cuts
     * them off when the pack is finished.
     */
    void prepareTail() {
        if (noPrepare || broken != null || smallForces < 2 || prepared - size >= PREPARE_LOW) {
            return;
        }
        long from = Math.max(size, prepared);
        long to = size + PREPARE_AHEAD;
        try {
            ByteBuffer z = Zeros.BUF.duplicate();
            z.limit((int) (to - from));
            long pos = from;
            while (z.hasRemaining()) {
                pos += ch.write(z, pos);
            }
            ch.force(false);
            prepared = to;
        } catch (java.nio.channels.ClosedChannelException e) {
            // interrupted: the channel, and with it the lock, is gone; Packs retires the writer
            noPrepare = true;
            broken = "its channel was closed (" + e + ")";
        } catch (IOException e) {
            noPrepare = true;
            try {
                ch.truncate(Math.max(size, prepared)); // the zeros this call wrote, if any
            } catch (IOException ignored) {
                // zeros past the records: a torn tail at worst
            }
        }
    }

    /**
     * Every byte below this is written twice (zeros, then the record): 64 KiB more at this disk's
     * ~1 GB/s is about the 85 us the journal commit costs, so larger appends gain nothing.
     */
    static final int PREPARE_BELOW = 64 << 10;
    static final int PREPARE_LOW = 64 << 10;
    static final int PREPARE_AHEAD = 1 << 20;

    /** The zeros written, allocated by the first preparation (a command that never fsyncs small appends has none). */
    private static final class Zeros {
        static final ByteBuffer BUF = ByteBuffer.allocateDirect(PREPARE_AHEAD).asReadOnlyBuffer();
    }

    /**
     * Cuts prepared zeros off the end ({@link #prepareTail}) when the pack is finished, so that a
     * whole pack ends at its last record. Best effort: zeros left are a torn tail, which scans
     * stop at and gc compacts away.
     */
    void dropTail() {
        if (prepared > size) {
            try {
                ch.truncate(size);
                prepared = 0;
            } catch (IOException ignored) {
                // a torn tail of zeros
            }
        }
    }

    /** End of the file past the records (zeros prepared for appends), or size (tests). */
    long fileEnd() {
        return Math.max(size, prepared);
    }

    /**
     * fsync through this writer's own descriptor, for the background force, which runs without
     * {@link Packs}' lock (appends go on meanwhile; FileChannel takes both at once). Never through
     * a descriptor opened by name: where the lock is a POSIX record lock (the fallback of {@link
     * OfdLock}), it belongs to the process and the file, and the kernel drops it at the close of
     * any descriptor of that file the process holds; gc in another process then takes the pack
     * for one nobody appends to, and rewrites or deletes it under the records this process
     * appends and commits next.
     *
     * @return false if the writer was closed meanwhile (its lock went with it)
     */
    boolean forceOwnDescriptor() throws IOException {
        try {
            ch.force(false);
            return true;
        } catch (java.nio.channels.ClosedChannelException e) {
            return false;
        }
    }

    /** Bytes up to size were forced through another descriptor (a background force of a finished pack). */
    void forcedUpTo(long size) {
        forced = Math.max(forced, size);
    }

    /** True if records were appended since the last force (and no fsync of it failed). */
    boolean unforced() {
        return size > forced && !fsyncFailed;
    }

    /** True once an fsync of it failed: every later force throws. */
    boolean fsyncFailed() {
        return fsyncFailed;
    }

    Path path() {
        return path;
    }

    private void checkUsable() {
        if (broken != null) {
            throw new StoreException("pack " + path + " takes no more writes: " + broken);
        }
    }

    /** The channel, for tests that make it fail underneath. */
    FileChannel channel() {
        return ch;
    }

    /** Unlocks and closes the pack (best effort: the data was written or the writer is broken). */
    void close() {
        lock.release();
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing left to lose
        }
    }
}
