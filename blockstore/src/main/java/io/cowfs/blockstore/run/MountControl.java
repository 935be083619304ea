package io.cowfs.blockstore.run;

import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.view.Views;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** The client side of a mount's control socket ({@link ControlServer}): what other processes ask of a mount. */
public final class MountControl {
    /** How long gc waits for a mount to roll over before it goes on without. */
    static final long ROLLOVER_WAIT_SECONDS = 10;
    /** How long an unmount waits for its mount's answer to "persist" before it unmounts as before. */
    static final long PERSIST_WAIT_SECONDS = 60;

    private MountControl() {
    }

    /** Sends one command to the mount listening at socket; returns its answer line. */
    static String send(Path socket, String command) throws IOException {
        try (SocketChannel c = UnixSockets.at(socket, SocketChannel::open)) {
            c.write(ByteBuffer.wrap((command + "\n").getBytes(StandardCharsets.UTF_8)));
            return ControlServer.readLine(c);
        }
    }

    /**
     * Freezes a view, mounted or not: a mounted view is first asked to persist what it holds, so
     * the snapshot has every write that returned before this call; one that is not mounted is held
     * ({@link MountRegistry#hold}) while its delta is read, so that gc does not fold it meanwhile
     * (waiting up to a minute for a gc or a mount that has it).
     *
     * @throws StoreException if the view is mounted and its mount does not answer or cannot persist
     */
    public static ChunkId freeze(Store store, CatalogEntry view) {
        MountRegistry registry = MountRegistry.of(store);
        long until = System.nanoTime() + MountRegistry.HOLD_WAIT_MILLIS * 1_000_000;
        while (true) {
            MountRecord m = registry.find(view.viewId());
            if (m != null) {
                return freezeMounted(store, registry, view, m);
            }
            // not mounted: hold it while it is read, so that gc does not fold its chains meanwhile
            try (MountRegistry.Claim hold = registry.hold(view.viewId())) {
                if (hold != null) {
                    return Views.freeze(store, view);
                }
            }
            if (System.nanoTime() > until) {
                throw new StoreException.BusyException("view '" + view.name() + "' is in use by another cowfs process; try again");
            }
            try {
                Thread.sleep(50); // a mount starting, or gc folding its delta chains
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new StoreException("interrupted while waiting for view '" + view.name() + "'");
            }
        }
    }

    private static ChunkId freezeMounted(Store store, MountRegistry registry, CatalogEntry view, MountRecord m) {
        String answer;
        try {
            answer = send(registry.socketFile(view.viewId()), ControlServer.PERSIST);
        } catch (IOException e) {
            throw new StoreException("view '" + view.name() + "' is mounted at " + m.mountpoint()
                    + " but its mount does not answer (" + e.getMessage() + ")");
        }
        if (answer.startsWith(ControlServer.BUSY)) {
            throw new StoreException("view '" + view.name() + "' is still receiving writes at " + m.mountpoint() + " ("
                    + answer.substring(ControlServer.BUSY.length()) + "); nothing was taken, try again");
        }
        if (!answer.equals(ControlServer.OK)) {
            throw new StoreException("the mount of view '" + view.name() + "' could not persist: " + answer);
        }
        return Views.freeze(store, view);
    }

    /**
     * Asks the writable mount m to persist everything written to it (what its unmount would do);
     * null if it did, or if it does not answer (then nothing can be told: the unmount goes on as
     * before), else the mount's reason (a store whose filesystem went read-only, a full one).
     */
    public static String persistProblem(MountRegistry registry, MountRecord m) {
        Path sock = registry.socketFile(m.viewId());
        if (!Files.exists(sock)) {
            return null;
        }
        String answer;
        java.util.concurrent.CompletableFuture<String> asked = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return send(sock, ControlServer.PERSIST);
            } catch (IOException e) {
                return null;
            }
        });
        try {
            answer = asked.get(PERSIST_WAIT_SECONDS, TimeUnit.SECONDS); // a mount stuck in a request: unmounted as before
        } catch (ExecutionException | TimeoutException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
        if (answer == null || answer.startsWith(ControlServer.BUSY)) {
            return null; // busy: writes still arriving, which the unmount itself waits for
        }
        return answer.equals(ControlServer.OK) ? null : answer.startsWith("error ") ? answer.substring(6) : answer;
    }

    /**
     * A writable mount appends to one pack until it is 64 MiB or the mount ends, and gc cannot
     * compact a pack being appended to: dead blocks in it would wait. Each writable mount is asked
     * to persist and finish its pack (if it holds {@link ControlServer#ROLLOVER_MIN} or more); one
     * that does not answer in {@value #ROLLOVER_WAIT_SECONDS} s is left as it is (gc is as safe
     * without). docs/GC.md, "Long-lived writable mounts".
     */
    public static void rollOverWritableMounts(Store store) {
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "gc-rollover");
            t.setDaemon(true);
            return t;
        });
        try {
            MountRegistry registry = MountRegistry.of(store);
            List<Future<String>> answers = new ArrayList<>();
            for (MountRecord m : registry.live().values()) {
                Path sock = registry.socketFile(m.viewId());
                if (m.writable() && Files.exists(sock)) {
                    answers.add(pool.submit(() -> send(sock, ControlServer.ROLLOVER)));
                }
            }
            for (Future<String> a : answers) {
                try {
                    a.get(ROLLOVER_WAIT_SECONDS, TimeUnit.SECONDS);
                } catch (ExecutionException | TimeoutException ex) {
                    // that mount keeps its pack for now
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
