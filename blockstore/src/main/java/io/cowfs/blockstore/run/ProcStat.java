package io.cowfs.blockstore.run;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What /proc/PID/stat says of a process that cowfs needs: its name, its state, and its start time
 * in clock ticks after boot (field 22), which tells one process from a later one with the same
 * pid and, unlike wall-clock start times, does not move when the clock is stepped.
 *
 * @param name       the process name (comm; a spare mount process renames itself)
 * @param state      one letter: R, S, D, Z (exited, not reaped yet), X, ...
 * @param startTicks start time in clock ticks after boot
 */
public record ProcStat(String name, String state, long startTicks) {
    /** The process's state, or null if it is gone (or /proc cannot be read). */
    public static ProcStat of(long pid) {
        try {
            String s = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            int close = s.lastIndexOf(')'); // "pid (comm) S ...": comm may hold ')'
            String[] f = s.substring(close + 2).split(" ");
            return new ProcStat(s.substring(s.indexOf('(') + 1, close), f[0], Long.parseLong(f[19]));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** Exited: a zombie waiting for its parent to reap it (a container's pid 1 may never) or dead. */
    public boolean exited() {
        return state.equals("Z") || state.equals("X");
    }
}
