package io.cowfs.blockstore.run;

import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreAccess;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;

/**
 * A mount's control socket ({@link MountRegistry#socketFile}). One request per connection, one
 * line each way: {@value #PERSIST} makes the mount persist every write that has returned, then
 * answers {@value #OK} (or {@code error MESSAGE}, or {@code busy MESSAGE} if writes that returned
 * had not all reached it in time: {@link Busy}); {@code cowfs snapshot} (and fork, diff, export
 * of a view) uses it before freezing a mounted view. {@value #ROLLOVER} persists too, then finishes
 * the mount's pack if it holds at least {@link #ROLLOVER_MIN} bytes, so that gc may compact it
 * ({@code cowfs gc} asks every writable mount first). Clients: {@link MountControl}.
 *
 * <p>The socket lives in the store's run/ with the store's file mode, and every connection's
 * peer is checked ({@link Peers}, SO_PEERCRED): anyone else is answered {@code error refused}
 * and logged once per uid (docs/SECURITY.md).
 */
public final class ControlServer implements AutoCloseable {
    /** A mount's pack smaller than this is left as it is: at most this much dead data waits for gc. */
    public static final long ROLLOVER_MIN = io.cowfs.blockstore.Config.fromSystemProperties().mountRolloverMin();

    static final String PERSIST = "persist";
    static final String ROLLOVER = "rollover";
    static final String OK = "ok";
    static final String BUSY = "busy ";

    /**
     * Thrown by {@link Target#persistAll} when writes that returned had not all reached the mount
     * in time (the kernel still held them): nothing is lost, but a snapshot now would miss them.
     */
    public static final class Busy extends RuntimeException {
        public Busy(String message) {
            super(message);
        }
    }

    /** What a mount offers its control socket. */
    @FunctionalInterface
    public interface Target {
        /** Persists every write that has returned (those the kernel still held too); throws with a message if it cannot. */
        void persistAll();

        /**
         * Persists what has reached the mount, without waiting for what the kernel still holds
         * ({@value #ROLLOVER}: finishing the pack for gc needs no more); persistAll unless overridden.
         */
        default void persistReceived() {
            persistAll();
        }
    }

    private final ServerSocketChannel server;
    private final Path path;
    private final Peers peers;
    /** Uids refused so far (each is logged once); only the serving thread touches it. */
    private final Set<Integer> refused = new HashSet<>();

    /** Listens at path and serves requests on a daemon thread until closed. */
    public ControlServer(Path path, Store store, Target mount) throws IOException {
        this.path = path;
        StoreAccess access = store.access();
        checkPrivate(path.toAbsolutePath().getParent(), access);
        Files.deleteIfExists(path);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        UnixSockets.at(path, server::bind);
        access.fix(path);
        peers = new Peers(store.dir(), path, access);
        Thread thread = new Thread(() -> serve(store, mount), "cowfs-control");
        thread.setDaemon(true);
        thread.start();
    }

    private void serve(Store store, Target mount) {
        while (server.isOpen()) {
            try (SocketChannel c = server.accept()) {
                String cmd = readLine(c); // read first: closing with the request unread would reset the connection
                if (!admit(c)) {
                    continue;
                }
                String reply;
                try {
                    if (cmd.equals(PERSIST)) {
                        mount.persistAll();
                        // the snapshot about to be committed names this process's chunks: on disk
                        // first, so that the snapshot command's synced index never names lost ones
                        store.sync();
                        reply = OK;
                    } else if (cmd.equals(ROLLOVER)) {
                        mount.persistReceived();
                        store.rollover(ROLLOVER_MIN);
                        reply = OK;
                    } else {
                        reply = "error unknown command " + cmd;
                    }
                } catch (Busy e) {
                    reply = BUSY + e.getMessage();
                } catch (RuntimeException | LinkageError e) {
                    reply = "error " + e.getMessage(); // and serve on: a control thread that ended leaves the mount unanswering
                }
                c.write(ByteBuffer.wrap((reply + "\n").getBytes(StandardCharsets.UTF_8)));
            } catch (IOException e) {
                if (!server.isOpen()) {
                    return;
                }
            }
        }
    }

    /** Checks the peer; answers a refused one and logs it (once per uid). */
    private boolean admit(SocketChannel c) throws IOException {
        UnixDomainPrincipal peer = c.getOption(ExtendedSocketOptions.SO_PEERCRED);
        if (peers.allowed(peer)) {
            return true;
        }
        int uid = Peers.uid(peer.user());
        if (refused.add(uid)) {
            System.err.println("cowfs: control socket " + path + ": refused uid " + uid + " (" + peer.user().getName()
                    + "): only the store's owner, root" + (peers.shared() ? " and its group" : "") + " may use this mount");
            System.err.flush();
        }
        c.write(ByteBuffer.wrap(("error refused: uid " + uid + " may not use this mount\n").getBytes(StandardCharsets.UTF_8)));
        return false;
    }

    /** The socket's directory, the store's run/, must be no more open than the store. */
    private static void checkPrivate(Path dir, StoreAccess access) throws IOException {
        int mode = (Integer) Files.getAttribute(dir, "unix:mode") & 0777;
        boolean mine = (Integer) Files.getAttribute(dir, "unix:uid") == Peers.LIB.geteuid();
        if (mine && (mode & ~access.dirMode() & 0777) != 0) {
            // the store's own run/, made by a cowfs before stores were private: closing it up is always safe
            Files.setAttribute(dir, "unix:mode", access.dirMode());
            System.err.println(java.time.Instant.now() + " cowfs: " + dir + " was mode " + Integer.toOctalString(mode)
                    + ", now " + Integer.toOctalString(access.dirMode()) + "; 'cowfs fsck --repair' closes up the rest of the store");
            mode = access.dirMode() & 0777;
        }
        if ((mode & ~access.dirMode() & 0777) != 0) {
            throw new IOException("the control socket's directory " + dir + " is more open than the store (mode "
                    + Integer.toOctalString(mode) + "); run 'cowfs fsck --repair'");
        }
    }

    static String readLine(SocketChannel c) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4096);
        while (b.hasRemaining()) {
            if (c.read(b) < 0) {
                break;
            }
            if (b.position() > 0 && b.get(b.position() - 1) == '\n') {
                break;
            }
        }
        return new String(b.array(), 0, b.position(), StandardCharsets.UTF_8).trim();
    }

    /** Stops listening and removes the socket file; idempotent (both steps are). */
    @Override
    public void close() {
        try {
            server.close();
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // the socket file is recreated by the next mount
        }
    }
}
