package io.cowfs.fusefs.mount;

import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.run.ControlServer;
import io.cowfs.blockstore.run.MountRegistry;
import io.cowfs.blockstore.store.Store;
import io.cowfs.fusefs.fuse.MountAccess;
import io.cowfs.fusefs.fuse.MountSession;
import io.cowfs.fusefs.kernel.Kernel;
import io.cowfs.fusefs.vfs.ViewFs;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The process side of one mount ({@code cowfs mount --foreground}): claims the view in the
 * registry, opens its vfs, serves the control socket and the FUSE session until it is unmounted,
 * and is the one owner that closes all of it (control socket, vfs, registry claim, store) in the
 * reverse order of opening, exactly once, on every exit path: unmount, a failed start, or SIGTERM
 * (whose shutdown hook only unmounts, then waits here for the close to finish before the JVM
 * halts; a mount whose FUSE loop does not end within {@link #CLOSE_WAIT_SECONDS} is persisted by
 * that wait instead).
 */
public final class MountDaemon {
    /**
     * How long SIGTERM waits for the serving thread's close before it persists the vfs itself: a
     * busy mount's FUSE loop may not end until its next request, and what was written must not
     * wait for that (the JVM halts when the hooks return).
     */
    static final long CLOSE_WAIT_SECONDS = 10;

    /** Told once the mountpoint answers. */
    @FunctionalInterface
    public interface Ready {
        void mounted(boolean readOnly);
    }

    private final Deque<AutoCloseable> opened = new ArrayDeque<>(); // only the serving thread touches it
    private final CountDownLatch closed = new CountDownLatch(1);
    private volatile ViewFs vfs; // for the shutdown hook only
    private volatile Thread closeWait; // the shutdown hook, removed when the mount ends (a spare process serves more)

    private MountDaemon() {
    }

    /**
     * Serves entry e of store at mp until the filesystem is unmounted; takes ownership of store
     * (closed on return, whatever happens). A view is served read-only if asked, or if the index
     * is damaged (a damaged index takes no writes).
     */
    public static void serve(Store store, CatalogEntry e, Path mp, boolean ro, MountAccess access, String fuseApi, Ready ready)
            throws Exception {
        new MountDaemon().run(store, e, mp, ro, access, fuseApi, ready);
    }

    private void run(Store store, CatalogEntry e, Path mp, boolean ro, MountAccess access, String fuseApi, Ready ready)
            throws Exception {
        try {
            opened.push(store);
            store.prefetchIndex(store.config().indexPrefetchBytes());
            if (store.chunkSource() instanceof io.cowfs.blockstore.remote.LazySource l) {
                l.warmUp(); // a lazily pulled snapshot's remote, ready before the first read (docs/REMOTE.md)
            }
            boolean readOnly = !e.isView() || ro || store.index().damage() != null || store.readOnly();
            MountRegistry registry = MountRegistry.of(store);
            if (!store.readOnly()) { // a read-only store's run/ takes no record: cowfs umount finds the process by its mount
                opened.push(registry.claim(e.isView() ? e.viewId() : -ProcessHandle.current().pid(), e.name(), mp));
            }
            ViewFs vfs = e.isView() ? ViewFs.view(store, e.root(), e.viewId(), readOnly) : ViewFs.snapshot(store, e.root());
            opened.push(vfs);
            this.vfs = vfs;
            opened.push(IdleTrimmer.start(store, vfs));
            if (e.isView() && !readOnly) {
                opened.push(AgedWrites.start(vfs));
                // with the kernel's writeback cache a write that returned may still be in the kernel: syncfs first
                opened.push(new ControlServer(registry.socketFile(e.viewId()), store, new ControlServer.Target() {
                    @Override
                    public void persistAll() {
                        try {
                            Kernel.syncMount(mp);
                        } catch (Kernel.WritesStillArriving w) {
                            throw new ControlServer.Busy(w.getMessage());
                        }
                        vfs.persistAll();
                    }

                    @Override
                    public void persistReceived() {
                        vfs.persistAll(); // gc's rollover: what the kernel holds can wait for the next persist
                    }
                }));
            }
            MetadataWarmer warmer = new MetadataWarmer(vfs, store.config().warmInodes());
            opened.push(warmer);
            MountSession.serve(vfs, mp, access, "cowfs:" + e.name(), fuseApi, () -> {
                Thread hook = new Thread(this::awaitClose, "cowfs-close-wait");
                Runtime.getRuntime().addShutdownHook(hook);
                closeWait = hook;
                ready.mounted(readOnly);
                warmer.start();
            });
            if (store.chunkSource() instanceof io.cowfs.blockstore.remote.LazySource l && l.requests.get() > 0) {
                // the mount's log (run/NAME.log): what reads of lazily pulled data cost (docs/REMOTE.md)
                System.err.printf(java.util.Locale.ROOT, "cowfs: fetched %d bytes from remotes in %d requests%n", l.bytes.get(), l.requests.get());
            }
        } finally {
            closeAll();
            Thread hook = closeWait;
            if (hook != null) {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException ex) {
                    // shutting down: the hook runs and finds everything closed
                }
            }
        }
    }

    /** Closes what was opened, last first; every close runs even if an earlier one fails. */
    private void closeAll() throws Exception {
        Exception first = null;
        try {
            while (!opened.isEmpty()) {
                try {
                    opened.pop().close();
                } catch (Exception ex) {
                    if (first == null) {
                        first = ex;
                    } else {
                        first.addSuppressed(ex);
                    }
                }
            }
        } finally {
            closed.countDown();
        }
        if (first != null) {
            throw first;
        }
    }

    /**
     * Shutdown hook: MountSession's hook unmounts, and the JVM must not halt before the close
     * above has run. If the FUSE loop has not ended by then, persists the vfs here (as closing it
     * does; the store is left to the process's end, since FUSE threads may still use it).
     */
    private void awaitClose() {
        try {
            if (!closed.await(CLOSE_WAIT_SECONDS, TimeUnit.SECONDS)) {
                vfs.close();
            }
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        }
    }
}
