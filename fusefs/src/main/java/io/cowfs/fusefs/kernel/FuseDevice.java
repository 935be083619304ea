package io.cowfs.fusefs.kernel;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * The channel: an open {@code /dev/fuse} session and how it got mounted. Root mounts with
 * mount(2) ({@code fd=N,rootmode=...,user_id=...,group_id=...}); anyone else asks
 * {@code fusermount3} (setuid, from the fuse3 package), which mounts and hands the session's fd
 * back over a socket ({@code _FUSE_COMMFD}, SCM_RIGHTS). Each worker may read on its own clone
 * of the session (FUSE_DEV_IOC_CLONE); replies go to the fd the request came from.
 */
final class FuseDevice {
    static final int ENOENT = 2;
    static final int EINTR = 4;
    static final int EAGAIN = 11;
    static final int EBUSY = 16;
    static final int ENODEV = 19;

    private static final LibC C = LibC.get();
    final int fd;
    private final boolean viaFusermount;
    private final List<FuseDevice> clones = new ArrayList<>(); // guarded by this

    private FuseDevice(int fd, boolean viaFusermount) {
        this.fd = fd;
        this.viaFusermount = viaFusermount;
    }

    static boolean isRoot() {
        return C.getuid() == 0;
    }

    /** Why mounting cannot work for this user, or null. */
    static String mountMethodProblem() {
        if (isRoot()) {
            return null;
        }
        return fusermount() == null ? "fusermount3 is not installed (apt-get install -y fuse3)" : null;
    }

