package io.cowfs.blockstore.run;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Properties;

/**
 * One {@code run/view-ID.mount} file (docs/FORMAT.md, "run/"): the process serving a mount, its
 * mountpoint and the name it mounted. Snapshot mounts use a negative id of their own.
 *
 * @param viewId     the view's id, or minus the pid of a read-only snapshot mount
 * @param pid        the mount process (0 if the file names none)
 * @param mountpoint as given to the mount, absolute and normalised
 * @param name       the catalog name mounted
 * @param file       the record's file
 * @param started    the mount process's start time in clock ticks after boot (field 22 of
 *                   /proc/PID/stat), or -1 in a record written before 2026-12-03
 */
public record MountRecord(long viewId, long pid, String mountpoint, String name, Path file, long started) {
    /** True for a writable view's mount (snapshot mounts, with negative ids, never write). */
    public boolean writable() {
        return viewId > 0;
    }

    /**
     * True if the process that wrote the record still runs. A record outlives a mount killed
     * with kill -9, and pids wrap (at 32,768 on the CI machine kind): the process with the
     * record's pid must also have the record's start time. That is counted in clock ticks after
     * boot, which a step of the wall clock (NTP, a resumed VM or laptop) does not move; a record
     * without it falls back to comparing wall-clock times ({@link #wrote}).
     */
    public boolean alive() {
        String[] stat = stat(pid);
        if (stat != null && (stat[0].equals("Z") || stat[0].equals("X"))) {
            return false; // killed, not reaped yet (a container's pid 1 may never reap it)
        }
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).map(p -> {
            long now = started >= 0 && stat != null ? Long.parseLong(stat[1]) : -1;
            return now >= 0 ? now == started : wrote(p, file);
        }).orElse(false);
    }

    /** Start time of process pid in clock ticks after boot (/proc/PID/stat field 22), or -1 if it cannot be read. */
    static long startTicks(long pid) {
        String[] stat = stat(pid);
        return stat == null ? -1 : Long.parseLong(stat[1]);
    }

    /** {state, start time in ticks} of process pid from /proc/PID/stat, or null if it cannot be read. */
    private static String[] stat(long pid) {
        try {
            String s = java.nio.file.Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" "); // "pid (comm) S ...": comm may hold ')'
            Long.parseLong(f[19]);
            return new String[] {f[0], f[19]};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * False if p started after file was last written (by more than the 2 s the JDK's start
     * times may be off by: they count from the boot time, which Linux gives in seconds). Wrong
     * after a step of the wall clock since p started: only for records without a start time.
     */
    static boolean wrote(ProcessHandle p, Path file) {
        java.util.Optional<java.time.Instant> start = p.info().startInstant();
        if (start.isEmpty()) {
            return true;
        }
        try {
            return !start.get().isAfter(java.nio.file.Files.getLastModifiedTime(file).toInstant().plusSeconds(2));
        } catch (IOException e) {
            return true;
        }
    }

    static MountRecord read(long viewId, Path file, InputStream in) throws IOException {
        Properties p = new Properties();
        p.load(in);
        long pid;
        try {
            pid = Long.parseLong(p.getProperty("pid", "0"));
        } catch (NumberFormatException e) {
            throw new IOException(file + ": no pid (" + e.getMessage() + ")", e);
        }
        long started;
        try {
            started = Long.parseLong(p.getProperty("started", "-1"));
        } catch (NumberFormatException e) {
            started = -1;
        }
        return new MountRecord(viewId, pid, p.getProperty("mountpoint", "?"), p.getProperty("name", "?"), file, started);
    }

    Properties toProperties() {
        Properties p = new Properties();
        p.setProperty("pid", Long.toString(pid));
        p.setProperty("mountpoint", mountpoint);
        p.setProperty("name", name);
        if (started >= 0) {
            p.setProperty("started", Long.toString(started));
        }
        return p;
    }
}
