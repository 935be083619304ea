package io.cowfs.blockstore.run;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A mount record left by a killed mount names a pid that another process may have by now: the
 * record counts as live only if that process is the one that wrote it. A record with the
 * writer's start time (clock ticks after boot) is matched on it, whatever the wall clock did
 * since; an older record without it, on the record's mtime. A killed process that nobody has
 * reaped yet (a zombie) is gone.
 */
class MountRecordTest {
    @TempDir
    Path tmp;

    /** A record of pid written to file now, as a mount before 2026-12-03 wrote it (no start time). */
    private MountRecord record(Path file, long pid) throws Exception {
        return written(file, "pid=" + pid + "\nmountpoint=/mnt/x\nname=v\n");
    }

    /** A record of pid with the writer's start time in clock ticks, as a mount writes it now. */
    private MountRecord recordStarted(Path file, long pid, long started) throws Exception {
        return written(file, "pid=" + pid + "\nstarted=" + started + "\nmountpoint=/mnt/x\nname=v\n");
    }

    private static MountRecord written(Path file, String text) throws Exception {
        Files.writeString(file, text);
        return MountRecord.read(7, file, new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void aRecordIsLiveOnlyWhileTheProcessThatCouldHaveWrittenItRuns() throws Exception {
        Process other = new ProcessBuilder("sleep", "120").start();
        try {
            Path file = tmp.resolve("view-7.mount");
            MountRecord m = record(file, other.pid());
            assertTrue(m.alive(), "written after the process started: it may be its writer");

            // the same pid in a record written a minute before that process started: a reused pid
            Files.setLastModifiedTime(file, FileTime.from(Instant.now().minusSeconds(60)));
            assertFalse(m.alive(), "a process younger than the record did not write it");

            assertTrue(record(tmp.resolve("view-8.mount"), ProcessHandle.current().pid()).alive(), "this process wrote it just now");
            other.destroyForcibly().waitFor();
            Files.setLastModifiedTime(file, FileTime.from(Instant.now()));
            assertFalse(m.alive(), "the process is gone");
        } finally {
            other.destroyForcibly();
        }
    }

    @Test
    void aRecordWithTheWritersStartTimeStaysLiveWhenTheWallClockSteps() throws Exception {
        Process other = new ProcessBuilder("sleep", "120").start();
        try {
            long ticks = ProcStat.of(other.pid()).startTicks();
            assertTrue(ticks > 0, "start time of a running process: " + ticks);
            Path file = tmp.resolve("view-7.mount");
            MountRecord m = recordStarted(file, other.pid(), ticks);
            // what a forward step of the clock after the mount looks like to wall-clock times: the
            // record seems written long before its writer started (the old check said dead)
            Files.setLastModifiedTime(file, FileTime.from(Instant.now().minusSeconds(600)));
            assertTrue(m.alive(), "the process with the record's pid and start time wrote it");
            assertFalse(recordStarted(tmp.resolve("view-9.mount"), other.pid(), ticks - 1).alive(),
                    "the same pid with another start time is another process");
            other.destroyForcibly().waitFor();
            assertFalse(m.alive(), "the process is gone");
        } finally {
            other.destroyForcibly();
        }
    }

    @Test
    void aKilledProcessNotReapedYetIsGone() throws Exception {
        // perl forks a child that exits at once and never reaps it: a zombie
        Process parent = new ProcessBuilder("perl", "-e", "$| = 1; my $p = fork(); exit 0 if $p == 0; print \"$p\\n\"; sleep 120").start();
        try {
            long pid = Long.parseLong(new java.io.BufferedReader(new java.io.InputStreamReader(parent.getInputStream())).readLine().trim());
            Path stat = Path.of("/proc", Long.toString(pid), "stat");
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!Files.readString(stat).contains(") Z ") && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertTrue(Files.readString(stat).contains(") Z "), "the child is a zombie: " + Files.readString(stat));
            assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the JDK counts a zombie as alive");
            Path file = tmp.resolve("view-7.mount");
            assertFalse(recordStarted(file, pid, ProcStat.of(pid).startTicks()).alive(), "a zombie serves no mount");
            assertFalse(record(tmp.resolve("view-8.mount"), pid).alive(), "nor without a start time in the record");
        } finally {
            parent.destroyForcibly().waitFor();
        }
    }
}
