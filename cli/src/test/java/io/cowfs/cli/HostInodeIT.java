package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mounts report the host's inode numbers of imported files (git's index sees them unchanged), but
 * those are unique on one device only. A source holding two other filesystems (two tmpfs, whose
 * inode numbers both start at 1) with a hard-linked pair on each: through a mount of the snapshot
 * and of a fork, the four names are two files, not one, and tar copies them apart (before the fix,
 * tar took the second pair for links to the first and wrote the first's bytes under its names).
 */
class HostInodeIT {
    @TempDir
    Path tmp;

    private static long ino(Path p) throws Exception {
        return (Long) Files.getAttribute(p, "unix:ino");
    }

    @Test
    void filesOfOtherFilesystemsInsideTheSourceKeepApartInMounts() throws Exception {
        Cowfs.assumeFuse();
        Assumptions.assumeTrue(Accounts.isRoot(), "skipped: mounting tmpfs needs root");
        Path src = tmp.resolve("src");
        Cowfs.sh(tmp, "mkdir -p src/t1 src/t2 && echo root > src/top");
        try {
            Cowfs.sh(tmp, "mount -t tmpfs -o size=1m none src/t1 && mount -t tmpfs -o size=1m none src/t2"
                    + " && printf AAAA > src/t1/a && ln src/t1/a src/t1/b && printf BBBBBBBB > src/t2/c && ln src/t2/c src/t2/d");
            Assumptions.assumeTrue(ino(src.resolve("t1/a")) == ino(src.resolve("t2/c")),
                    "skipped: the two tmpfs gave their files different inode numbers");
            try (Cowfs c = new Cowfs(tmp)) {
                c.run("import", src.toString(), "--name", "snap").ok();
                c.run("fork", "snap", "--name", "v").ok();
                for (String name : new String[] {"snap", "v"}) {
                    try (Cowfs.Mounted m = c.mount(name)) {
                        assertNotEquals(ino(m.dir.resolve("t1/a")), ino(m.dir.resolve("t2/c")), name + ": two files");
                        assertEquals(ino(m.dir.resolve("t1/a")), ino(m.dir.resolve("t1/b")), name + ": one file, two names");
                        assertEquals(ino(m.dir.resolve("t2/c")), ino(m.dir.resolve("t2/d")), name + ": one file, two names");
                        assertEquals(ino(src.resolve("top")), ino(m.dir.resolve("top")), name + ": the source's own device keeps its numbers");
                        Path copy = tmp.resolve("copy-" + name);
                        Files.createDirectories(copy);
                        Cowfs.sh(tmp, "tar -C " + m.dir + " -cf - . | tar -C " + copy + " -xf -");
                        assertEquals("AAAA", Files.readString(copy.resolve("t1/b")));
                        assertEquals("BBBBBBBB", Files.readString(copy.resolve("t2/c")), name + ": tar copied c as a link to a");
                        assertEquals("BBBBBBBB", Files.readString(copy.resolve("t2/d")));
                    }
                }
            }
        } finally {
            Cowfs.shRc(tmp, "umount src/t1; umount src/t2");
        }
    }
}
