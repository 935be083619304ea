package io.cowfs.fusefs.fuse;

import io.cowfs.fusefs.kernel.MountPoints;
import io.cowfs.fusefs.vfs.ViewFs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import ru.serce.jnrfuse.FuseStubFS;

/**
 * Mounts one ViewFs with jnr-fuse and serves it until it is unmounted. The mount options are
 * chosen per kind of mount (docs/DESIGN-DECISIONS.md, section 4, says why each one is there):
 * a snapshot is immutable, so the kernel may cache pages, entries and attributes for an hour;
 * a view is changed only through this mount, so entries may be cached, but attributes are not
 * (libfuse's path-based API gives each hardlink name its own kernel inode, so a write through one
 * name must be seen at once through the other) and page caches are checked on open (auto_cache).
 * An unlinked open file is renamed by libfuse to a hidden name that the adapter keeps ({@link HiddenNames}; ViewFs never sees it)
 * (docs/UNLINKED-OPEN-FILES.md).
 */
public final class MountSession {
    private MountSession() {
    }

    public static List<String> options(boolean readOnly, MountAccess access, String fsName) {
        List<String> o = new ArrayList<>();
        o.add("fsname=" + fsName.replace(",", "_"));
        o.add("subtype=cowfs");
        o.add("use_ino");
        o.add("readdir_ino");
        o.add("default_permissions");
        o.add("max_read=131072");
        if (readOnly) {
            o.add("ro");
            o.add("kernel_cache");
            o.add("entry_timeout=3600");
            o.add("attr_timeout=3600");
            o.add("negative_timeout=3600");
        } else {
            // no hard_remove: libfuse then keeps an unlinked open file named (.fuse_hidden...,
            // kept by the adapter, see HiddenNames), so fstat of it works; with hard_remove it fails with ENOENT
            o.add("big_writes");
            o.add("max_write=131072");
            o.add("auto_cache");
            o.add("entry_timeout=60");
            o.add("negative_timeout=60");
            o.add("attr_timeout=0");
        }
        o.add("noatime"); // reads never update atime in a view (README), and the mount says so
        if (access.allowOther()) {
            o.add("allow_other");
        }
        if (access.suid()) {
            o.add("suid"); // libfuse 2 mounts nosuid,nodev unless told
        }
        if (access.dev()) {
            o.add("dev");
        }
        return o;
    }

    /**
     * Checks a mountpoint the way the user should hear about it (one line each): a missing one is
     * not found (exit 3), one that is no empty directory a bad argument (exit 2).
     */
    public static void checkMountpoint(Path mp) {
        if (!Files.exists(mp)) {
            throw new io.cowfs.blockstore.store.StoreException.NotFoundException("mountpoint " + mp + " does not exist (mkdir it first)");
        }
        if (!Files.isDirectory(mp)) {
            throw new IllegalArgumentException("mountpoint " + mp + " is not a directory");
        }
        try (var s = Files.list(mp)) {
            if (s.findAny().isPresent()) {
                throw new IllegalArgumentException("mountpoint " + mp + " is not empty");
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("mountpoint " + mp + " is not usable: " + e.getMessage()
                    + " (a dead mount? run: cowfs umount " + mp + ")");
        }
    }

    /**
     * Mounts and blocks until the filesystem is unmounted (fusermount -u, umount, or SIGTERM).
     * onReady runs once the mountpoint answers.
     */
    public static void serve(ViewFs vfs, Path mp, MountAccess access, String fsName, String api, Runnable onReady) {
        lastAdapter = null;
        if (api.equals("kernel")) {
            String why = io.cowfs.fusefs.kernel.Kernel.unavailableReason();
            if (why == null) {
                try {
                    boolean clean = io.cowfs.fusefs.kernel.Kernel.serve(vfs, mp, access, fsName, onReady);
                    lastAdapter = clean ? "kernel" : null;
                    return;
                } catch (io.cowfs.fusefs.kernel.Kernel.MountFailed e) {
                    why = e.getMessage();
                }
            }
            System.err.println("cowfs: the kernel FUSE adapter cannot mount here (" + why + "); using libfuse2");
        }
        serveLibfuse2(vfs, mp, access, fsName, onReady);
        lastAdapter = "libfuse2";
    }

    /** Written by the thread that runs {@link #serve}, read by it afterwards (a spare mount process). */
    private static volatile String lastAdapter;

    /**
     * The adapter that served this process's last mount to its end ("kernel" or "libfuse2"), or
     * null if the mount failed or a kernel worker stopped on an error: a mount process may serve another mount only after a kernel
     * one (cli MountSpare).
     */
    public static String lastAdapter() {
        return lastAdapter;
    }

    /** The jnr-fuse adapter: mounts and blocks until the filesystem is unmounted. */
    static void serveLibfuse2(ViewFs vfs, Path mp, MountAccess access, String fsName, Runnable onReady) {
        FuseStubFS fs = vfs.readOnly() ? new CowFuse(vfs, fsName) : new WritableFuse(vfs, fsName);
        List<String> opts = options(vfs.readOnly(), access, fsName);
        String[] args = {"-o", String.join(",", opts)};
        Throwable[] failure = new Throwable[1];
        Thread t = new Thread(() -> {
            try {
                fs.mount(mp, true, io.cowfs.blockstore.Config.fromSystemProperties().fuseDebug(), args);
            } catch (Throwable e) {
                failure[0] = e;
            }
        }, "cowfs-fuse-main");
        t.start();
        long dev0 = MountPoints.device(mp.getParent());
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (t.isAlive() && System.nanoTime() < deadline) {
            long d = MountPoints.device(mp);
            if (d != -1 && d != dev0 && MountPoints.isMounted(mp)) {
                break;
            }
            MountPoints.sleep(10);
        }
        if (!t.isAlive()) {
            throw new IllegalStateException("mount failed: " + (failure[0] == null ? "libfuse exited" : failure[0].getMessage()));
        }
        MountPoints.setReadAhead(mp, READ_AHEAD_KB); // several reads in flight for a sequential reader (root only)
        onReady.run();
        Runtime.getRuntime().addShutdownHook(new Thread(fs::umount)); // the mount's owner (MountDaemon) closes the vfs
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Kernel read-ahead for this mount (its bdi), in KiB; the default 128 KiB keeps one request in flight. */
    static final int READ_AHEAD_KB = io.cowfs.blockstore.Config.fromSystemProperties().readAheadKb();
}
