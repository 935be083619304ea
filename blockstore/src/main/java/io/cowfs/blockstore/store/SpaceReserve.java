package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * run/reserve: space kept back so that index commits (rm, unlink) still work on a full disk.
 * A commit that fails for want of space frees it and tries once more; open and gc make it again
 * when there is room.
 */
final class SpaceReserve {
    /** Size of run/reserve. */
    static final int BYTES = 4 << 20;

    private final Path file;

    private final StoreAccess access;

    SpaceReserve(Path storeDir, StoreAccess access) {
        this.file = storeDir.resolve("run").resolve("reserve");
        this.access = access;
    }

    /** Re-creates the reserve if it is missing and there is room. */
    void ensure() {
        if (Files.exists(file)) {
            return;
        }
        Path tmp = file.resolveSibling("reserve.tmp");
        try (var ch = access.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer zeros = ByteBuffer.allocate(64 << 10);
            for (long pos = 0; pos < BYTES; pos += zeros.capacity()) {
                zeros.clear();
                while (zeros.hasRemaining()) {
                    ch.write(zeros, pos + zeros.position());
                }
            }
            ch.force(false);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // no room for it now; the next open or gc tries again
            }
            return;
        }
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // another process made it first
        }
    }

    /** Frees the reserve; true if there was one. */
    boolean release() {
        try {
            return Files.deleteIfExists(file);
        } catch (IOException e) {
            return false;
        }
    }
}
