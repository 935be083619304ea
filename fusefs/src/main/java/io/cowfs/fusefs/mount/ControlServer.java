package io.cowfs.fusefs.mount;

import io.cowfs.fusefs.vfs.ViewFs;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A mount's control socket ({@code run/vID.sock}). One request per connection, one line each:
 * {@code persist} makes the mount persist every write that has returned, then answers
 * {@code ok} (or {@code error MESSAGE}). {@code cowfs snapshot} uses it before freezing a
 * mounted view. {@code rollover} persists too, then finishes the mount's pack if it holds at
 * least {@link #ROLLOVER_MIN} bytes, so that gc may compact it ({@code cowfs gc} asks every
 * writable mount first).
 */
public final class ControlServer implements AutoCloseable {
    /** A mount's pack smaller than this is left as it is: at most this much dead data waits for gc. */
    public static final long ROLLOVER_MIN = Long.getLong("cowfs.mount.rolloverMin", 4L << 20);

    private final ServerSocketChannel server;
    private final Path path;
    private final Thread thread;

    /** Writes the kernel's cached dirty pages of this mount back to the vfs (writeback cache) before a persist. */
    private final Runnable syncKernel;

    public ControlServer(Path path, ViewFs vfs) throws IOException {
        this(path, vfs, () -> { });
    }

    public ControlServer(Path path, ViewFs vfs, Runnable syncKernel) throws IOException {
        this.path = path;
        this.syncKernel = syncKernel;
        Files.deleteIfExists(path);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path));
        thread = new Thread(() -> serve(vfs), "cowfs-control");
        thread.setDaemon(true);
        thread.start();
    }

    private void serve(ViewFs vfs) {
        while (server.isOpen()) {
            try (SocketChannel c = server.accept()) {
                String cmd = readLine(c);
                String reply;
                try {
                    if (cmd.equals("persist")) {
                        syncKernel.run();
                        vfs.persistAll();
                        reply = "ok";
                    } else if (cmd.equals("rollover")) {
                        syncKernel.run();
                        vfs.persistAll();
                        vfs.store().rollover(ROLLOVER_MIN);
                        reply = "ok";
                    } else {
                        reply = "error unknown command " + cmd;
                    }
                } catch (RuntimeException e) {
                    reply = "error " + e.getMessage();
                }
                c.write(ByteBuffer.wrap((reply + "\n").getBytes(StandardCharsets.UTF_8)));
            } catch (IOException e) {
                if (!server.isOpen()) {
                    return;
                }
            }
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

    /** Sends one command to the mount listening at path; returns its answer line. */
    public static String send(Path path, String command) throws IOException {
        try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            c.write(ByteBuffer.wrap((command + "\n").getBytes(StandardCharsets.UTF_8)));
            return readLine(c);
        }
    }

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
