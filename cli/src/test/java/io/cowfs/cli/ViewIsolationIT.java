package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariant 1 (isolation) and invariant 7 (real tools) through real mounts: two views of one
 * snapshot change the same paths differently; each ends up exactly like a host copy that got the
 * same commands, and neither the sibling nor the snapshot sees any of it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ViewIsolationIT {
    private Path tmp;
    private Path src;
    private Cowfs cowfs;

    /** Every kind of change, with the view's label in the data; run from the tree's root. */
    private static String edits(String label) {
        return String.join("\n",
                "set -e",
                "sed -i 's/1/" + label + "/g' t/d01/f001.txt", // in place (sed writes a temp file and renames)
                "echo 'appended " + label + "' >> t/d02/f002.txt",
                "truncate -s 7 t/d03/f003.txt",
                "truncate -s 100000 t/d04/f004.txt", // extends with a hole
                "mv t/d05 t/d05-" + label,
                "mv t/d06/f006.txt t/d07/moved-" + label + ".txt",
                "mv -f t/d08/f008.txt t/d08/f009.txt", // over an existing file
                "chmod 600 t/d09/f010.txt && chmod -R g+w,o-r t/d10",
                "chown -R 1000:1001 t/d11",
                "ln t/d12/f012.txt t/d12/hard-" + label,
                "rm t/d13/f013.txt && rm -r t/d14",
                "mkdir -p t/new-" + label + "/sub && echo " + label + " > t/new-" + label + "/sub/file",
                "ln -s ../d01 t/d15/sym-" + label,
                "echo " + label + " >> t/hard-a", // a hardlink from the base: t/d16/f001.txt is the same file
                "printf " + label + " | dd of=t/bin.dat bs=1 seek=70000 conv=notrunc status=none",
                "setfattr -n user.label -v " + label + " t/d17/f017.txt",
                // an editor's save: write a temp file, fsync it, rename it over the original
                "printf 'saved " + label + "\\n' > t/d18/.f018.txt.swp && sync t/d18/.f018.txt.swp"
                        + " && mv t/d18/.f018.txt.swp t/d18/f018.txt",
                "touch -m -d '2001-01-01 00:00:00.25' t/d19/f019.txt",
                "rm -f t/d20/*.txt && rmdir t/d20",
                "");
    }

    /** What must match between two trees: names, types, modes, sizes, links, owners, link targets. */
    private static final String LISTING = "find . ! -type d -printf '%P %y %m %s %n %U:%G %l\\n' | LC_ALL=C sort;"
            + " find . -type d -printf '%P/ %m " + SourceTree.DIR_LINKS + " %U:%G\\n' | LC_ALL=C sort;"
            + " getfattr -R -h --absolute-names -d -m '^user\\.' . 2>/dev/null | grep -v '^$' || true";
    /** The same plus modification times (for trees nobody wrote to). */
    private static final String LISTING_TIMES = LISTING + "; find . -printf '%P %T@\\n' | LC_ALL=C sort";

    @BeforeAll
    void importTree(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        this.tmp = tmp;
        src = tmp.resolve("src");
        Files.createDirectories(src);
        Cowfs.sh(src, String.join("\n",
                "set -e",
                "for i in $(seq -w 1 20); do mkdir -p t/d$i; for j in $(seq -w 1 20); do seq 1 $((10#$i * 10#$j)) > t/d$i/f0$j.txt; done; done",
                "ln t/d16/f001.txt t/hard-a",
                "head -c 1048576 /dev/urandom > t/bin.dat",
                "chmod 755 t/d01/f002.txt; : > t/empty; mkdir t/emptydir; ln -s d01/f001.txt t/link",
                "setfattr -n user.kept -v yes t/d17/f017.txt",
                // a small C project and a copy of a real source tree
                "mkdir proj && cd proj",
                "printf '#include \"util.h\"\\n#include <stdio.h>\\nint main(void){printf(\"%%d\\\\n\", twice(21));return 0;}\\n' > main.c",
                "printf 'int twice(int x);\\n' > util.h",
                "printf '#include \"util.h\"\\nint twice(int x){return 2*x;}\\n' > util.c",
                "printf 'prog: main.o util.o\\n\\tcc -o $@ $^\\n%%.o: %%.c util.h\\n\\tcc -O1 -c $<\\nclean:\\n\\trm -f *.o prog\\n' > Makefile",
                "cd .. && cp -a " + Path.of("src").toAbsolutePath() + " srctree"));
        cowfs = new Cowfs(tmp);
        cowfs.run("import", src.toString(), "--name", "snap").ok();
    }

    @AfterAll
    void close() {
        if (cowfs != null) {
            cowfs.close();
        }
    }

    private void sameTree(Path expected, Path actual, String listing) throws Exception {
        Cowfs.sh(expected, "diff -r --no-dereference " + expected + " " + actual);
        String want = Cowfs.sh(expected, listing);
        String got = Cowfs.sh(actual, listing);
        if (!want.equals(got)) {
            Path w = Files.writeString(Files.createTempFile(tmp, "want-", ".txt"), want);
            Path g = Files.writeString(Files.createTempFile(tmp, "got-", ".txt"), got);
            throw new AssertionError("listing of " + actual + " differs from " + expected + ":\n"
                    + Cowfs.shRc(tmp, "diff " + w + " " + g).out());
        }
    }

    // The two tests below found a data-loss bug: range scans bounded with a signed comparator (fixed in StoreIndex).

    @Test
    void twoViewsChangeTheSamePathsIndependently() throws Exception {
        cowfs.run("fork", "snap", "--name", "a").ok();
        cowfs.run("fork", "snap", "--name", "b").ok();
        Path hostA = tmp.resolve("hostA");
        Path hostB = tmp.resolve("hostB");
        Cowfs.sh(tmp, "cp -a src hostA && cp -a src hostB");
        Cowfs.sh(hostA, edits("A"));
        Cowfs.sh(hostB, edits("B"));
        try (Cowfs.Mounted snap = cowfs.mount("snap"); Cowfs.Mounted a = cowfs.mount("a"); Cowfs.Mounted b = cowfs.mount("b")) {
            sameTree(src, snap.dir, LISTING_TIMES);
            sameTree(src, b.dir, LISTING_TIMES);
            // both views are changed at the same time, by separate processes
            Process pa = new ProcessBuilder("bash", "-c", edits("A")).directory(a.dir.toFile()).redirectErrorStream(true).start();
            Process pb = new ProcessBuilder("bash", "-c", edits("B")).directory(b.dir.toFile()).redirectErrorStream(true).start();
            String outA = new String(pa.getInputStream().readAllBytes());
            String outB = new String(pb.getInputStream().readAllBytes());
            assertEquals(0, pa.waitFor(), outA);
            assertEquals(0, pb.waitFor(), outB);
            sameTree(hostA, a.dir, LISTING);
            sameTree(hostB, b.dir, LISTING);
            sameTree(src, snap.dir, LISTING_TIMES);
            assertEquals("2001-01-01 00:00:00.250000000", Cowfs.sh(a.dir, "stat -c %y t/d19/f019.txt").substring(0, 29));
            // a snapshot of a mounted view holds exactly the view; the view stays writable
            cowfs.run("snapshot", "a", "--name", "a-frozen").ok();
            Cowfs.sh(a.dir, "echo after >> t/d02/f002.txt");
            try (Cowfs.Mounted frozen = cowfs.mount("a-frozen")) {
                sameTree(hostA, frozen.dir, LISTING);
            }
            Cowfs.sh(hostA, "echo after >> t/d02/f002.txt");
            sameTree(hostA, a.dir, LISTING);
        }
        // everything persisted: a new mount of each view shows the same trees
        try (Cowfs.Mounted a = cowfs.mount("a"); Cowfs.Mounted b = cowfs.mount("b")) {
            sameTree(hostA, a.dir, LISTING);
            sameTree(hostB, b.dir, LISTING);
        }
    }

    /** The smallest repro of the bug above: data written in a view is lost when other files are deleted. */
    @Test
    void deletingFilesKeepsTheDataOfOthers() throws Exception {
        cowfs.run("fork", "snap", "--name", "deletes").ok();
        try (Cowfs.Mounted v = cowfs.mount("deletes")) {
            // enough new inodes that some have a low key byte >= 0x80, then base files deleted
            Cowfs.sh(v.dir, "mkdir new && for i in $(seq 1 300); do echo data $i > new/$i; done && rm t/d13/*.txt");
        }
        try (Cowfs.Mounted v = cowfs.mount("deletes")) {
            assertEquals("", Cowfs.sh(v.dir, "for i in $(seq 1 300); do [ \"$(cat new/$i)\" = \"data $i\" ] || echo \"new/$i lost\"; done"));
        }
    }

    @Test
    void gitMakeAndEditorSaveInAView() throws Exception {
        cowfs.run("fork", "snap", "--name", "tools").ok();
        try (Cowfs.Mounted v = cowfs.mount("tools")) {
            String git = "git -c user.name=cowfs -c user.email=cowfs@example.invalid -c init.defaultBranch=main ";
            Cowfs.sh(v.dir, git + "init -q && " + git + "add -A && " + git + "commit -qm x");
            assertEquals("", Cowfs.sh(v.dir, "git status --porcelain"));
            Cowfs.sh(v.dir, "echo change >> t/d01/f001.txt && rm t/link && echo new > untracked");
            assertEquals(" M t/d01/f001.txt\n D t/link\n?? untracked\n", Cowfs.sh(v.dir, "git status --porcelain"));
            Cowfs.sh(v.dir, git + "add -A && " + git + "commit -qm y && " + git + "checkout -q HEAD~1 && "
                    + git + "checkout -q main && git fsck --no-progress 2>&1 && " + git + "gc -q");
            assertEquals("", Cowfs.sh(v.dir, "git status --porcelain"));
            assertEquals("2\n", Cowfs.sh(v.dir, "git rev-list --count HEAD"));
            // a C build: a second make has nothing to do, a touched header rebuilds
            assertEquals("42\n", Cowfs.sh(v.dir.resolve("proj"), "make -s && ./prog"));
            assertTrue(Cowfs.sh(v.dir.resolve("proj"), "make").contains("is up to date"));
            Cowfs.sh(v.dir.resolve("proj"), "sleep 0.01; touch util.h");
            assertTrue(Cowfs.sh(v.dir.resolve("proj"), "make").contains("cc -O1 -c main.c"));
            // an editor's save, vim style: write a new file, fsync, rename over, keep a backup
            Path f = v.dir.resolve("t/d03/f003.txt");
            Path swp = v.dir.resolve("t/d03/.f003.txt.swp");
            try (FileChannel ch = FileChannel.open(swp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap("edited\n".getBytes(StandardCharsets.UTF_8)));
                ch.force(true);
            }
            Files.move(f, v.dir.resolve("t/d03/f003.txt~"), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            Files.move(swp, f, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            assertEquals("edited\n", Files.readString(f));
            assertTrue(Files.readString(v.dir.resolve("t/d03/f003.txt~")).startsWith("1\n2\n3\n"));
        }
        try (Cowfs.Mounted snap = cowfs.mount("snap")) {
            sameTree(src, snap.dir, LISTING_TIMES);
        }
    }

    @Test
    void fileLargerThan4GiB() throws Exception {
        cowfs.run("fork", "snap", "--name", "huge").ok();
        long off = 5L << 30;
        try (Cowfs.Mounted v = cowfs.mount("huge")) {
            Cowfs.sh(v.dir, "printf head > huge && printf tail | dd of=huge bs=1 seek=" + off + " conv=notrunc status=none");
            assertEquals(off + 4, Files.size(v.dir.resolve("huge")));
            assertEquals("tail", Cowfs.sh(v.dir, "tail -c 4 huge"));
            assertEquals("0\n", Cowfs.sh(v.dir, "dd if=huge bs=65536 skip=" + ((4L << 30) / 65536) + " count=4 status=none | tr -d '\\0' | wc -c"));
            try (FileChannel ch = FileChannel.open(v.dir.resolve("huge"), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap("java".getBytes()), off - 2);
                ByteBuffer b = ByteBuffer.allocate(8);
                ch.read(b, off - 4);
                assertEquals("\0\0javail", new String(b.array(), StandardCharsets.ISO_8859_1));
            }
            cowfs.run("snapshot", "huge", "--name", "huge-frozen").ok();
        }
        try (Cowfs.Mounted v = cowfs.mount("huge"); Cowfs.Mounted s = cowfs.mount("huge-frozen")) {
            for (Path d : List.of(v.dir, s.dir)) {
                assertEquals(off + 4, Files.size(d.resolve("huge")));
                assertEquals("javail", Cowfs.sh(d, "tail -c 6 huge"));
                assertEquals("head", Cowfs.sh(d, "head -c 4 huge"));
            }
        }
    }

    /**
     * A snapshot taken while a writer appends 9-byte records holds every record whose write had
     * returned, each whole. The write in flight may be in it in part: without the writeback cache
     * (the libfuse 2 adapter) the kernel sends a write that starts inside a page it does not hold
     * as two requests, the first up to that page's end (fs/fuse/file.c, fuse_fill_write_pages),
     * and a snapshot can come between them (seen once: a snapshot ending "...00000454\n0"). Records
     * written while the snapshot runs may be there with holes: with the writeback cache the
     * kernel's writeback can send a later page before an earlier page's new tail (ci123,
     * 2026-12-06: records 8181-8191, the last 99 bytes of a page, read as zeros, 8192 after them).
     */
    /** Bytes per record of the writer below: "%08d\n". */
    private static final int RECORD = 9;

    @Test
    void snapshotOfAViewBeingWrittenHoldsEveryReturnedWrite() throws Exception {
        cowfs.run("fork", "snap", "--name", "busy").ok();
        List<Integer> seen = new ArrayList<>();
        try (Cowfs.Mounted v = cowfs.mount("busy")) {
            Files.createDirectory(v.dir.resolve("files"));
            AtomicInteger returned = new AtomicInteger(-1);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread writer = new Thread(() -> {
                try (FileChannel log = FileChannel.open(v.dir.resolve("log"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    for (int i = 0; !stop.get(); i++) {
                        log.write(ByteBuffer.wrap(String.format("%08d\n", i).getBytes()));
                        if (i % 20 == 0) {
                            Files.writeString(v.dir.resolve("files/" + i), "file " + i);
                        }
                        returned.set(i);
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            }, "view-writer");
            writer.start();
            try {
                for (int round = 0; round < 3; round++) {
                    Thread.sleep(300);
                    int before = returned.get();
                    cowfs.run("snapshot", "busy", "--name", "busy-" + round).ok();
                    seen.add(before);
                }
            } finally {
                stop.set(true);
                writer.join(30_000);
            }
            if (failure.get() != null) {
                throw new AssertionError("writer failed", failure.get());
            }
            assertTrue(seen.get(0) >= 0, "the writer wrote before the first snapshot");
        }
        for (int round = 0; round < 3; round++) {
            int before = seen.get(round);
            try (Cowfs.Mounted s = cowfs.mount("busy-" + round)) {
                byte[] log = Files.readAllBytes(s.dir.resolve("log"));
                int returned = (before + 1) * RECORD;
                assertTrue(log.length >= returned, "snapshot " + round + " has " + log.length + " bytes, wanted >= " + returned);
                for (int at = 0; at < log.length; at++) {
                    byte want = (byte) String.format("%08d\n", at / RECORD).charAt(at % RECORD);
                    if (at < returned) { // every record whose write returned before the snapshot began, whole
                        assertEquals(want, log[at], "snapshot " + round + ", byte " + at + " (record " + at / RECORD + ")");
                    } else if (log[at] != want && log[at] != 0) {
                        // records written while the snapshot ran: the kernel writes dirty pages back in
                        // its own order (a later page may reach the mount before an earlier page's
                        // new tail does), so a page not yet written back reads as zeros; nothing else
                        throw new AssertionError("snapshot " + round + ", byte " + at + " is " + log[at] + ", wanted "
                                + want + " or 0 (record " + at / RECORD + ", written during the snapshot)");
                    }
                }
                for (int i = 0; i <= before; i += 20) {
                    assertEquals("file " + i, Files.readString(s.dir.resolve("files/" + i)));
                }
            }
        }
    }

    @Test
    void oneMountPerViewAndSnapshotsStayReadOnly() throws Exception {
        cowfs.run("fork", "snap", "--name", "single").ok();
        try (Cowfs.Mounted v = cowfs.mount("single"); Cowfs.Mounted s1 = cowfs.mount("snap"); Cowfs.Mounted s2 = cowfs.mount("snap")) {
            Path other = Files.createTempDirectory(tmp, "second-");
            Cowfs.Result r = cowfs.run("mount", "single", other.toString()).fails(4);
            assertTrue(r.err().contains(v.dir.toString()), r.err());
            assertTrue(!Cowfs.isMounted(other));
            Cowfs.Result rw = cowfs.run("mount", "snap", other.toString(), "--rw");
            assertTrue(rw.rc() != 0 && rw.err().contains("fork"), rw.err());
            assertTrue(!Cowfs.isMounted(other));
            // two read-only mounts of the snapshot next to the writable view
            Cowfs.sh(v.dir, "echo x > t/new");
            assertEquals(Cowfs.sh(s1.dir, LISTING_TIMES), Cowfs.sh(s2.dir, LISTING_TIMES));
            assertTrue(Cowfs.shRc(s1.dir, "touch t/new2").out().contains("Read-only file system"));
        }
        // after the unmount, the view mounts again
        try (Cowfs.Mounted v = cowfs.mount("single")) {
            assertEquals("x\n", Files.readString(v.dir.resolve("t/new")));
        }
    }
}
