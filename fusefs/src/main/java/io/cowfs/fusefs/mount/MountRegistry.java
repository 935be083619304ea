package io.cowfs.fusefs.mount;

import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Properties;

/**
 * One writable mount per view, enforced with an exclusive lock on {@code run/view-ID.lock}
 * held by the mount process for its lifetime (released by the kernel if it dies). Next to it,
 * {@code run/view-ID.mount} says which process and mountpoint (docs/FORMAT.md, "run/").
 */
public final class MountRegistry {
    private MountRegistry() {
    }

    /** Where a view is mounted. */
    public record MountInfo(long pid, String mountpoint, String name) {
    }

    static Path lockFile(Store store, long viewId) {
        return store.dir().resolve("run").resolve("view-" + viewId + ".lock");
    }

    static Path infoFile(Store store, long viewId) {
        return store.dir().resolve("run").resolve("view-" + viewId + ".mount");
    }

    /** The control socket; under /tmp when the store path is too long for a unix socket (108 bytes). */
    public static Path socketFile(Store store, long viewId) {
        Path p = store.dir().toAbsolutePath().resolve("run").resolve("v" + viewId + ".sock");
        if (p.toString().length() < 100) {
            return p;
        }
        String key = Integer.toHexString(store.dir().toAbsolutePath().toString().hashCode());
        return Path.of(System.getProperty("java.io.tmpdir"), "cowfs-" + key + "-v" + viewId + ".sock");
    }

    /** The exclusive claim of a mount on a view; close releases it. */
    public static final class Claim implements AutoCloseable {
        private final FileChannel ch;
        private final FileLock lock;
        private final Path info;
        private final Path lockFile;

        Claim(FileChannel ch, FileLock lock, Path info, Path lockFile) {
            this.ch = ch;
            this.lock = lock;
            this.info = info;
            this.lockFile = lockFile;
        }

        @Override
        public void close() {
            try {
                Files.deleteIfExists(info);
                if (lockFile != null) {
                    Files.deleteIfExists(lockFile); // a snapshot mount's own, unshared lock file
                }
                lock.release();
                ch.close();
            } catch (IOException ignored) {
                // the lock dies with the process anyway
            }
        }
    }

    /**
     * Claims a view for this process, or says where it is already mounted. Read-only snapshot
     * mounts register too, under a negative id of their own (any number may exist).
     */
    public static Claim claim(Store store, long viewId, String viewName, Path mountpoint) {
        Path lf = lockFile(store, viewId);
        try {
            FileChannel ch = FileChannel.open(lf, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;
            }
            if (l == null) {
                ch.close();
                MountInfo m = find(store, viewId);
                throw new StoreException.BusyException("view '" + viewName + "' is already mounted"
                        + (m == null ? "" : " at " + m.mountpoint() + " (pid " + m.pid() + ")")
                        + "; unmount it first (cowfs umount) or fork it");
            }
            Properties p = new Properties();
            p.setProperty("pid", Long.toString(ProcessHandle.current().pid()));
            p.setProperty("mountpoint", mountpoint.toString());
            p.setProperty("name", viewName);
            Path info = infoFile(store, viewId);
            Path tmp = info.resolveSibling(info.getFileName() + ".tmp");
            try (var out = Files.newOutputStream(tmp)) {
                p.store(out, null);
            }
            Files.move(tmp, info, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return new Claim(ch, l, info, viewId < 0 ? lf : null);
        } catch (IOException e) {
            throw new StoreException("cannot claim view '" + viewName + "': " + e.getMessage(), e);
        }
    }

    /** Where the view is mounted, or null if no live process holds it. */
    public static MountInfo find(Store store, long viewId) {
        Path info = infoFile(store, viewId);
        if (!Files.exists(info)) {
            return null;
        }
        Properties p = new Properties();
        try (var in = Files.newInputStream(info)) {
            p.load(in);
        } catch (IOException e) {
            return null;
        }
        long pid;
        try {
            pid = Long.parseLong(p.getProperty("pid", "0"));
        } catch (NumberFormatException e) {
            return null;
        }
        if (!ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
            return null;
        }
        return new MountInfo(pid, p.getProperty("mountpoint", "?"), p.getProperty("name", "?"));
    }

    /** Every live mount record (views), for umount and list. */
    public static java.util.Map<Long, MountInfo> all(Store store) {
        java.util.Map<Long, MountInfo> out = new java.util.TreeMap<>();
        try (var s = Files.list(store.dir().resolve("run"))) {
            for (Path f : (Iterable<Path>) s::iterator) {
                String n = f.getFileName().toString();
                if (n.startsWith("view-") && n.endsWith(".mount")) {
                    long id = Long.parseLong(n.substring(5, n.length() - 6));
                    MountInfo m = find(store, id);
                    if (m != null) {
                        out.put(id, m);
                    }
                }
            }
        } catch (IOException | NumberFormatException e) {
            // an unreadable run/ directory lists nothing
        }
        return out;
    }
}
