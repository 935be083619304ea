package io.cowfs.blockstore.run;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Unix socket addresses for socket files at paths of any length. A socket address holds 108
 * bytes ({@code sun_path}); a longer path is reached through this process's descriptor of the
 * socket's directory, {@code /proc/self/fd/N/NAME}, which the kernel resolves like any path. The
 * socket file itself stays where it belongs (a store's {@code run/}, with the directory's owner,
 * group and mode), and nothing goes to a shared directory such as /tmp, where another user could
 * take the name first. Used for both binding and connecting; the descriptor lives only for the
 * one call.
 */
public final class UnixSockets {
    /** The longest path a socket address holds: sun_path is 108 bytes with its terminating NUL. */
    static final int MAX_PATH_BYTES = 107;

    private static final int O_PATH_CLOEXEC = 010000000 | 02000000; // the same on x86_64 and aarch64

    private UnixSockets() {
    }

    /** What is done with a socket's address (a bind or a connect). */
    @FunctionalInterface
    public interface AddressUse<T> {
        T apply(UnixDomainSocketAddress address) throws IOException;
    }

    /**
     * Calls use with an address of the socket file at path: the path itself when it fits, else
     * {@code /proc/self/fd/N/NAME} with N a descriptor of path's directory opened for this call.
     */
    public static <T> T at(Path path, AddressUse<T> use) throws IOException {
        Path abs = path.toAbsolutePath();
        if (abs.toString().getBytes(StandardCharsets.UTF_8).length <= MAX_PATH_BYTES) {
            return use.apply(UnixDomainSocketAddress.of(abs));
        }
        Path dir = abs.getParent();
        int fd = Peers.LIB.open(dir.toString(), O_PATH_CLOEXEC);
        if (fd < 0) {
            throw new IOException("cannot open " + dir + " to reach the socket " + abs.getFileName());
        }
        try {
            return use.apply(UnixDomainSocketAddress.of("/proc/self/fd/" + fd + "/" + abs.getFileName()));
        } finally {
            Peers.LIB.close(fd);
        }
    }
}
