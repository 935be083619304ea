package io.cowfs.fusefs.kernel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Facts about a mountpoint as the host sees it (no FUSE involved). */
public final class MountPoints {
    private MountPoints() {
    }

    /** Whether /proc/self/mounts lists mp (octal escapes of the kernel undone). */
    public static boolean isMounted(Path mp) {
        try {
            String want = mp.toAbsolutePath().normalize().toString();
            for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
                String[] f = line.split(" ");
                if (f.length > 2 && unescape(f[1]).equals(want)) {
                    return true;
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    public static String unescape(String s) {
        return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\");
    }

    /** st_dev of p, or -1 if it cannot be had. */
    public static long device(Path p) {
        try {
            return ((Number) Files.getAttribute(p, "unix:dev")).longValue();
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * Sets the kernel read-ahead of the filesystem mounted at mp (its bdi), in KiB, so that a
     * sequential reader keeps several reads in flight. Needs root; silently skipped otherwise.
     */
    public static void setReadAhead(Path mp, int kb) {
        long dev = device(mp);
        if (dev < 0) {
            return;
        }
        long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
        long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
        try {
            Files.writeString(Path.of("/sys/class/bdi/" + major + ":" + minor + "/read_ahead_kb"), Integer.toString(kb));
        } catch (IOException | RuntimeException e) {
            // not root, or no sysfs: the kernel default stays
        }
    }

    public static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
