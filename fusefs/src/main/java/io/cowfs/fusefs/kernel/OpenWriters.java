package io.cowfs.fusefs.kernel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * Makes the kernel write back the dirty pages of every file on one mount that a process holds
 * open for writing, or maps shared and writable, before a snapshot ({@link Kernel#syncMount}).
 *
 * <p>syncfs(2) does not do it on this kernel (6.18): a syncfs after 20,000 random 4 KiB writes to
 * a file held open returned in 0.9 ms and left 38 MB dirty, 9,000 pages of them never sent (the
 * FUSE tracepoints, 2026-12-07); it does send the pages of a file written lightly. A close does
 * it always: every close(2) of a FUSE file writes the inode's dirty pages back and waits until
 * the mount has answered each WRITE (fuse_flush: write_inode_now, then fuse_sync_writes), whichever
 * descriptor dirtied them. So the mount finds such files in /proc (a descriptor's target on this
 * mount's device, opened for writing per its fdinfo; a shared writable mapping in maps), opens
 * each once more through /proc/PID/fd/N (or map_files) and closes it: 0.29 s for a file with
 * 16,000 scattered dirty pages, nothing for a clean one but the FLUSH round trip.
 *
 * <p>What it cannot reach: processes this one may not look into (another user's, when the mount
 * process is not root; another PID namespace's), and pages written through a mapping already
 * unmapped and closed: msync(2) them (docs/DURABILITY.md). Called from the control thread only.
 */
final class OpenWriters {
    private OpenWriters() {
    }

    /** Fault injection for tests only: no flush of open files, so that a test sees the drain alone (SnapshotDrainIT). */
    static final boolean SKIP = Boolean.getBoolean("cowfs.test.skipOpenWriters");

    private static final int S_IFMT = 0170000;
    private static final int S_IFREG = 0100000;
    private static final int O_ACCMODE = 3;
    private static final int O_NONBLOCK = 04000;

    /**
     * Closes a descriptor of its own on every file of device dev that another process holds open
     * for writing or maps shared and writable (see the class comment); returns how many files.
     */
    static int flush(long dev, LibC c) {
        if (SKIP) {
            return 0;
        }
        long self = ProcessHandle.current().pid();
        Set<Long> done = new HashSet<>(); // inode numbers flushed
        int flushed = 0;
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> isNumber(p.getFileName().toString()))) {
            for (Path proc : procs) {
                if (Long.parseLong(proc.getFileName().toString()) == self) {
                    continue; // this process holds none of its own files open
                }
                flushed += descriptors(proc, dev, done, c);
                flushed += mappings(proc, dev, done, c);
            }
        } catch (IOException e) {
            System.err.println(java.time.Instant.now() + " cowfs: cannot list /proc for a snapshot's flush: " + e);
        }
        return flushed;
    }

    /** The process's descriptors open for writing on dev: each file flushed once. */
    private static int descriptors(Path proc, long dev, Set<Long> done, LibC c) {
        int n = 0;
        java.nio.ByteBuffer st = java.nio.ByteBuffer.allocate(STAT_SIZE).order(java.nio.ByteOrder.nativeOrder());
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve("fd"))) {
            for (Path fd : fds) {
                if (c.stat(fd.toString(), st.array()) != 0) { // follows the link to the file
                    continue; // closed meanwhile, or not ours to see
                }
                long ino = st.getLong(8);
                if (st.getLong(0) != dev || (st.getInt(24) & S_IFMT) != S_IFREG || done.contains(ino)) {
                    continue;
                }
                if ((openFlags(proc.resolve("fdinfo").resolve(fd.getFileName())) & O_ACCMODE) == 0) {
                    continue; // read only: it dirtied nothing (a writable mapping needs O_RDWR)
                }
                done.add(ino);
                n += closeOnce(fd, c);
            }
        } catch (IOException | RuntimeException e) {
            // the process ended, or its descriptors are not ours to see
        }
        return n;
    }

    /** struct stat on x86-64 (and aarch64's is smaller): room for either. */
    private static final int STAT_SIZE = 256;

    /** The process's shared writable mappings of files on dev (maps: "start-end rw-s offset MM:mm inode path"). */
    private static int mappings(Path proc, long dev, Set<Long> done, LibC c) {
        byte[] maps;
        try {
            maps = Files.readAllBytes(proc.resolve("maps"));
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        int n = 0;
        for (int at = 0; at < maps.length;) {
            int end = at;
            while (end < maps.length && maps[end] != '\n') {
                end++;
            }
            int sp = at;
            while (sp < end && maps[sp] != ' ') {
                sp++;
            }
            // only "rw?s" lines (shared, writable) are parsed: the rest costs this scan
            if (sp + 4 < end && maps[sp + 2] == 'w' && maps[sp + 4] == 's') {
                n += mapping(new String(maps, at, end - at, StandardCharsets.ISO_8859_1), proc, dev, done, c);
            }
            at = end + 1;
        }
        return n;
    }

    /** One line of maps that maps a file shared and writable. */
    private static int mapping(String line, Path proc, long dev, Set<Long> done, LibC c) {
        String[] f = line.split("\\s+", 6);
        if (f.length < 6) {
            return 0;
        }
        int colon = f[3].indexOf(':');
        long ino;
        long mdev;
        try {
            mdev = makedev(Long.parseLong(f[3].substring(0, colon), 16), Long.parseLong(f[3].substring(colon + 1), 16));
            ino = Long.parseLong(f[4]);
        } catch (RuntimeException e) {
            return 0;
        }
        if (mdev != dev || ino == 0 || !done.add(ino)) {
            return 0;
        }
        return closeOnce(proc.resolve("map_files").resolve(f[0]), c);
    }

    /** Opens path (a /proc magic link to the file) and closes it again: the close is the flush. */
    private static int closeOnce(Path link, LibC c) {
        String p = link.toString();
        int fd = c.open(p, LibC.O_RDONLY | LibC.O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            fd = c.open(p, LibC.O_WRONLY | LibC.O_CLOEXEC | O_NONBLOCK); // a file only its writers may open
        }
        if (fd < 0) {
            return 0;
        }
        c.close(fd);
        return 1;
    }

    /** The open flags in /proc/PID/fdinfo/N ("flags:\t0100002", octal); 0 if unreadable. */
    private static int openFlags(Path fdinfo) {
        try {
            for (String l : Files.readAllLines(fdinfo, StandardCharsets.ISO_8859_1)) {
                if (l.startsWith("flags:")) {
                    return Integer.parseInt(l.substring(6).strip(), 8);
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone
        }
        return 0;
    }

    /** glibc's makedev: st_dev of a device major:minor. */
    static long makedev(long major, long minor) {
        return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xffL) << 12) | ((major & ~0xfffL) << 32);
    }

    private static boolean isNumber(String s) {
        if (s.isEmpty()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }
}
