package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An index that LMDB cannot open for a reason that is not a bad page is not damage. The case
 * made here is real: lock.mdb found empty while another process holds the lock LMDB takes on its
 * first byte; liblmdb then maps the 0-byte lock file and fails with EINVAL. Before, cowfs called
 * that a damaged index, salvaged it and sent the user to 'fsck --repair'. Now it opens the index
 * again for up to 1.6 s, then refuses in one line, and nothing in the store changes.
 */
class IndexBusyTest {
    @TempDir
    Path tmp;

    private Path src;
    private Map<String, byte[]> files;

    @BeforeEach
    void source() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Cowfs.shRc(tmp, "command -v python3").rc() == 0, "needs python3");
        src = tmp.resolve("src");
        files = Map.of("a.bin", Fx.random(1, 300_000), "d/b.txt", "hello\n".getBytes(StandardCharsets.UTF_8));
        Fx.writeTree(src, files);
    }

    /**
     * Empties lock.mdb and starts a process that holds a shared POSIX lock of its first byte (as
     * every process with the index open does) for the given time; returns once the lock is held.
     */
    private static Process emptyLockHeld(Path store, double seconds) throws Exception {
        Path lock = store.resolve("index").resolve("lock.mdb");
        Files.write(lock, new byte[0]);
        Process p = new ProcessBuilder("python3", "-c", String.join("\n",
                "import fcntl, sys, time",
                "f = open(sys.argv[1], 'r+')",
                "fcntl.lockf(f, fcntl.LOCK_SH, 1, 0)",
                "print('held', flush=True)",
                "time.sleep(float(sys.argv[2]))"), lock.toString(), String.valueOf(seconds))
                .redirectErrorStream(true).start();
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        assertEquals("held", r.readLine(), "the lock holder started");
        return p;
    }

    private void intact(Cowfs c) throws Exception {
        c.run("fsck").ok();
        c.run("verify").ok();
        assertEquals(Fx.hashTree(src), Fx.exported(c, "a"));
    }

    /** gc run while lock.mdb is empty and held by another process for the given time. */
    private static Cowfs.Result gcWhileEmptyLockHeld(Cowfs c, double seconds) throws Exception {
        Process holder = emptyLockHeld(c.store, seconds);
        try {
            return c.run("gc");
        } finally {
            holder.destroyForcibly().waitFor();
        }
    }

    @Test
    void aBusyLockFileIsWaitedForNotCalledDamage() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "a").ok();
            Cowfs.Result gc = gcWhileEmptyLockHeld(c, 0.8);
            assertFalse(gc.err().contains("damaged"), "not called damage: " + gc.err());
            gc.ok();
            intact(c);
        }
    }

    /**
     * The other side of the line: a meta page whose last page lies far past its map (one bit
     * flipped high) would make liblmdb ask for more memory than there is (ENOMEM, a system error):
     * that is damage, found in Java before liblmdb opens the file, and the store opens as a
     * salvage that fsck --repair rebuilds, never "cannot open" for good.
     */
    @Test
    void aLastPageFarPastTheMapIsDamageNotARefusal() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "a").ok();
            Path data = c.store.resolve("index").resolve("data.mdb");
            int slot;
            try (io.cowfs.blockstore.store.LmdbPages p = io.cowfs.blockstore.store.LmdbPages.open(data)) {
                slot = p.newest().slot();
            }
            try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(data.toFile(), "rw")) {
                long at = slot * 4096L + 136; // last_pg of that meta page
                f.seek(at + 5);
                int b = f.read();
                f.seek(at + 5);
                f.write(b ^ 0x01); // bit 40
            }
            Cowfs.Result list = c.run("list").ok();
            assertTrue(list.err().contains("damaged") && list.err().contains("beyond its map"), list.err());
            assertTrue(list.out().lines().anyMatch(l -> l.startsWith("a ")), "the salvage lists snapshot a: " + list.out());
            c.run("fsck", "--repair").ok();
            intact(c);
        }
    }

    @Test
    void aLockFileBusyForLongIsRefusedInOneLineAndTheStoreIsUntouched() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "a").ok();
            String err = gcWhileEmptyLockHeld(c, 30).fails(1).err().strip();
            assertEquals(1, err.lines().count(), "one line: " + err);
            assertTrue(err.contains("cannot open the index") && err.contains("EINVAL"), err);
            assertFalse(err.contains("damaged") || err.contains("--repair"), "not called damage: " + err);
            intact(c);
        }
    }
}
