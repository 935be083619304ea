package io.cowfs.cli;

import static io.cowfs.cli.CliErrorsTest.oneLineError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.run.MountRegistry;
import io.cowfs.fusefs.kernel.MountPoints;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mountpoints that another mount shares, through real mounts: a view also bind-mounted elsewhere
 * (cowfs umount refused it at once instead of detaching one path and waiting 60 s for a process
 * the bind keeps alive), and a mountpoint that already is a FUSE mount (cowfs mount stacked a
 * second view on a first whose root was empty). Bind mounts need root.
 */
class MountConflictIT {
    @TempDir
    Path tmp;

    Cowfs c;

    @BeforeEach
    void store() throws Exception {
        Cowfs.assumeFuse();
        c = new Cowfs(tmp);
        Path src = Files.createDirectories(tmp.resolve("src"));
        Files.writeString(src.resolve("a"), "one\n");
        c.run("import", src.toString(), "--name", "base").ok();
        c.run("fork", "base", "--name", "v").ok();
    }

    private static void assumeRoot() {
        Assumptions.assumeTrue(Accounts.isRoot(), "skipped: bind mounts need root");
    }

    private static void bind(Path from, Path to) throws Exception {
        Cowfs.sh(from.getParent(), "mount --bind " + from + " " + to);
    }

    /** Unmounts whatever is still at each path, lazily (a test's failure must not leave mounts). */
    private static void clear(Path... mps) throws Exception {
        for (Path mp : mps) {
            for (int i = 0; i < 3 && Cowfs.isMounted(mp); i++) {
                Fuse.unmount(mp, true);
            }
            assertFalse(Cowfs.isMounted(mp), "mount left behind at " + mp);
        }
    }

    private int mountsAt(Path mp) throws Exception {
        String want = mp.toRealPath().toString();
        return (int) MountPoints.table().stream().filter(m -> m.mountPoint().equals(want)).count();
    }

