package io.cowfs.fusefs.kernel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Makes the kernel write back the dirty pages of every file on one mount that a process holds
 * open for writing, or maps shared and writable, before a snapshot ({@link Kernel#syncMount}).
 *
 * <p>syncfs(2) does not do it on this kernel (6.18): a syncfs after 20,000 random 4 KiB writes to
 * a file held open returned in 0.9 ms and left 38 MB dirty, 9,000 pages of them never sent (the
 * FUSE tracepoints, 2026-12-07); it does send the pages of a file written lightly. A close does
 * it always: every close(2) of a FUSE file writes the inode's dirty pages back and waits until
 * the mount has answered each WRITE (fuse_flush: write_inode_now, then fuse_sync_writes), whichever
 * descriptor dirtied them. So the mount finds such files in /proc, opens each once more through
 * /proc/PID/fd/N (or /proc/PID/map_files) and closes it: 0.29 s for a file with 16,000 scattered
 * dirty pages. The FLUSH that close sends is answered without a commit ({@link #isFlusher}): the
 * persist that follows stores everything, and a commit from here could drop a file's data on a
 * full store where the persist keeps it and fails.
 *
 * <p>Finding them touches procfs only, never the file's own filesystem (a descriptor on a hung
 * NFS mount must not hang a snapshot): a descriptor's link target must be a path, its fdinfo must
 * say it is open for writing and on a mount (mnt_id) of this filesystem in its process's mount
 * namespace (that namespace's mountinfo, by device number: bind mounts and containers included);
 * a line of maps must map a file of this device shared and writable. Only then is the file itself
 * asked for its device and inode (through a descriptor of this process's own, opened O_PATH, so
 * that a descriptor number reused meanwhile cannot send it elsewhere), so each is flushed once.
 *
 * <p>What it cannot reach: processes this one may not look into (another user's, when the mount
 * process is not root), mappings when the mount process lacks CAP_SYS_ADMIN (map_files) and the
 * mapping's descriptor is closed, pages written through a mapping already unmapped and closed
 * (msync(2) them), and files the kernel holds without a descriptor of a process (a loop device's
 * backing file, io_uring's fixed files): docs/DURABILITY.md. Called from one thread at a time.
 */
public final class OpenWriters {
    private OpenWriters() {
    }

    /** Fault injection for tests only: no flush of open files, so that a test sees the drain alone (SnapshotDrainIT). */
    static final boolean SKIP = Boolean.getBoolean("cowfs.test.skipOpenWriters");

    /** Thread ids of the threads flushing now: their closes' FLUSH is no close of the file's user. */
    private static final Set<Integer> FLUSHERS = ConcurrentHashMap.newKeySet();

    /**
     * True while a snapshot's flush runs ({@link #isFlusher}: whether a FLUSH came from it, pid
     * being the FUSE request's, the calling thread's id): the adapters answer such a FLUSH
     * without committing the file (see the class comment).
     */
    public static boolean flushing() {
        return !FLUSHERS.isEmpty();
    }

    /** @see #flushing */
    public static boolean isFlusher(int pid) {
        return pid != 0 && !FLUSHERS.isEmpty() && FLUSHERS.contains(pid);
    }

    /**
     * The calling thread's id, what the kernel sends as a FUSE request's pid: /proc/thread-self is
     * "PID/task/TID" (Linux 3.17; glibc's gettid() wrapper is 2.30 and later only).
     */
    static int threadId() {
        try {
            String t = Files.readSymbolicLink(Path.of("/proc/thread-self")).toString();
            return Integer.parseInt(t.substring(t.lastIndexOf('/') + 1));
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("cannot tell this thread's id from /proc/thread-self: " + e);
        }
    }

    /** The flush could not do its work (a file it found could not be flushed): the snapshot must not go on. */
    static final class Failed extends RuntimeException {
        Failed(String message) {
            super(message);
        }
    }

    private static final int S_IFMT = 0170000;
    private static final int S_IFREG = 0100000;
    private static final int O_ACCMODE = 3;
    private static final int O_NONBLOCK = 04000;
    private static final int O_PATH = 010000000;
    private static final int ENOENT = 2;
    private static final int EACCES = 13;
    private static final int EPERM = 1;
    private static final int EWOULDBLOCK = 11;

    /**
     * Closes a descriptor of its own on every file of device dev that another process holds open
     * for writing or maps shared and writable (see the class comment); returns how many files.
     */
    static int flush(long dev, LibC c) {
        return SKIP ? 0 : flushed(dev, c).size();
    }

    /** {@link #flush}: the inode numbers of the files it flushed. */
    static Set<Long> flushed(long dev, LibC c) {
        int tid = threadId();
        FLUSHERS.add(tid);
        try {
            Scan s = new Scan(dev, c);
            s.all();
            return s.flushed;
        } finally {
            FLUSHERS.remove(tid);
        }
    }

    /** One pass over /proc; its buffers and caches. Used by one thread. */
    private static final class Scan {
        final long dev;
        final String devName; // "major:minor", as mountinfo and maps write it (maps: in hex)
        final LibC c;
        final Set<Long> done = new HashSet<>(); // inode numbers seen
        final Set<Long> flushed = new HashSet<>();
        final Set<Integer> mountIds = new HashSet<>(); // mnt_ids of dev, every namespace read so far
        final Set<String> namespacesRead = new HashSet<>();
        final byte[] buf = new byte[4096];

        Scan(long dev, LibC c) {
            this.dev = dev;
            this.devName = major(dev) + ":" + minor(dev);
            this.c = c;
        }

        int all() {
            long self = ProcessHandle.current().pid();
            mountsOf(Path.of("/proc/self"));
            int flushed = 0;
            try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> isNumber(p.getFileName().toString()))) {
                for (Path proc : procs) {
                    if (Long.parseLong(proc.getFileName().toString()) == self) {
                        continue; // this process holds none of its own files open
                    }
                    flushed += descriptors(proc);
                    flushed += mappings(proc);
                }
            } catch (IOException e) {
                System.err.println(java.time.Instant.now() + " cowfs: cannot list /proc for a snapshot's flush: " + e);
            }
            return flushed;
        }

        /** The process's descriptors open for writing on a mount of dev: each file flushed once. */
        private int descriptors(Path proc) {
            int n = 0;
            Set<Integer> mounts = null;
            try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve("fd"))) {
                for (Path fd : fds) {
                    int len = (int) c.readlink(fd.toString(), buf, buf.length);
                    if (len <= 0 || buf[0] != '/') {
                        continue; // a socket, pipe or anonymous inode; or gone
                    }
                    int infoLen = readSmall(proc + "/fdinfo/" + fd.getFileName());
                    if (infoLen <= 0 || (field(buf, infoLen, "flags:", 8) & O_ACCMODE) == 0) {
                        continue; // read only: it dirtied nothing (a writable mapping needs O_RDWR)
                    }
                    long mntId = field(buf, infoLen, "mnt_id:", 10);
                    if (mounts == null) {
                        mounts = mountsOf(proc);
                    }
                    if (mntId < 0 ? !onDev(fd.toString()) : !mounts.contains((int) mntId)) {
                        continue;
                    }
                    n += flushOnce(fd.toString());
                }
            } catch (IOException | RuntimeException e) {
                // the process ended, or its descriptors are not ours to see
            }
            return n;
        }

        /**
         * Mount ids of dev: mount ids are unique across namespaces, so one set serves every
         * process; each mount namespace's mountinfo ("id parent major:minor root mountpoint ...")
         * adds its ids once read (this process's own first, which holds the mount). A namespace
         * whose mountinfo could not be read (its last process just ended) is tried again.
         */
        private Set<Integer> mountsOf(Path proc) {
            int len = (int) c.readlink(proc.resolve("ns/mnt").toString(), buf, buf.length);
            String ns = len > 0 ? new String(buf, 0, len, StandardCharsets.ISO_8859_1) : proc.toString();
            if (!namespacesRead.contains(ns)) {
                String all = read(proc.resolve("mountinfo"));
                if (all != null) {
                    namespacesRead.add(ns);
                    for (String line : all.split("\n")) {
                        MountPoints.Mount m = MountPoints.Mount.parse(line);
                        if (m != null && m.device().equals(devName)) {
                            mountIds.add(m.id());
                        }
                    }
                }
            }
            return mountIds;
        }

        /** The process's shared writable mappings of files on dev (maps: "start-end rw-s offset MM:mm inode path", in hex). */
        private int mappings(Path proc) {
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
                    n += mapping(new String(maps, at, end - at, StandardCharsets.ISO_8859_1), proc);
                }
                at = end + 1;
            }
            return n;
        }

        /** One line of maps that maps a file shared and writable. */
        private int mapping(String line, Path proc) {
            String[] f = line.split("\\s+", 6);
            if (f.length < 6) {
                return 0;
            }
            try {
                int colon = f[3].indexOf(':');
                int dash = f[0].indexOf('-');
                if (makedev(Long.parseLong(f[3].substring(0, colon), 16), Long.parseLong(f[3].substring(colon + 1), 16)) != dev
                        || Long.parseLong(f[4]) == 0) {
                    return 0;
                }
                // map_files names its entries without maps' zero padding
                String name = Long.toHexString(Long.parseUnsignedLong(f[0].substring(0, dash), 16)) + "-"
                        + Long.toHexString(Long.parseUnsignedLong(f[0].substring(dash + 1), 16));
                return flushOnce(proc.resolve("map_files").resolve(name).toString());
            } catch (RuntimeException e) {
                return 0;
            }
        }

        /** True if the file behind link is on dev (for kernels whose fdinfo has no mnt_id, before 3.15). */
        private boolean onDev(String link) {
            try {
                return (long) Files.getAttribute(Path.of(link), "unix:dev") == dev;
            } catch (IOException | RuntimeException e) {
                return false;
            }
        }

        /**
         * The file behind link (a /proc magic link), flushed if it is a regular file of dev not
         * flushed yet: opened and closed (the close is the flush); 1 if it was. The link is opened
         * O_PATH first (no open of the file itself), and the file checked and opened through that
         * descriptor: the process may close its descriptor and reuse the number meanwhile.
         *
         * @throws Failed if the file cannot be opened for a reason other than being gone or
         *                refused, or its close reports a write-back error
         */
        private int flushOnce(String link) {
            int pfd = c.open(link, O_PATH | LibC.O_CLOEXEC);
            if (pfd < 0) {
                return 0; // gone, or not ours to see
            }
            try {
                String mine = "/proc/self/fd/" + pfd;
                Map<String, Object> a;
                try {
                    a = Files.readAttributes(Path.of(mine), "unix:dev,ino,mode"); // of this file system: a cowfs mount's
                } catch (IOException | RuntimeException e) {
                    return 0;
                }
                long ino = (long) a.get("ino");
                if ((long) a.get("dev") != dev || ((int) a.get("mode") & S_IFMT) != S_IFREG || done.contains(ino)) {
                    return 0;
                }
                int fd = c.open(mine, LibC.O_RDONLY | LibC.O_CLOEXEC | O_NONBLOCK);
                if (fd < 0) {
                    fd = c.open(mine, LibC.O_WRONLY | LibC.O_CLOEXEC | O_NONBLOCK); // a file only its writers may open
                }
                if (fd < 0) {
                    int errno = LibC.errno();
                    if (errno == ENOENT || errno == EACCES || errno == EPERM || errno == EWOULDBLOCK) {
                        return 0; // gone, refused, or a lease held: another holder of it may still be flushed
                    }
                    throw new Failed("cannot open " + link + " to flush it: errno " + errno);
                }
                if (c.close(fd) != 0) {
                    // the kernel's write-back of the file failed: its writer's own close no longer says so
                    throw new Failed("the write-back of " + link + " failed; its writer's next fsync says how");
                }
                done.add(ino);
                flushed.add(ino);
                return 1;
            } finally {
                c.close(pfd);
            }
        }

        /** A small procfs file read into buf (open, one pread, close: a thirtieth of Files.readAllBytes here); its length, or -1. */
        private int readSmall(String path) {
            int fd = c.open(path, LibC.O_RDONLY | LibC.O_CLOEXEC);
            if (fd < 0) {
                return -1;
            }
            try {
                return (int) c.pread(fd, buf, buf.length, 0);
            } finally {
                c.close(fd);
            }
        }

        /** A small procfs file's text, or null. */
        private String read(Path p) {
            try {
                return new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1);
            } catch (IOException | RuntimeException e) {
                return null;
            }
        }
    }

    /** The number after "name" at a line's start in the first len bytes of text ("flags:\t0100002", radix 8), or -1. */
    static long field(byte[] text, int len, String name, int radix) {
        for (int line = 0; line < len;) {
            boolean match = line + name.length() <= len;
            for (int i = 0; match && i < name.length(); i++) {
                match = text[line + i] == name.charAt(i);
            }
            int end = line;
            while (end < len && text[end] != '\n') {
                end++;
            }
            if (match) {
                long v = 0;
                boolean digits = false;
                for (int i = line + name.length(); i < end; i++) {
                    int d = Character.digit(text[i], radix);
                    if (d >= 0) {
                        v = v * radix + d;
                        digits = true;
                    } else if (text[i] != ' ' && text[i] != '\t' || digits) {
                        break;
                    }
                }
                return digits ? v : -1;
            }
            line = end + 1;
        }
        return -1;
    }

    /** glibc's makedev: st_dev of a device major:minor. */
    static long makedev(long major, long minor) {
        return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xffL) << 12) | ((major & ~0xfffL) << 32);
    }

    /** glibc's major of a dev_t. */
    static long major(long dev) {
        return ((dev >>> 8) & 0xfffL) | ((dev >>> 32) & 0xfffff000L);
    }

    /** glibc's minor of a dev_t. */
    static long minor(long dev) {
        return (dev & 0xffL) | ((dev >>> 12) & 0xffffff00L);
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
