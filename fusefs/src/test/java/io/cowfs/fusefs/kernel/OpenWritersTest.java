package io.cowfs.fusefs.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * How the snapshot's flush finds files held open for writing, on a host filesystem (the real
 * mount's case is SnapshotDrainIT): a child process holds one file open for writing, one for
 * reading and maps none; only the first is flushed. Files live in /dev/shm (tmpfs), where few
 * other processes hold anything.
 */
class OpenWritersTest {
    @Test
    void aFileHeldOpenForWritingIsFlushedAndOneOpenForReadingIsNot() throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/dev/shm"), "openwriters-");
        Path written = Files.writeString(dir.resolve("written"), "w");
        Path read = Files.writeString(dir.resolve("read"), "r");
        Process p = new ProcessBuilder("sh", "-c", "exec 3>>\"$1\" 4<\"$2\"; echo up; exec sleep 60", "sh", written.toString(),
                read.toString()).redirectErrorStream(true).start();
        try {
            assertEquals('u', p.getInputStream().read(), "the child holds its files");
            long dev = (long) Files.getAttribute(written, "unix:dev");
            Set<Long> flushed = OpenWriters.flushed(dev, LibC.get());
            assertTrue(flushed.contains((long) Files.getAttribute(written, "unix:ino")), "held for writing: " + flushed);
            assertFalse(flushed.contains((long) Files.getAttribute(read, "unix:ino")), "held for reading: " + flushed);
            assertFalse(OpenWriters.isFlusher(OpenWriters.threadId()), "the flush is over");
        } finally {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            Files.delete(written);
            Files.delete(read);
            Files.delete(dir);
        }
    }

    @Test
    void devicesAndFieldsAreReadAsTheKernelWritesThem() {
        for (long[] mm : new long[][] {{0, 62}, {8, 1}, {259, 3}, {0, 4096}, {4095, 1 << 19}}) {
            long dev = OpenWriters.makedev(mm[0], mm[1]);
            assertEquals(mm[0], OpenWriters.major(dev));
            assertEquals(mm[1], OpenWriters.minor(dev));
        }
        assertEquals(0x3a, OpenWriters.makedev(0, 0x3a)); // a FUSE mount's 0:58
        byte[] fdinfo = "pos:\t0\nflags:\t0100002\nmnt_id:\t36\nino:\t123\n".getBytes();
        assertEquals(0100002, OpenWriters.field(fdinfo, fdinfo.length, "flags:", 8));
        assertEquals(36, OpenWriters.field(fdinfo, fdinfo.length, "mnt_id:", 10));
        assertEquals(123, OpenWriters.field(fdinfo, fdinfo.length, "ino:", 10));
        assertEquals(0, OpenWriters.field(fdinfo, fdinfo.length, "pos:", 10));
        assertEquals(-1, OpenWriters.field(fdinfo, fdinfo.length, "lock:", 10));
        assertEquals(-1, OpenWriters.field(fdinfo, 20, "mnt_id:", 10), "past len: not read");
    }
}
