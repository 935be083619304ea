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
        ProcStat st = ProcStat.of(pid);
        if (st == null || st.exited()) {
            return false; // gone, or killed and not reaped yet
        }
        return started >= 0 ? st.startTicks() == started : ProcessHandle.of(pid).map(p -> wrote(p, file)).orElse(false);
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
