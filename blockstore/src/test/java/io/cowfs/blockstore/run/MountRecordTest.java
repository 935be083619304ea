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
 * record counts as live only if that process started before the record was last written.
 */
class MountRecordTest {
    @TempDir
    Path tmp;

    private MountRecord record(Path file, long pid) throws Exception {
        String text = "pid=" + pid + "\nmountpoint=/mnt/x\nname=v\n";
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
}
