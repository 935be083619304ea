package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.OtherProcess;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** OfdLock's two kinds and two forms, within this process and against another's POSIX probe. */
class OfdLockTest {
    @TempDir
    Path tmp;

    @Test
    void locksOfOneProcessConflictAsTwoProcessesDoAndOnlyTheirOwnReleaseDropsThem() throws Exception {
        OtherProcess.assumePython();
        Path f = Files.createFile(tmp.resolve("f.lock"));
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            OfdLock a = OfdLock.tryLock(f, ch, true);
            OfdLock b = OfdLock.tryLock(f, ch, true);
            assertNotNull(a);
            assertNotNull(b, "shared locks coexist");
            assertTrue(a.ofd(), "this kernel and filesystem take OFD locks");
            assertNull(OfdLock.tryLock(f, ch, false), "no exclusive lock while shared ones are held, in this process too");
            assertFalse(a.tryExclusive(), "nor a conversion while b is held");
            assertTrue(a.shared());
            try (FileChannel other = FileChannel.open(f, StandardOpenOption.READ)) {
                other.size(); // a descriptor of the file closed in this process leaves OFD locks
            }
            b.release();
            assertEquals(OtherProcess.REFUSED, OtherProcess.lockf(f), "a's shared lock is left after b's release and another channel's close");
            assertTrue(a.tryExclusive());
            assertFalse(a.shared());
            assertNull(OfdLock.tryLock(f, ch, true), "exclusive now");
            CompletableFuture<OfdLock> waiter = CompletableFuture.supplyAsync(() -> {
                try {
                    return OfdLock.lock(f, ch, true);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            Thread.sleep(200);
            assertFalse(waiter.isDone(), "the blocking form waits");
            a.release();
            OfdLock c = waiter.get(10, TimeUnit.SECONDS);
            assertEquals(OtherProcess.REFUSED, OtherProcess.lockf(f), "c holds it");
            c.release();
            assertEquals(0, OtherProcess.lockf(f));
        }
    }

    @Test
    void aSharedLockOfAFileThatCannotBeOpenedForWritingIsStillAnOfdLock() throws Exception {
        Path f = Files.createFile(tmp.resolve("ro.lock"));
        // immutable: not even root opens it for writing (EPERM), as a user may not a shared store's lock file
        org.junit.jupiter.api.Assumptions.assumeTrue(new ProcessBuilder("chattr", "+i", f.toString()).start().waitFor() == 0,
                "chattr +i works here");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            OfdLock a = OfdLock.tryLock(f, ch, true);
            assertNotNull(a);
            assertTrue(a.ofd(), "an OFD lock on a read-only descriptor, not the POSIX fallback");
            OfdLock b = OfdLock.tryLock(f, ch, true);
            assertNotNull(b, "a second shared lock");
            a.release();
            b.release();
        } finally {
            new ProcessBuilder("chattr", "-i", f.toString()).start().waitFor();
        }
    }

    /**
     * The fallback where OFD locks are refused (Linux before 3.15, or a filesystem without them):
     * a POSIX lock through the caller's channel, which another process sees; a second lock of the
     * file in this JVM is an OverlappingFileLockException, as FileChannel's; a conversion to
     * exclusive and a release work through it.
     */
    @Test
    void whereOfdLocksAreRefusedTheLockIsAPosixLockOtherProcessesSee() throws Exception {
        OtherProcess.assumePython();
        Path f = Files.createFile(tmp.resolve("posix.lock"));
        OfdLock.POSIX_ONLY.add(f);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            OfdLock a = OfdLock.tryLock(f, ch, true);
            assertNotNull(a);
            assertFalse(a.ofd(), "the POSIX fallback");
            assertEquals(OtherProcess.REFUSED, OtherProcess.lockf(f), "another process sees the shared lock");
            assertThrows(java.nio.channels.OverlappingFileLockException.class, () -> OfdLock.tryLock(f, ch, true),
                    "a second lock of the file in this JVM");
            assertTrue(a.tryExclusive(), "no other holder: the conversion goes through");
            assertFalse(a.shared());
            assertEquals(OtherProcess.REFUSED, OtherProcess.lockf(f), "exclusive now");
            a.release();
            a.release(); // once; later calls do nothing
            assertEquals(0, OtherProcess.lockf(f), "released");
            OfdLock b = OfdLock.lock(f, ch, false); // the waiting form, nothing to wait for
            assertFalse(b.ofd());
            assertEquals(OtherProcess.REFUSED, OtherProcess.lockf(f));
            b.release();
            assertEquals(0, OtherProcess.lockf(f));
        } finally {
            OfdLock.POSIX_ONLY.remove(f);
        }
    }
}
