package io.cowfs.cli;

import io.cowfs.blockstore.run.ProcStat;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.run.MountControl;
import io.cowfs.blockstore.run.MountRecord;
import io.cowfs.blockstore.run.MountRegistry;
import io.cowfs.fusefs.kernel.MountPoints;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "umount", mixinStandardHelpOptions = true,
        description = {"Unmount a cowfs mount and wait until everything written is persisted.",
                "Waits until its process has persisted and closed everything (and exited, or stays as a spare for",
                "the next mount: COWFS_MOUNT_SPARE).",
                "Also clears a dead mount ('Transport endpoint is not connected').",
                "A view that cannot store what it holds (its store's filesystem went read-only) stays mounted: exit 1."})
final class UmountCommand extends Base {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @picocli.CommandLine.Option(names = "--lazy", description = {"detach a busy mount now; it finishes when its last file is closed.",
            "Of a view also bind-mounted elsewhere: detach MOUNTPOINT only; the view stays mounted there"})
    boolean lazy;

    @Override
    public Integer call() throws Exception {
        Path mp = mountpoint.toAbsolutePath().normalize();
        if (!Fuse.isMounted(mp)) {
            MountRecord gone = Files.isDirectory(storeOptions.storeDir()) ? new MountRegistry(storeOptions.storeDir()).at(mp) : null;
            if (gone != null) {
                // mp was unmounted, yet its process runs on: the connection is mounted where this namespace cannot see it
                throw new StoreException.BusyException(mp + " is not mounted, but process " + gone.pid() + " that mounted '"
                        + gone.name() + "' there still serves it elsewhere (a bind mount in another mount namespace?); "
                        + "find it with: grep -lF ' cowfs:" + gone.name() + " ' /proc/*/mountinfo");
            }
            throw new StoreException.NotFoundException(mp + " is not mounted"); // no mount there: not found (exit 3)
        }
        String othersMount = othersMount(MountPoints.at(MountPoints.table(), MountPoints.realPath(mp)));
        if (othersMount != null) {
            throw new StoreException("cannot unmount " + mp + ": " + othersMount);
        }
        MountRecord record = null;
        MountRegistry registry = null;
        if (Files.isDirectory(storeOptions.storeDir())) {
            try (Store store = storeOptions.open()) {
                registry = MountRegistry.of(store);
                record = registry.at(mp);
            } catch (StoreException e) {
                // unmounting needs no store; only the wait for its process does. Its records are
                // read without it (a store whose filesystem went read-only under the mount)
                record = new MountRegistry(storeOptions.storeDir()).at(mp);
            }
        }
        Long pid = record == null ? null : record.pid();
        if (pid == null) {
            pid = daemonPid(mp);
        }
        List<MountPoints.Mount> table = MountPoints.table();
        MountPoints.Mount here = MountPoints.at(table, MountPoints.realPath(mp));
        List<String> binds = here == null ? List.of() : MountPoints.elsewhere(table, here).stream().map(MountPoints.Mount::mountPoint).toList();
        // the process serves mp and binds alike: unmounting mp alone leaves it running (umount would
        // wait for it in vain) and its record naming a path that is no mount. Unmounting a bind
        // (pid null: no process was started for it) is harmless and goes on as for any mount.
        if (pid != null && !binds.isEmpty()) {
            String them = String.join(", ", binds);
            if (!lazy) {
                throw new StoreException.BusyException(mp + " is also mounted at " + them
                        + (binds.size() == 1 ? " (a bind mount of it); unmount that first (umount " : " (bind mounts of it); unmount those first (umount ")
                        + String.join(" ", binds) + "), then cowfs umount " + mp);
            }
            return detachOnly(mp, record, registry, pid, binds);
        }
        if (record != null && record.writable()) {
            // the unmount persists what the view holds; if that cannot be stored it would be lost
            // silently with the mount, so the mount is first asked to persist it, and stays if it cannot
            String problem = MountControl.persistProblem(new MountRegistry(storeOptions.storeDir()), record);
            if (problem != null) {
                throw new StoreException("cannot unmount " + mp + ": view '" + record.name() + "' cannot store what it holds ("
                        + problem + "), and unmounting would lose it; copy what you need out of " + mp
                        + ", then unmount it anyway with: fusermount -u " + mp);
            }
        }
        ProcStat before = pid == null ? null : ProcStat.of(pid); // its name now: a spare mount process changes it when done
        String error = Fuse.unmount(mp, false);
        if (error != null) {
            boolean dead = error.contains("not connected") || error.contains("Transport endpoint");
            if (error.toLowerCase(java.util.Locale.ROOT).contains("busy") && !lazy && !dead) {
                throw new StoreException.BusyException(mp + " is busy (a process has a file open or its working directory there); "
                        + "close it, or detach now and finish when it closes: cowfs umount --lazy " + mp);
            }
            String lazyError = Fuse.unmount(mp, true);
            if (lazyError != null) {
                throw new StoreException("cannot unmount " + mp + ": " + error);
            }
            if (!dead) {
                out().println("detached " + mp + "; its process finishes when the last open file is closed");
                return 0;
            }
        }
        if (pid != null && before != null && !awaitExit(pid, before, 60_000)) {
            throw new StoreException("unmounted " + mp + " but its process " + pid + " has not exited after 60 s"
                    + (here == null ? "" : "; its FUSE connection may still be mounted elsewhere (a bind mount in another mount "
                    + "namespace?): find it with: grep -l ' " + here.device() + " ' /proc/*/mountinfo"));
        }
        out().println("unmounted " + mp);
        return 0;
    }

