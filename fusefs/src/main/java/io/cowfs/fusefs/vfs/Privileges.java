package io.cowfs.fusefs.vfs;

import java.util.List;

/**
 * What the kernel's VFS does to the privileges of a file that is written, truncated or chowned,
 * for the adapters that must do it themselves: the kernel adapter (HANDLE_KILLPRIV_V2, and the
 * requests that carry no kill flag) and the libfuse 2 adapter (whose kernel inodes, one per
 * hardlink name, may hold a stale mode). Stateless; every change goes through the vfs's own lock.
 */
public final class Privileges {
    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;

    private Privileges() {}

    /**
     * What the kernel's VFS does to a file written, truncated or chowned by a caller without
     * CAP_FSETID, which with HANDLE_KILLPRIV_V2 is ours to do (the kernel tells us with
     * WRITE_KILL_SUIDGID or FATTR_KILL_SUIDGID): setuid goes; setgid goes if the group may
     * execute, or, where it may not, if the caller (pid, uid, fsgid as the request names them)
     * is neither in the file's group nor holds CAP_FSETID (setattr_should_drop_sgid since Linux
     * 6.2; xfstests generic/683-685 found the view keeping it); so does a security.capability
     * attribute. The kernel still removes capabilities itself on the first
     * write after one is set (setting a security.* attribute clears its S_NOSEC).
     */
    public static boolean kill(NodeFs vfs, long ino, int pid, int uid, int gid) {
        return kill(vfs, ino, new Caller(pid, uid, gid));
    }

    private static boolean kill(NodeFs vfs, long ino, Caller c) {
        Stat st = vfs.attributes(ino);
        int mode = st.mode();
        if ((mode & S_IFMT) == S_IFDIR) {
            return false;
        }
        int perm = mode & 07777;
        int kept = perm & ~04000;
        if ((perm & 02000) != 0 && ((perm & 00010) != 0 || !c.inGroupOrCapable(st.gid()))) {
            kept &= ~02000;
        }
        if (kept != perm) {
            vfs.chmod(ino, kept);
        }
        try {
            vfs.getxattr(ino, CAPABILITY); // under the read lock: the usual answer is ENODATA
        } catch (FsException e) {
            if (e.errno() == Errno.ENODATA || e.errno() == Errno.EOPNOTSUPP) {
                return kept != perm;
            }
            throw e;
        }
        vfs.removexattr(ino, CAPABILITY);
        return true;
    }

    private static final String CAPABILITY = "security.capability";

    /**
     * After a COPY_FILE_RANGE into ino or a FALLOCATE of it, which change a file as a write does:
     * {@link #kill} unless the caller has CAP_FSETID; true if the mode changed. The kernel
     * leaves killing setuid/setgid to us (HANDLE_KILLPRIV_V2: its own file_modified() before these
     * requests drops the kill), but unlike WRITE and SETATTR these requests carry no flag saying
     * whether the caller may keep them: a process without CAP_FSETID that copied or fallocated into
     * a setuid or setgid file left the bits set, where the host clears them. So the caller's
     * capability is read from /proc ({@link Caller#hasFsetid}); where it cannot be told, the bits go.
     */
    public static boolean killUnlessFsetid(NodeFs vfs, long ino, int pid, int uid, int gid) {
        if ((vfs.attributes(ino).mode() & 06000) == 0) {
            return false;
        }
        Caller c = new Caller(pid, uid, gid);
        return !c.hasFsetid() && kill(vfs, ino, c);
    }

    /**
     * The caller of one request (pid, uid, fsgid as the request names it; pid 0 if it is in a pid
     * namespace this process does not see), with its /proc/PID/status read at most once however
     * many questions are asked of it (capability, then groups). Used by one thread.
     */
    static final class Caller {
        final int pid;
        final int uid;
        final int gid;
        private List<String> status; // null until read; empty if it cannot be read
        private Boolean fsetid; // null until asked

        Caller(int pid, int uid, int gid) {
            this.pid = pid;
            this.uid = uid;
            this.gid = gid;
        }

        /** The value of a line of /proc/PID/status ("Groups:", "CapEff:"), null if absent or unreadable. */
        private String status(String key) {
            if (status == null) {
                try {
                    status = pid > 0 ? java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc", Integer.toString(pid), "status"))
                            : List.of();
                } catch (java.io.IOException | RuntimeException e) {
                    status = List.of();
                }
            }
            for (String line : status) {
                if (line.startsWith(key)) {
                    return line.substring(key.length()).trim();
                }
            }
            return null;
        }

        /**
         * The kernel's in_group_or_capable() for a file of group fileGid: the caller's fsgid or
         * one of its supplementary groups is fileGid, or it has CAP_FSETID. /proc is read only
         * when the fsgid differs; false where it cannot be told (the thread gone, or in a pid
         * namespace this process does not see), so that the bit goes.
         */
        boolean inGroupOrCapable(int fileGid) {
            if (gid == fileGid) {
                return true;
            }
            String groups = status("Groups:");
            if (groups != null) {
                for (String g : groups.split("\\s+")) {
                    try {
                        if (!g.isEmpty() && Integer.parseUnsignedInt(g) == fileGid) {
                            return true;
                        }
                    } catch (NumberFormatException e) {
                        return false;
                    }
                }
            }
            return hasFsetid();
        }

        /**
         * Whether the caller holds CAP_FSETID in the initial user namespace, as the kernel's
         * capable() asks: uid 0 in this (initial) user namespace and the capability in its
         * effective set. False whenever that cannot be told (the thread gone, /proc not readable).
         */
        boolean hasFsetid() {
            if (fsetid == null) {
                fsetid = fsetid();
            }
            return fsetid;
        }

        private boolean fsetid() {
            if (uid != 0 || pid <= 0 || !INITIAL_USER_NS) {
                return false;
            }
            try {
                java.nio.file.Path proc = java.nio.file.Path.of("/proc", Integer.toString(pid));
                if (!java.nio.file.Files.readSymbolicLink(proc.resolve("ns/user"))
                        .equals(java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/ns/user")))) {
                    return false;
                }
                String eff = status("CapEff:");
                return eff != null && (Long.parseUnsignedLong(eff, 16) & (1L << CAP_FSETID)) != 0;
            } catch (java.io.IOException | RuntimeException e) {
                return false;
            }
        }
    }

    /** This process's user namespace is the initial one (where capable() checks CAP_FSETID). */
    private static final boolean INITIAL_USER_NS = initialUserNs();

    private static boolean initialUserNs() {
        try {
            String[] map = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/uid_map")).trim().split("\\s+");
            return map.length == 3 && map[0].equals("0") && map[1].equals("0") && map[2].equals("4294967295");
        } catch (java.io.IOException | RuntimeException e) {
            return false;
        }
    }

    /** linux/capability.h */
    private static final int CAP_FSETID = 4;
}