    @Test
    void umountRefusesAViewThatIsAlsoBindMountedAndChangesNothing() throws Exception {
        assumeRoot();
        Cowfs.Mounted m = c.mount("v");
        Path bind = Files.createDirectories(tmp.resolve("bind"));
        try {
            bind(m.dir, bind);
            long t0 = System.nanoTime();
            oneLineError(c.run("umount", m.dir.toString()), Main.EXIT_BUSY,
                    "is also mounted at " + bind, "umount " + bind + "), then cowfs umount " + m.dir);
            assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "refused at once");
            assertTrue(Cowfs.isMounted(m.dir) && Cowfs.isMounted(bind), "both still mounted");
            assertEquals("one\n", Files.readString(m.dir.resolve("a")));
            oneLineError(c.run("mount", "v", Files.createDirectories(tmp.resolve("mp2")).toString()), Main.EXIT_BUSY,
                    "already mounted at " + m.dir);

            // the way out it names: the bind first (a bind starts no process: unmounted as ever), then the view
            c.run("umount", bind.toString()).ok();
            assertEquals("one\n", Files.readString(m.dir.resolve("a")), "the view still answers at its mountpoint");
            assertTrue(c.run("umount", m.dir.toString()).ok().out().contains("unmounted " + m.dir));
            assertTrue(new MountRegistry(c.store).live().isEmpty(), "its process exited");
        } finally {
            clear(bind, m.dir);
        }
    }

    @Test
    void lazyUmountDetachesTheViewAndItsRecordFollowsTheBind() throws Exception {
        assumeRoot();
        Cowfs.Mounted m = c.mount("v");
        Path bind = Files.createDirectories(tmp.resolve("bind"));
        try {
            bind(m.dir, bind);
            String out = c.run("umount", "--lazy", m.dir.toString()).ok().out();
            assertTrue(out.contains("'v' stays mounted at " + bind) && out.contains("cowfs umount " + bind), out);
            assertFalse(Cowfs.isMounted(m.dir));
            assertEquals("one\n", Files.readString(bind.resolve("a")));
            // mount, show and umount all lead to where the view still is
            oneLineError(c.run("mount", "v", m.dir.toString()), Main.EXIT_BUSY, "already mounted at " + bind);
            assertTrue(c.run("show", "v").ok().out().contains(bind.toString()));
            oneLineError(c.run("umount", m.dir.toString()), Main.EXIT_NOT_FOUND, "not mounted");

            assertTrue(c.run("umount", bind.toString()).ok().out().contains("unmounted " + bind));
            assertTrue(new MountRegistry(c.store).live().isEmpty(), "umount of the bind waited for its process");
            c.run("mount", "v", m.dir.toString()).ok();
            c.run("umount", m.dir.toString()).ok();
        } finally {
            clear(bind, m.dir);
        }
    }

    @Test
    void aCopyThatMountPropagationMadeGoesWithTheViewAndIsNoBind() throws Exception {
        assumeRoot();
        Path shared = Files.createDirectories(tmp.resolve("shared"));
        Path peer = Files.createDirectories(tmp.resolve("peer"));
        Path mp = Files.createDirectories(shared.resolve("v"));
        try {
            Cowfs.sh(tmp, "mount --bind " + shared + " " + shared + " && mount --make-shared " + shared
                    + " && mount --bind " + shared + " " + peer);
            c.run("mount", "v", mp.toString()).ok();
            assertTrue(Cowfs.isMounted(peer.resolve("v")), "propagated to the peer");
            c.run("umount", mp.toString()).ok();
            assertFalse(Cowfs.isMounted(peer.resolve("v")), "the kernel unmounted the copy with it");
        } finally {
            clear(peer.resolve("v"), mp, peer, shared);
        }
    }

    @Test
    void mountOnACowfsMountIsRefusedAndNamesTheViewThere() throws Exception {
        c.run("fork", "base", "--name", "v2").ok();
        Cowfs.Mounted m = c.mount("v");
        try {
            Files.delete(m.dir.resolve("a")); // an empty root passes the mountpoint's emptiness check
            oneLineError(c.run("mount", "v2", m.dir.toString()), Main.EXIT_BUSY,
                    m.dir + " is already a mountpoint of view 'v' (pid ", "cowfs umount " + m.dir);
            assertEquals(1, mountsAt(m.dir), "nothing stacked");
            assertTrue(new MountRegistry(c.store).live().values().stream().noneMatch(r -> r.name().equals("v2")));
            c.run("umount", m.dir.toString()).ok();
        } finally {
            clear(m.dir);
        }
    }

    @Test
    void mountOnAFuseMountOfAnotherStoreNamesItsTypeAndSource() throws Exception {
        Cowfs other = new Cowfs(Files.createDirectories(tmp.resolve("other")));
        other.run("import", tmp.resolve("src").toString(), "--name", "w").ok();
        Cowfs.Mounted m = other.mount("w");
        try {
            oneLineError(c.run("mount", "v", m.dir.toString()), Main.EXIT_BUSY, "already a mountpoint of fuse.cowfs (cowfs:w)");
            assertEquals(1, mountsAt(m.dir));
        } finally {
            other.close();
        }
    }

    @Test
    void aDirectoryWithATmpfsMountedOnItIsAnOrdinaryMountpoint() throws Exception {
        assumeRoot();
        Path mp = Files.createDirectories(tmp.resolve("tmpfs"));
        try {
            Cowfs.sh(tmp, "mount -t tmpfs tmpfs " + mp);
            c.run("mount", "v", mp.toString()).ok();
            assertEquals("one\n", Files.readString(mp.resolve("a")));
            c.run("umount", mp.toString()).ok();
        } finally {
            clear(mp);
            Cowfs.shRc(tmp, "mountpoint -q " + mp + " && umount " + mp);
        }
    }
}
