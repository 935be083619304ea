package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.Packs;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A mount reads its snapshot's first inodes and their directories into its caches once it is up
 * (fusefs mount.MetadataWarmer, {@code cowfs.warmInodes}), through real mounts: it says so in the
 * mount's log with the counts the tree has, a view over the snapshot does it too and then lists
 * and reads as the source, {@code cowfs.warmInodes=0} reads nothing, and a damaged directory
 * object stops the warm-up without taking the mount down (that directory is EIO, the rest reads).
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class MountWarmIT {
    private static final Pattern WARMED = Pattern.compile("cowfs: (\\d+) inodes and (\\d+) directory entries read at mount");

    /** src/t: d00..d19 of six files each, and d00/deep/er. */
    private static Path source(Path tmp) throws Exception {
        Path t = Files.createDirectories(tmp.resolve("src/t"));
        for (int d = 0; d < 20; d++) {
            Path dir = Files.createDirectory(t.resolve(String.format("d%02d", d)));
            for (int f = 0; f < 6; f++) {
                Files.writeString(dir.resolve("f" + f), "file " + d + "/" + f + "\n");
            }
        }
        Files.createDirectories(t.resolve("d00/deep/er"));
        return t;
    }

    /** Names under src's parent (the imported root), each one entry of some directory. */
    private static long entries(Path src) throws Exception {
        try (Stream<Path> s = Files.walk(src.getParent())) {
            return s.count() - 1;
        }
    }

    private static String walk(Path dir) throws Exception {
        return Cowfs.sh(dir, "find . -printf '%y %p %m\\n' | LC_ALL=C sort; find . -type f -exec md5sum {} + | LC_ALL=C sort");
    }

    /** What the mount's log says it warmed (at its end); null if it says nothing. */
    private static long[] warmed(Path log) throws Exception {
        Matcher m = WARMED.matcher(Files.readString(log));
        return m.find() ? new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))} : null;
    }


    @Test
    void aMountWarmsItsSnapshotsMetadataAndServesAsTheSource(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        Path src = source(tmp);
        try (Cowfs cowfs = new Cowfs(tmp)) {
            cowfs.run("import", src.getParent().toString(), "--name", "snap").ok();
            cowfs.run("fork", "snap", "--name", "v").ok();
            for (String name : new String[] {"snap", "v"}) {
                Path mp = Files.createDirectory(tmp.resolve("mp-" + name));
                Process mount = ReadPathIT.foregroundMount(cowfs, name, mp);
                try {
                    ReadPathIT.waitMounted(mount, mp);
                    assertEquals(walk(src), walk(mp.resolve("t")), name);
                } finally {
                    ReadPathIT.stopForeground(mount, mp);
                }
                assertEquals(0, mount.exitValue(), name + ": the mount process ends cleanly");
                long[] got = warmed(cowfs.root.resolve("mount-" + name + ".log"));
                assertTrue(got != null, name + ": the mount says what it read");
                // every inode (one per name and the root) and slot 0 of the one page, which no inode uses
                assertEquals(entries(src) + 2, got[0], name + ": inodes");
                assertEquals(entries(src), got[1], name + ": every directory's entries");
            }
        }
    }

    @Test
    void switchedOffNothingIsRead(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        Path src = source(tmp);
        try (Cowfs cowfs = new Cowfs(tmp)) {
            cowfs.run("import", src.getParent().toString(), "--name", "snap").ok();
            Path mp = Files.createDirectory(tmp.resolve("mp"));
            Process mount = ReadPathIT.foregroundMount(cowfs, "snap", mp, "-Dcowfs.warmInodes=0");
            try {
                ReadPathIT.waitMounted(mount, mp);
                assertEquals(walk(src), walk(mp.resolve("t")));
            } finally {
                ReadPathIT.stopForeground(mount, mp);
            }
            assertEquals(null, warmed(cowfs.root.resolve("mount-snap.log")), "cowfs.warmInodes=0: no warm-up");
            assertTrue(!Files.readString(cowfs.root.resolve("mount-snap.log")).contains("warm-up"), "nor a word of one");
        }
    }

    @Test
    void aDamagedDirectoryStopsTheWarmUpNotTheMount(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        Path src = source(tmp);
        try (Cowfs cowfs = new Cowfs(tmp)) {
            cowfs.run("import", src.getParent().toString(), "--name", "snap").ok();
            ChunkLocation loc;
            try (Store s = Store.open(cowfs.store)) {
                SnapshotReader r = new SnapshotReader(s, new Catalog(s).get("snap").root());
                Inode t = r.inode(r.dir(r.inode(1)).get("t").ino());
                Inode d05 = r.inode(r.dir(t).get("d05").ino());
                loc = s.locate(d05.dirObject);
            }
            Fx.flipByte(cowfs.store.resolve("packs").resolve(Packs.fileName(loc.pack())),
                    loc.offset() + PackRecord.HEADER + loc.storedLen() - 1);
            Path mp = Files.createDirectory(tmp.resolve("mp"));
            Process mount = ReadPathIT.foregroundMount(cowfs, "snap", mp);
            try {
                ReadPathIT.waitMounted(mount, mp);
                Cowfs.Result ls = Cowfs.shRc(mp.resolve("t"), "timeout 30 ls d05");
                assertNotEquals(124, ls.rc(), "ls hung");
                assertTrue(ls.rc() != 0 && ls.err().contains("Input/output error"), "the damaged directory is EIO: " + ls);
                Cowfs.sh(mp.resolve("t"), "set -e; for d in d04 d06 d19; do for f in 0 1 2 3 4 5; do cmp $d/f$f " + src + "/$d/f$f; done; done");
                assertTrue(Cowfs.isMounted(mp), "the mount stays up");
            } finally {
                ReadPathIT.stopForeground(mount, mp);
            }
            String log = Files.readString(cowfs.root.resolve("mount-snap.log"));
            assertTrue(log.contains("cowfs: warm-up stopped"), "the warm-up says it stopped: " + log);
        }
    }
}
