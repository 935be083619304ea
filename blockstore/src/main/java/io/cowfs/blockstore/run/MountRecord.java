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
 */
public record MountRecord(long viewId, long pid, String mountpoint, String name, Path file) {
    /** True for a writable view's mount (snapshot mounts, with negative ids, never write). */
    public boolean writable() {
        return viewId > 0;
    }

    /**
     * True if the process that wrote the record still runs. A record outlives a mount killed
     * with kill -9, and pids wrap (at 32,768 on the CI machine kind): a process that started
     * after the record was last written did not write it, whatever its pid.
     */
    public boolean alive() {
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).map(p -> wrote(p, file)).orElse(false);
    }

    /**
     * False if p started after file was last written (by more than the 2 s the JDK's start
     * times may be off by: they count from the boot time, which Linux gives in seconds).
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
        return new MountRecord(viewId, pid, p.getProperty("mountpoint", "?"), p.getProperty("name", "?"), file);
    }

    Properties toProperties() {
        Properties p = new Properties();
        p.setProperty("pid", Long.toString(pid));
        p.setProperty("mountpoint", mountpoint);
        p.setProperty("name", name);
        return p;
    }
}
