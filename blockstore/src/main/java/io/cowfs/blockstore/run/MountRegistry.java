package io.cowfs.blockstore.run;

import io.cowfs.blockstore.store.OfdLock;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreAccess;
import io.cowfs.blockstore.store.StoreException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A store's {@code run/} directory (docs/FORMAT.md, "run/"), the one place that knows its file
 * names and parses its records. One writable mount per view is enforced with an exclusive lock on
 * {@code run/view-ID.lock} held by the mount process for its lifetime (released by the kernel if it
 * dies); next to it, {@code run/view-ID.mount} ({@link MountRecord}) says which process and
 * mountpoint. Read-only snapshot mounts register too, under a negative id of their own.
 *
 * <p>The lock, a mount's {@link #claim} as a freeze's or gc's {@link #hold}, is an {@link
 * OfdLock}: a second claim or hold of the view in the same process is refused as "held", as one
 * from another process is, and its failed attempt leaves the first. It was a POSIX lock, which
 * the process held once: a hold in the process of a mount of the view got "held" and closed its
 * channel, and that close dropped the mount's lock, so that another process could then hold (gc:
 * fold its delta chains) or mount the mounted view. OFD and POSIX locks conflict, so a cowfs
 * before this one sees the lock too. Where OFD locks are refused the POSIX lock is used, with
 * that hazard.
 *
 * <p>Thread-safety: the registry holds no mutable state; a {@link Claim} is guarded by its monitor.
 */
public final class MountRegistry {
    private static final String PREFIX = "view-";
    private static final String RECORD = ".mount";

    private final Path storeDir;
    private final Path run;
    private final StoreAccess access;

    /** The registry of the store at storeDir, for reading (what it creates is private). */
    public MountRegistry(Path storeDir) {
        this(storeDir, StoreAccess.PRIVATE);
    }

    private MountRegistry(Path storeDir, StoreAccess access) {
        this.storeDir = storeDir;
        this.run = storeDir.resolve("run");
        this.access = access;
    }

    public static MountRegistry of(Store store) {
        return new MountRegistry(store.dir(), store.access());
    }

    /** Who may use the store: the mode of what the registry creates in run/. */
    public StoreAccess access() {
        return access;
    }

    Path lockFile(long viewId) {
        return run.resolve(PREFIX + viewId + ".lock");
    }

    Path recordFile(long viewId) {
        return run.resolve(PREFIX + viewId + RECORD);
    }

    /** The log of the background mount process of name. */
    public Path logFile(String name) {
        return run.resolve(name + ".log");
    }

    /**
     * The control socket, in run/ whatever the store's path: a path too long for a socket address
     * is reached through run/'s descriptor ({@link UnixSockets}).
     */
    public Path socketFile(long viewId) {
        return storeDir.toAbsolutePath().resolve("run").resolve("v" + viewId + ".sock");
    }

    /** The exclusive claim of a mount on a view; close releases it (once). */
    public static final class Claim implements AutoCloseable {
        private final FileChannel ch;
        private final OfdLock lock;
        private final Path record;
        private final Path lockFile;
        private boolean closed;

