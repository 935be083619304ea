package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The read-ahead the kernel gives files on a directory's block device: its {@code read_ahead_kb}
 * in sysfs (a partition's is its disk's). -1 where that cannot be told: no block device behind the
 * file system (tmpfs, overlayfs, btrfs's anonymous devices), or no sysfs.
 */
final class DeviceReadAhead {
    private DeviceReadAhead() {
    }

    static long kb(Path dir) {
        try {
            long dev = (Long) Files.getAttribute(dir, "unix:dev");
            // glibc's major() and minor() of a 64-bit dev_t
            long major = ((dev >>> 8) & 0xfffL) | ((dev >>> 32) & 0xfffff000L);
            long minor = (dev & 0xffL) | ((dev >>> 12) & 0xffffff00L);
            Path block = Path.of("/sys/dev/block", major + ":" + minor);
            for (Path q : List.of(block.resolve("queue/read_ahead_kb"), block.resolve("../queue/read_ahead_kb"))) {
                if (Files.isReadable(q)) {
                    return Long.parseLong(Files.readString(q).strip());
                }
            }
        } catch (IOException | RuntimeException e) {
            // unknown: the caller keeps advising every read ahead
        }
        return -1;
    }
}
