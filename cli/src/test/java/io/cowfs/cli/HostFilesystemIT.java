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
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * "On any host filesystem": the rest of the suite runs where its temp directory is (ext4 in CI).
 * Here everything (the source tree, the store, the mount point, the export) lives on XFS, btrfs
 * or tmpfs: a loop image made for the test (tmpfs: a mount of its own). The same changes are made
 * in a view and in a copy of the source on that filesystem, through ordinary tools (cp, dd, mv,
 * fallocate, setfattr, chmod of a file with an ACL); the view must read as the copy does, again
 * after {@code kill -9} of its mount, and a snapshot of it must export as the copy (holes kept,
 * the ACL as the host's chmod left it) and pass verify, fsck and gc. The filesystems differ
 * where it showed: XFS lists ACLs twice to root (trusted.SGI_ACL_FILE), takes symlink targets of
 * 1024 bytes at most, and fails a rename onto a non-empty directory with EEXIST; btrfs gives every
 * directory one link. An export that XFS cannot hold (a 2,003-byte symlink target) fails with one
 * line naming the file and leaves nothing behind.
 */
class HostFilesystemIT {
    @TempDir
    Path tmp;

    /** Loop devices and mounts to undo, last first. */
    private final List<String> undo = new ArrayList<>();

    private static final String ACL = "0x0200000001000600ffffffff02000700feff000004000400ffffffff10000700ffffffff20000000ffffffff";

    @AfterEach
    void cleanUp() throws Exception {
        for (int i = undo.size() - 1; i >= 0; i--) {
            Cowfs.shRc(tmp, undo.get(i));
        }
    }

    /** A fresh filesystem of this type, mounted; skips where it cannot be made. */
    private Path fresh(String type) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve(type));
        if (type.equals("tmpfs")) {
            Cowfs.Result m = Cowfs.shRc(tmp, "mount -t tmpfs -o size=1g tmpfs '" + dir + "'");
            assumeTrue(m.rc() == 0, "cannot mount a tmpfs here: " + m.out());
        } else {
            Path img = tmp.resolve(type + ".img");
            Cowfs.sh(tmp, "truncate -s 1g '" + img + "'");
            Cowfs.Result mk = Cowfs.shRc(tmp, "mkfs." + type + " -q -f '" + img + "'");
            assumeTrue(mk.rc() == 0, "cannot make " + type + " here (scripts/deps.sh installs its tools): " + mk.out());
            Cowfs.Result loop = Cowfs.shRc(tmp, "losetup -f --show '" + img + "'");
            assumeTrue(loop.rc() == 0, "no loop device here: " + loop.out());
            String dev = loop.out().trim();
            undo.add("losetup -d " + dev);
            Cowfs.Result m = Cowfs.shRc(tmp, "mount " + dev + " '" + dir + "'");
            assumeTrue(m.rc() == 0, "cannot mount " + type + " here: " + m.out());
        }
        undo.add("umount '" + dir + "' || umount -l '" + dir + "'");
        return dir;
    }

    /** Everything the comparison covers, of the tree at dir (not directory sizes or times: the filesystem's own). */
    private static String state(Path dir) throws Exception {
        return Cowfs.sh(dir, "find . -printf '%p %y %m %U %G\\n' | LC_ALL=C sort"
                + " && find . ! -type d -printf '%p %n %s\\n' | LC_ALL=C sort"
                + " && find . -type l -printf '%p -> %l\\n' | LC_ALL=C sort"
                + " && find . -type f -exec md5sum {} + | LC_ALL=C sort -k 2"
                + " && find . -print0 | LC_ALL=C sort -z | xargs -0 getfattr -h -d -m '^user\\.' -e hex");
    }

    private static String acl(Path file) throws Exception {
        return Cowfs.sh(file.getParent(), "getfattr --only-values -e hex -n system.posix_acl_access '" + file.getFileName()
                + "' | od -An -tx1 | tr -d ' \\n'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"xfs", "btrfs", "tmpfs"})
    void aStoreOnThisFilesystemServesViewsAndExportsAsTheHostWould(String type) throws Exception {
        Cowfs.assumeFuse();
        Path fs = fresh(type);
        Path src = fs.resolve("src");
        Cowfs.sh(fs, "mkdir -p src/d/e src/empty && printf 'hello\\n' > src/small.txt"
                + " && yes 'a line of the big file, the same on every run' | head -c 3000000 > src/big.bin"
                + " && head -c 1048576 /dev/zero | tr '\\0' a > src/sparse.bin && truncate -s 8M src/sparse.bin"
                + " && printf end | dd of=src/sparse.bin bs=1 seek=8388605 conv=notrunc status=none"
                + " && ln src/small.txt src/d/hard.txt && ln -s ../small.txt src/d/link && mkfifo src/d/fifo"
                + " && setfattr -n user.k -v v1 src/d/e && echo x > src/setuid && chmod 4755 src/setuid"
                + " && echo acl > src/acl.txt && chmod 640 src/acl.txt");
        boolean acls = Cowfs.shRc(fs, "setfattr -n system.posix_acl_access -v " + ACL + " src/acl.txt").rc() == 0;
        assumeTrue(acls || type.equals("tmpfs"), type + " takes no POSIX ACLs here"); // tmpfs: a kernel option
        Path host = fs.resolve("host");
        Cowfs.sh(fs, "cp -a src host");
        String changes = "set -e; printf 'more\\n' >> small.txt"
                + "; yes XYZ | head -c 15000 | dd of=big.bin bs=15000 seek=70000 oflag=seek_bytes conv=notrunc status=none"
                + "; cp big.bin d/e/big-copy.bin" // copy_file_range: blocks shared in a view
                + "; printf Q | dd of=big.bin bs=1 seek=10 conv=notrunc status=none"
                + "; fallocate -p -o 65536 -l 131072 sparse.bin"
                + "; truncate -s 100000 d/e/big-copy.bin; mv d/e d/moved; rm d/link; ln -s small.txt newlink"
                + "; mkdir -p new/deep; yes z | head -c 200000 > new/deep/f; setfattr -n user.x -v 42 new/deep/f"
                + "; mv new/deep/f new/f2; rmdir new/deep; chmod 600 acl.txt; chmod 2711 setuid";
        Cowfs.sh(host, changes);
        String expected = state(host);
        try (Cowfs c = new Cowfs(fs)) { // the store and the mount points on this filesystem
            c.run("import", src.toString(), "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                Cowfs.sh(m.dir, changes);
                assertEquals(expected, state(m.dir), "the view against the host's copy, on " + type);
                Fx.killMount(c.store, m.dir); // every file was closed: all of it survives
                c.run("umount", m.dir.toString()).ok();
            }
            try (Cowfs.Mounted m = c.mount("v")) {
                assertEquals(expected, state(m.dir), "the view after kill -9 of its mount, on " + type);
            }
            c.run("snapshot", "v", "--name", "after").ok();
            c.run("verify").ok();
            c.run("fsck").ok();
            c.run("rm", "snap").ok();
            c.run("gc").ok();
            Path out = fs.resolve("out");
            c.run("export", "after", out.toString()).ok();
            assertEquals(expected, state(out), "the export against the host's copy, on " + type);
            if (acls) {
                assertEquals(acl(host.resolve("acl.txt")), acl(out.resolve("acl.txt")), "the exported ACL after chmod 600");
            }
            if (!type.equals("xfs")) { // XFS lists its own copy of the new ACL; elsewhere none may be written
                String attrs = Cowfs.sh(out, "getfattr -m - -d acl.txt");
                assertFalse(attrs.contains("SGI_ACL"), "an XFS copy of the ACL exported: " + attrs);
            }
            long allocated = Long.parseLong(Cowfs.sh(out, "stat -c %b sparse.bin").trim()) * 512;
            assertTrue(allocated < 2 << 20, "the holes exported as holes: " + allocated + " bytes allocated of 8 MiB");

            // a target longer than XFS's 1024 bytes: the export fails there, by name, and leaves nothing
            String longTarget = "x/".repeat(1000) + "end";
            try (Cowfs.Mounted m = c.mount("v")) {
                Files.createSymbolicLink(m.dir.resolve("long"), Path.of(longTarget));
            }
            c.run("snapshot", "v", "--name", "long").ok();
            Path out2 = fs.resolve("out2");
            Cowfs.Result r = c.run("export", "long", out2.toString());
            if (type.equals("xfs")) {
                r.fails(1);
                assertTrue(r.err().contains("/long") && r.err().contains("File name too long"), r.err());
                assertEquals(1, r.err().strip().lines().count(), r.err());
                assertFalse(Files.exists(out2), "a failed export leaves no destination it made");
            } else {
                r.ok();
                assertEquals(longTarget, Files.readSymbolicLink(out2.resolve("long")).toString());
            }
            c.run("fsck").ok();
        }
    }
}
