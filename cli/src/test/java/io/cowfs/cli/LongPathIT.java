package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tree deeper than PATH_MAX: 25 directories of 200-byte names, so the files at the bottom have
 * paths of over 5,000 bytes, more than one system call takes (4,096). Such trees are made one
 * directory at a time, and `cp -a` and tar copy them; import and export reach them through a
 * directory on the way (HostPath), and a mount serves them as any other (the kernel asks by
 * inode). Before, import stopped at the first such path ("File name too long"), and a view could
 * hold a tree that export could not write.
 */
class LongPathIT {
    @TempDir
    Path tmp;

    private final List<String> undo = new ArrayList<>();

    private static final String D = "d".repeat(200);

    @AfterEach
    void cleanUp() throws Exception {
        for (int i = undo.size() - 1; i >= 0; i--) {
            Cowfs.shRc(tmp, undo.get(i));
        }
        // JUnit's removal of the temp dir walks by path and stops at PATH_MAX ("File name too long")
        Cowfs.shRc(tmp, "rm -rf --one-file-system ./*");
    }

    /** bash: into the bottom of the deep tree under top (making the directories if make). */
    private static String down(Path top, boolean make) {
        return "cd '" + top + "' && for i in $(seq 25); do " + (make ? "mkdir -p " + D + " && " : "") + "cd " + D + "; done";
    }

    /** A source tree: a shallow file, and at the bottom of the deep tree a file, a symlink, a hard link to the shallow file, a fifo, a 300 KB file with an xattr. */
    private Path source(int bigKb) throws Exception {
        Path src = Files.createDirectory(tmp.resolve("src"));
        Cowfs.sh(src, "echo shallow > shallow && " + down(src, true) + " && echo leaf > leaf.txt && ln -s leaf.txt link"
                + " && ln \"$(printf '../%.0s' $(seq 25))shallow\" hard && mkfifo fifo"
                + " && head -c " + bigKb * 1024 + " /dev/urandom > big && setfattr -n user.deep -v yes big"
                + " && test ${#PWD} -gt 5000");
        return src;
    }

    /** Everything tar keeps of the tree at dir (names, types, modes, owners, mtimes, links, xattrs, contents). */
    private static String digest(Path dir) throws Exception {
        return Cowfs.sh(dir, "tar --sort=name --format=posix --pax-option=delete=atime,delete=ctime --numeric-owner --xattrs -cf - . | sha256sum");
    }

    @Test
    void aTreeDeeperThanPathMaxImportsMountsAndExports() throws Exception {
        Cowfs.assumeFuse();
        Path src = source(300);
        String want = digest(src);
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "snap").ok();
            Path out = tmp.resolve("out");
            c.run("export", "snap", out.toString()).ok();
            assertEquals(want, digest(out), "the export of the import");

            c.run("fork", "snap", "--name", "v").ok();
            String bigSum = Cowfs.sh(tmp, down(src, false) + " && sha256sum < big");
            try (Cowfs.Mounted m = c.mount("v")) {
                assertEquals(want, digest(m.dir), "the tree through a mount");
                // changes at the bottom, through the mount
                Cowfs.sh(tmp, down(m.dir, false) + " && echo new > new.txt && mkdir more && echo deeper > more/x"
                        + " && rm leaf.txt && mv big big2 && test \"$(cat hard)\" = shallow");
            }
            c.run("snapshot", "v", "--name", "changed").ok();
            Path out2 = tmp.resolve("out2");
            c.run("export", "changed", out2.toString()).ok();
            assertEquals("new\ndeeper\n" + bigSum, Cowfs.sh(tmp, down(out2, false) + " && cat new.txt more/x && ! test -e leaf.txt"
                    + " && test \"$(getfattr --only-values -n user.deep big2)\" = yes && sha256sum < big2"));
            c.run("fsck").ok();
        }
    }

    @Test
    void anExportThatFailsDeepDownSaysWhereAndLeavesNothing() throws Exception {
        Path src = source(4096);
        Path small = Files.createDirectory(tmp.resolve("small"));
        Cowfs.Result m = Cowfs.shRc(tmp, "mount -t tmpfs -o size=2m tmpfs '" + small + "'");
        assumeTrue(m.rc() == 0, "cannot mount a tmpfs here: " + m.out());
        undo.add("umount '" + small + "' || umount -l '" + small + "'");
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "snap").ok();
            Cowfs.Result r = c.run("export", "snap", small.resolve("out").toString()).fails(1);
            String err = r.err().trim();
            assertFalse(err.contains("\n"), "one line: " + err);
            assertTrue(err.contains(D + "/big") && err.contains("No space left"), err);
            assertFalse(err.contains("/proc/self/fd"), "names the path, not how it was reached: " + err);
            assertEquals("", Cowfs.sh(small, "ls -A"), "the partial export, 25 directories deep, is removed");
        }
    }
}
