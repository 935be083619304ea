package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The filesystem holding a store goes read-only under a writable mount: what a disk error does to
 * an ext4 mounted errors=remount-ro (here its own trigger_fs_error). What the view holds and has not
 * stored can then never be stored, and an unmount would drop it with the mount: `cowfs umount`
 * first asks the mount to persist, and on failure says why, keeps the mount (its files stay
 * readable, to be copied out) and exits 1. Before, it unmounted and said "unmounted" (exit 0).
 * Closes of files with nothing of their own waiting succeed meanwhile (before, each failed with EIO).
 */
class StoreGoneReadOnlyIT {
    @TempDir
    Path tmp;

    /** What a test does with an ext4 at fs (mounted errors=remount-ro) and its error trigger. */
    private interface Body {
        void run(Path fs, Path trigger) throws Exception;
    }

    /** A fresh ext4 loop filesystem mounted errors=remount-ro at tmp/ext4 for body; skips where it cannot be made. */
    private void onExt4(Body body) throws Exception {
        assumeTrue(Accounts.isRoot(), "skipped: a loop filesystem needs root");
        Path fs = Files.createDirectory(tmp.resolve("ext4"));
        Cowfs.sh(tmp, "truncate -s 256m fs.img && mkfs.ext4 -q -F fs.img");
        Cowfs.Result loop = Cowfs.shRc(tmp, "losetup -f --show fs.img");
        assumeTrue(loop.rc() == 0, "no loop device here: " + loop.out());
        String dev = loop.out().trim();
        try {
            Cowfs.sh(tmp, "mount -o errors=remount-ro " + dev + " ext4");
            Path trigger = Path.of("/sys/fs/ext4", Path.of(dev).getFileName().toString(), "trigger_fs_error");
            assumeTrue(Files.exists(trigger), "this kernel has no " + trigger);
            Cowfs.sh(fs, "mkdir src && echo hi > src/a");
            body.run(fs, trigger);
        } finally {
            Cowfs.shRc(tmp, "umount ext4 || umount -l ext4; losetup -d " + dev);
        }
    }

    /**
     * Such an ext4 still says rw to statvfs (Linux 6.18: "emergency_ro" in its options): the store
     * is found read-only by its lock file refusing to open for writing, and opens read-only.
     */
    @Test
    void aStoreWhoseFilesystemTheKernelMadeReadOnlyOpensReadOnly() throws Exception {
        onExt4((fs, trigger) -> {
            try (Cowfs c = new Cowfs(fs)) {
                c.run("import", fs.resolve("src").toString(), "--name", "s").ok();
                Cowfs.sh(tmp, "echo test > " + trigger);
                assertTrue(Cowfs.shRc(tmp, "touch ext4/x").rc() != 0, "the store's filesystem is read-only now");
                assertTrue(c.run("list").ok().out().contains("s "), "list");
                c.run("export", "s", tmp.resolve("out").toString()).ok();
                assertEquals("hi\n", Files.readString(tmp.resolve("out/a")));
                assertTrue(c.run("verify").ok().out().contains("all good"));
                Cowfs.Result r = c.run("import", fs.resolve("src").toString(), "--name", "s2").fails(1);
                assertTrue(r.err().contains("read-only filesystem"), r.err());
            }
        });
    }

    @Test
    void umountRefusesToDropWhatTheViewCouldNotStoreAndTheMountStaysReadable() throws Exception {
        Cowfs.assumeFuse();
        onExt4((fs, trigger) -> {
            try (Cowfs c = new Cowfs(fs)) {
                c.run("import", fs.resolve("src").toString(), "--name", "s").ok();
                c.run("fork", "s", "--name", "v").ok();
                Cowfs.Mounted m = c.mount("v");
                Cowfs.sh(m.dir, "echo before > b");
                Cowfs.sh(tmp, "echo test > " + trigger); // the kernel makes the filesystem read-only
                assertTrue(Cowfs.shRc(tmp, "touch ext4/x").rc() != 0, "the store's filesystem is read-only now");
                Cowfs.shRc(m.dir, "echo after > c"); // the write returns; its close cannot store it

                Cowfs.Result r = c.run("umount", m.dir.toString()).fails(1);
                assertEquals(1, r.err().strip().lines().count(), r.err());
                assertTrue(r.err().contains("cannot store what it holds") && r.err().contains("Read-only file system")
                        && r.err().contains("fusermount -u " + m.dir), r.err());
                assertTrue(Cowfs.isMounted(m.dir), "the mount stays, with what it could not store");
                assertTrue(Cowfs.shRc(m.dir, "cat c").out().contains("after"), "still readable, to be copied out");
                // files with nothing of their own waiting close cleanly (cp -a can copy them out without errors);
                // before, every close retried the commit of the whole view and failed with EIO
                Cowfs.Result clean = Cowfs.shRc(m.dir, "cat a b");
                assertEquals(0, clean.rc(), clean.out());
                assertEquals("hi\nbefore\n", clean.out());
                assertTrue(Cowfs.shRc(tmp, "cp -a " + m.dir + "/a " + m.dir + "/b .").rc() == 0, "copied out");
            } // Cowfs.close: cowfs umount refuses again; the lazy unmount drops it
        });
    }
}