    static Path fusermount() {
        for (String d : List.of("/usr/bin", "/bin", "/usr/local/bin", "/sbin", "/usr/sbin")) {
            Path p = Path.of(d, "fusermount3");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    static FuseDevice mount(Path mp, String fsName, boolean readOnly, io.cowfs.fusefs.fuse.MountAccess access) {
        String name = fsName.replace(",", "_");
        if (isRoot()) {
            int fd = C.open("/dev/fuse", LibC.O_RDWR | LibC.O_CLOEXEC);
            if (fd < 0) {
                throw new IllegalStateException("cannot open /dev/fuse: errno " + LibC.errno());
            }
            String data = "fd=" + fd + ",rootmode=40000,user_id=" + C.getuid() + ",group_id=" + C.getgid()
                    + ",default_permissions" + (access.allowOther() ? ",allow_other" : "");
            // noatime: reads never update atime in a view (README), and the mount says so
            long flags = (access.suid() ? 0 : LibC.MS_NOSUID) | (access.dev() ? 0 : LibC.MS_NODEV) | (readOnly ? LibC.MS_RDONLY : 0)
                    | LibC.MS_NOATIME;
            if (C.mount(name, mp.toString(), "fuse.cowfs", flags, data) != 0) {
                int e = LibC.errno();
                C.close(fd);
                throw new IllegalStateException("mount(2) of " + mp + " failed: errno " + e);
            }
            return new FuseDevice(fd, false);
        }
        return new FuseDevice(viaFusermount(mp, name, readOnly, access), true);
    }

    /** Runs fusermount3 with one end of a socketpair as _FUSE_COMMFD and receives the session fd. */
    private static int viaFusermount(Path mp, String fsName, boolean readOnly, io.cowfs.fusefs.fuse.MountAccess access) {
        Path tool = fusermount();
        if (tool == null) {
            throw new IllegalStateException("fusermount3 is not installed (apt-get install -y fuse3)");
        }
        int[] sv = new int[2];
        if (C.socketpair(LibC.AF_UNIX, LibC.SOCK_STREAM, 0, sv) != 0) {
            throw new IllegalStateException("socketpair failed: errno " + LibC.errno());
        }
        try {
            // fusermount3 refuses suid and dev to an ordinary user ("unsafe option"); the CLI says so first
            String opts = (readOnly ? "ro" : "rw") + access.kernelOptions() + ",noatime,default_permissions,fsname=" + fsName
                    + ",subtype=cowfs";
            List<String> argv = List.of(tool.toString(), "-o", opts, "--", mp.toString());
            List<String> env = new ArrayList<>();
            for (Map.Entry<String, String> e : System.getenv().entrySet()) {
                env.add(e.getKey() + "=" + e.getValue());
            }
            env.add("_FUSE_COMMFD=" + sv[0]);
            Runtime rt = Runtime.getSystemRuntime();
            Pointer pid = Memory.allocateDirect(rt, 8);
            CStrings args = new CStrings(rt, argv);
            CStrings vars = new CStrings(rt, env);
            int rc = C.posix_spawnp(pid, tool.toString(), null, null, args.array, vars.array);
            if (rc != 0) {
                throw new IllegalStateException("cannot start fusermount3: errno " + rc);
            }
            java.lang.ref.Reference.reachabilityFence(args);
            java.lang.ref.Reference.reachabilityFence(vars);
            int child = pid.getInt(0);
            C.close(sv[0]);
            sv[0] = -1;
            int fd = receiveFd(rt, sv[1]);
            int[] status = new int[1];
            C.waitpid(child, status, 0);
            if (fd < 0) {
                throw new IllegalStateException("fusermount3 did not mount " + mp + " (exit status " + ((status[0] >> 8) & 0xff)
                        + (access.allowOther() ? "; --allow-other needs user_allow_other in /etc/fuse.conf" : "") + ")");
            }
            return fd;
        } finally {
            if (sv[0] >= 0) {
                C.close(sv[0]);
            }
            C.close(sv[1]);
        }
    }

    /** A NULL-terminated char*[] in native memory; the strings live as long as this object. */
    private static final class CStrings {
        final Pointer array;
        private final List<Pointer> parts = new ArrayList<>();

        CStrings(Runtime rt, List<String> items) {
            array = Memory.allocateDirect(rt, (items.size() + 1) * 8L, true);
            for (int i = 0; i < items.size(); i++) {
                byte[] b = items.get(i).getBytes(StandardCharsets.UTF_8);
                Pointer s = Memory.allocateDirect(rt, b.length + 1, true);
                s.put(0, b, 0, b.length);
                s.putByte(b.length, (byte) 0);
                parts.add(s);
                array.putAddress(i * 8L, s.address());
            }
            array.putAddress(items.size() * 8L, 0);
        }
    }

    private static final int MSG_CMSG_CLOEXEC = 0x40000000;

    /** recvmsg with room for one SCM_RIGHTS fd (struct msghdr / cmsghdr of x86_64 and aarch64 Linux). */
    private static int receiveFd(Runtime rt, int sock) {
        Pointer data = Memory.allocateDirect(rt, 8, true);
        Pointer iov = Memory.allocateDirect(rt, 16, true);
        iov.putAddress(0, data.address());
        iov.putLong(8, 1);
        Pointer control = Memory.allocateDirect(rt, 24, true); // CMSG_SPACE(sizeof(int))
        Pointer msg = Memory.allocateDirect(rt, 56, true);
        msg.putAddress(16, iov.address()); // msg_iov
        msg.putLong(24, 1); // msg_iovlen
        msg.putAddress(32, control.address()); // msg_control
        msg.putLong(40, 24); // msg_controllen
        long n;
        do {
            // the session's descriptor arrives close-on-exec, as every other one this process opens:
            // a later fusermount3 (the next mount of a spare process) does not inherit it
            n = C.recvmsg(sock, msg, MSG_CMSG_CLOEXEC);
        } while (n < 0 && LibC.errno() == EINTR);
        if (n <= 0 || msg.getLong(40) < 20) {
            return -1;
        }
        int level = control.getInt(8);
        int type = control.getInt(12);
        return level == 1 && type == 1 ? control.getInt(16) : -1; // SOL_SOCKET, SCM_RIGHTS
    }

    /** A clone of this session for one more worker, or this channel if cloning is refused. */
    synchronized FuseDevice cloneOrSelf() {
        int nfd = C.open("/dev/fuse", LibC.O_RDWR | LibC.O_CLOEXEC);
        if (nfd < 0) {
            return this;
        }
        Pointer arg = Memory.allocateDirect(Runtime.getSystemRuntime(), 4, true);
        arg.putInt(0, fd);
        if (C.ioctl(nfd, LibC.FUSE_DEV_IOC_CLONE, arg) != 0) {
            C.close(nfd);
            return this;
        }
        FuseDevice c = new FuseDevice(nfd, viaFusermount);
        clones.add(c);
        return c;
    }

    /** Reads one request: its length, or -errno. */
    long read(long address, int capacity) {
        long n = C.read(fd, address, capacity);
        return n < 0 ? -LibC.errno() : n;
    }

    /** Writes one reply or notification; 0 or -errno (ENOENT: the request was interrupted). */
    int write(long address, int len) {
        long n = C.write(fd, address, len);
        return n < 0 ? -LibC.errno() : 0;
    }

    /** Unmounts mp (lazily if it is busy); a mount that is already gone is fine. */
    void unmount(Path mp) {
        if (!MountPoints.isMounted(mp)) {
            return;
        }
        if (!viaFusermount) {
            if (C.umount2(mp.toString(), 0) != 0 && LibC.errno() == EBUSY) {
                C.umount2(mp.toString(), LibC.MNT_DETACH);
            }
            return;
        }
        try {
            new ProcessBuilder(fusermount().toString(), "-u", "-z", mp.toString()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
        } catch (Exception e) {
            System.err.println("cowfs: unmounting " + mp + " failed: " + e.getMessage());
        }
    }

    /** Closes this device and its clones, once: a second call closes nothing (the numbers may belong to other files by then). */
    synchronized void closeAll() {
        if (closedAll) {
            return;
        }
        closedAll = true;
        for (FuseDevice c : clones) {
            C.close(c.fd);
        }
        clones.clear();
        C.close(fd);
    }

    /** Set by closeAll; guarded by this. */
    private boolean closedAll;
}