        /** record null: a hold ({@link #hold}), not a mount. */
        private Claim(FileChannel ch, OfdLock lock, Path record, Path lockFile) {
            this.ch = ch;
            this.lock = lock;
            this.record = record;
            this.lockFile = lockFile;
        }

        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            try {
                if (record != null) {
                    Files.deleteIfExists(record);
                }
                if (lockFile != null) {
                    Files.deleteIfExists(lockFile); // a snapshot mount's own, unshared lock file
                }
            } catch (IOException ignored) {
                // the lock goes all the same, below
            } finally {
                release(lock, ch); // whatever happened: a spare mount process lives on to serve other mounts
            }
        }
    }

    /** How long a mount waits for a view held (not mounted) by a freeze or gc ({@link #hold}). */
    static final long HOLD_WAIT_MILLIS = 60_000;

    /** Claims a view for this process, or says where it is already mounted. */
    public Claim claim(long viewId, String viewName, Path mountpoint) {
        Path lf = lockFile(viewId);
        try {
            FileChannel ch = access.open(lf, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            OfdLock l = null;
            try {
                l = tryLock(lf, ch);
                // held, but by no mount: a freeze or gc reading or folding the view's delta; they end soon
                long until = System.nanoTime() + HOLD_WAIT_MILLIS * 1_000_000;
                while (l == null && find(viewId) == null && System.nanoTime() < until) {
                    sleep(50);
                    l = tryLock(lf, ch);
                }
                if (l == null) {
                    MountRecord m = find(viewId);
                    throw new StoreException.BusyException("view '" + viewName + "' is "
                            + (m == null ? "in use by another cowfs process" : "already mounted at " + m.mountpoint() + " (pid " + m.pid() + ")")
                            + "; unmount it first (cowfs umount) or fork it");
                }
                Path record = recordFile(viewId);
                long self = ProcessHandle.current().pid();
                ProcStat st = ProcStat.of(self);
                write(new MountRecord(viewId, self, mountpoint.toString(), viewName, record, st == null ? -1 : st.startTicks()));
                return new Claim(ch, l, record, viewId < 0 ? lf : null);
            } catch (IOException | RuntimeException e) {
                release(l, ch);
                throw e;
            }
        } catch (IOException e) {
            throw new StoreException("cannot claim view '" + viewName + "': " + e.getMessage(), e);
        }
    }

    /** Writes m's file whole or not at all (readers never see half a record). */
    private void write(MountRecord m) throws IOException {
        Path tmp = m.file().resolveSibling(m.file().getFileName() + ".tmp");
        var out = new java.io.ByteArrayOutputStream();
        m.toProperties().store(out, null);
        access.write(tmp, out.toByteArray());
        Files.move(tmp, m.file(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * Records that m's process now serves its mount at another mountpoint: {@code cowfs umount
     * --lazy} detached m's, and a bind mount of it stays. Without this the record would name a
     * path that is no mount, and neither umount nor mount could lead the user to the process.
     * Nothing happens if m's process is gone; if it ends meanwhile (it deletes its record when it
     * does) the record written here is deleted again, unless a new mount's has replaced it.
     */
    public void moved(MountRecord m, Path mountpoint) throws IOException {
        if (!m.alive()) {
            return;
        }
        write(new MountRecord(m.viewId(), m.pid(), mountpoint.toString(), m.name(), m.file(), m.started()));
        if (!m.alive()) {
            try (InputStream in = Files.newInputStream(m.file())) {
                MountRecord now = MountRecord.read(m.viewId(), m.file(), in);
                if (now.pid() == m.pid() && now.started() == m.started()) {
                    Files.deleteIfExists(m.file());
                }
            } catch (NoSuchFileException e) {
                // deleted meanwhile
            }
        }
    }

    /**
     * Holds a view that no process has mounted, for a reader or writer of its stored delta other
     * than a mount (a freeze, gc folding its delta chains): while held, the view cannot be mounted
     * (a mount waits up to {@link #HOLD_WAIT_MILLIS} for it) and no other hold is given. Writes no
     * mount record. Null if a mount or another hold has the view, in another process or in this
     * one (the attempt leaves theirs). Close releases it.
     */
    public Claim hold(long viewId) {
        try {
            Path lf = lockFile(viewId);
            FileChannel ch = access.open(lf, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            OfdLock l = null;
            try {
                l = tryLock(lf, ch);
            } finally {
                if (l == null) {
                    release(null, ch);
                }
            }
            return l == null ? null : new Claim(ch, l, null, null);
        } catch (IOException e) {
            throw new StoreException("cannot hold view " + viewId + ": " + e.getMessage(), e);
        }
    }

    /** Releases l (if any) and closes ch, which held no other lock of this process (but see the POSIX fallback, above). */
    private static void release(OfdLock l, FileChannel ch) {
        if (l != null) {
            l.release();
        }
        try {
            ch.close();
        } catch (IOException ignored) {
            // a lock file: nothing to lose
        }
    }

    /** The view's lock file's exclusive lock, or null if held: by another process, or by this one (a claim or hold of the view). */
    private static OfdLock tryLock(Path lf, FileChannel ch) throws IOException {
        try {
            return OfdLock.tryLock(lf, ch, false);
        } catch (OverlappingFileLockException e) {
            return null; // the POSIX fallback: this process holds it (and ch's close will drop it)
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreException("interrupted while waiting for a view");
        }
    }

    /** Where the view is mounted, or null if no live process holds it. */
    public MountRecord find(long viewId) {
        try (InputStream in = Files.newInputStream(recordFile(viewId))) {
            MountRecord m = MountRecord.read(viewId, recordFile(viewId), in);
            return m.alive() ? m : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** Every live mount (views and snapshots) by id, for umount, list and rm. */
    public Map<Long, MountRecord> live() {
        Map<Long, MountRecord> out = new TreeMap<>();
        for (MountRecord m : records()) {
            if (m.alive()) {
                out.put(m.viewId(), m);
            }
        }
        return out;
    }

    /** The live mount at mountpoint (absolute, normalised), or null. */
    public MountRecord at(Path mountpoint) {
        String mp = mountpoint.toAbsolutePath().normalize().toString();
        for (MountRecord m : live().values()) {
            if (m.mountpoint().equals(mp)) {
                return m;
            }
        }
        return null;
    }

    /**
     * Every record, of live and dead processes; one that is gone or half-written meanwhile is
     * skipped, and an unreadable {@code run/} directory lists none.
     */
    public List<MountRecord> records() {
        try {
            return records(false);
        } catch (IOException e) {
            return List.of();
        }
    }

    /** As {@link #records()}, but says what cannot be read (fsck). */
    public List<MountRecord> recordsOrThrow() throws IOException {
        return records(true);
    }

    private List<MountRecord> records(boolean strict) throws IOException {
        List<MountRecord> out = new ArrayList<>();
        try (var s = Files.list(run)) {
            for (Path f : (Iterable<Path>) s::iterator) {
                String n = f.getFileName().toString();
                if (!n.startsWith(PREFIX) || !n.endsWith(RECORD)) {
                    continue;
                }
                try (InputStream in = Files.newInputStream(f)) {
                    long id = Long.parseLong(n.substring(PREFIX.length(), n.length() - RECORD.length()));
                    out.add(MountRecord.read(id, f, in));
                } catch (NoSuchFileException e) {
                    // unmounted meanwhile
                } catch (IOException | NumberFormatException e) {
                    if (strict) {
                        throw e instanceof IOException io ? io : new IOException(f + ": " + e.getMessage(), e);
                    }
                }
            }
        } catch (NoSuchFileException e) {
            if (strict) {
                throw e;
            }
        }
        return out;
    }

    /** Deletes what a removed name leaves in run/: its mount log, and a view's lock file. */
    public void forget(String name, long viewId) throws IOException {
        Files.deleteIfExists(logFile(name));
        if (viewId > 0) {
            Files.deleteIfExists(lockFile(viewId));
        }
    }
}