    /**
     * Why this process may not unmount m, another user's FUSE mount (the kernel and fusermount let
     * only the user who made it, and root, unmount it), or null: umount(8)'s own message
     * ("must be superuser to unmount") named neither the owner nor who may.
     */
    static String othersMount(MountPoints.Mount m) {
        int owner = m == null ? -1 : m.fuseOwner();
        int self = selfUid();
        if (owner < 0 || self < 0 || self == 0 || owner == self) {
            return null;
        }
        return owner == 0 ? "it was mounted by root; only root can unmount it"
                : "it was mounted by " + userName(owner) + "; only that user or root can unmount it";
    }

    /** This process's uid (the owner of /proc/self), or -1. */
    private static int selfUid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
    }

    /** The name /etc/passwd gives uid, else "uid N". */
    static String userName(int uid) {
        try {
            for (String l : Files.readAllLines(Path.of("/etc/passwd"))) {
                String[] f = l.split(":", -1);
                if (f.length > 2 && f[2].equals(Integer.toString(uid))) {
                    return f[0] + " (uid " + uid + ")";
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not known
        }
        return "uid " + uid;
    }

    /**
     * umount --lazy of mp while binds of it stay: detaches mp only. The process serves on through
     * the binds, so its record is moved to the first of them, where umount and mount find it.
     */
    private int detachOnly(Path mp, MountRecord record, MountRegistry registry, long pid, List<String> binds)
            throws java.io.IOException, InterruptedException {
        String error = Fuse.unmount(mp, true);
        if (error != null) {
            throw new StoreException("cannot unmount " + mp + ": " + error);
        }
        if (record != null) {
            try {
                registry.moved(record, Path.of(binds.get(0)));
            } catch (java.io.IOException e) {
                err().println("cowfs: warning: its mount record still names " + mp + " (" + e.getMessage() + ")");
            }
        }
        out().println("detached " + mp + "; " + (record == null ? "the mount" : "'" + record.name() + "'") + " stays mounted at "
                + String.join(", ", binds) + ", served by process " + pid + " (cowfs umount " + binds.get(0) + " ends it)");
        return 0;
    }

    /**
     * Waits until process pid is done with the mount it served when it was before:
     * gone, or a zombie (it has written, closed and released everything and only waits for its
     * parent to reap it; the mount process is not this process's child, and ProcessHandle.onExit
     * counts a zombie as alive: where init reaps orphans late, seen here ~2 s, every umount waited
     * that long for nothing), or renamed (a spare mount process, MountSpare, does not exit: it
     * changes its name once everything of the mount is closed).
     */
    static boolean awaitExit(long pid, ProcStat before, long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (System.nanoTime() < deadline) {
            ProcStat now = ProcStat.of(pid);
            if (now == null || now.exited() || now.startTicks() != before.startTicks() || !now.name().equals(before.name())) {
                return true; // gone, a zombie, another process that got the pid later, or renamed
            }
            Thread.sleep(10);
        }
        return false;
    }

    /**
     * The mount process serving mp, found without its store: a process running the mount command
     * whose command line ends with mp, or a spare mount process (MountSpare) serving a later mount,
     * whose command line names its first, or the launcher's cowfs mount serving its own mount
     * (LauncherHandshake), whose command line may name mp relatively: these two hold a handle on
     * the mountpoint while they serve.
     */
    static Long daemonPid(Path mp) {
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path d : (Iterable<Path>) procs::iterator) {
                String n = d.getFileName().toString();
                if (!n.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                try {
                    java.util.List<String> args = java.util.Arrays.asList(new String(Files.readAllBytes(d.resolve("cmdline"))).split("\0"));
                    if (!args.contains(Main.class.getName()) || !args.contains("mount")) {
                        continue;
                    }
                    ProcStat st = ProcStat.of(Long.parseLong(n));
                    boolean named = st != null && st.name().startsWith("cowfs-"); // a spare, or the launcher's mount JVM
                    if (named ? holds(d, mp)
                            : args.contains("--foreground") && Path.of(args.get(args.size() - 1)).toAbsolutePath().normalize().equals(mp)) {
                        return Long.parseLong(n);
                    }
                } catch (java.io.IOException | RuntimeException e) {
                    // the process went away meanwhile
                }
            }
        } catch (java.io.IOException e) {
            return null;
        }
        return null;
    }

    /** Whether the process at /proc/PID has a file descriptor on path. */
    private static boolean holds(Path proc, Path path) throws java.io.IOException {
        try (var fds = Files.list(proc.resolve("fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    if (Files.readSymbolicLink(fd).equals(path)) {
                        return true;
                    }
                } catch (java.io.IOException e) {
                    // closed meanwhile
                }
            }
        }
        return false;
    }
}
