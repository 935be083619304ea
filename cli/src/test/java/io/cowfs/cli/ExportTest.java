package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code cowfs export} writes the snapshot back exactly as it was imported (run as root: owners too). */
class ExportTest {
    @TempDir
    static Path tmp;

    static Path src;
    static Path out;
    static Cowfs cowfs;

    @BeforeAll
    static void importAndExport() throws Exception {
        src = SourceTree.build(tmp.resolve("src"));
        cowfs = new Cowfs(tmp);
        cowfs.run("import", src.toString(), "--name", "snap").ok();
        out = tmp.resolve("out");
        Cowfs.Result r = cowfs.run("export", "snap", out.toString()).ok();
        assertTrue(r.out().contains("exported"), r.out());
    }

    @Test
    void contentsAreIdentical() throws Exception {
        Cowfs.sh(tmp, "diff -r --no-dereference -x fifo " + src + " " + out);
        assertEquals(SourceTree.hashes(src), SourceTree.hashes(out));
    }

    @Test
    void namesTypesModesOwnersSizesLinksAndTimesAreIdentical() throws Exception {
        assertEquals(SourceTree.listing(src), SourceTree.listing(out));
    }

    @Test
    void xattrsAreIdentical() throws Exception {
        assertEquals(SourceTree.xattrs(src), SourceTree.xattrs(out));
    }

    @Test
    void tarOfTheExportIsByteIdentical() throws Exception {
        assertEquals(SourceTree.tarListing(src), SourceTree.tarListing(out));
        assertEquals(SourceTree.tarDigest(src), SourceTree.tarDigest(out));
    }

    @Test
    void hardlinksAreOneInode() throws Exception {
        for (List<String> group : SourceTree.HARDLINKS) {
            String stat = Cowfs.sh(out, "stat -c '%h %i' " + String.join(" ", group));
            List<String> lines = stat.lines().toList();
            assertEquals(1, lines.stream().distinct().count(), group + ":\n" + stat);
            assertTrue(lines.get(0).startsWith(group.size() + " "), group + ":\n" + stat);
        }
        assertNotEquals(Files.getAttribute(out.resolve("a/big"), "unix:ino"), Files.getAttribute(out.resolve("a/b/big-copy"), "unix:ino"));
    }

    @Test
    void symlinksKeepTheirTargets() throws Exception {
        for (Map.Entry<String, String> l : SourceTree.SYMLINKS.entrySet()) {
            assertTrue(Files.isSymbolicLink(out.resolve(l.getKey())), l.getKey());
            assertEquals(l.getValue(), Files.readSymbolicLink(out.resolve(l.getKey())).toString());
        }
    }

    @Test
    void holesStayHoles() throws Exception {
        // sparse: 1 MiB with two 64 KiB blocks of data; zeros: 10 MiB of written zeros, all holes
        String[] sparse = Cowfs.sh(out, "stat -c '%s %b' sparse").trim().split(" ");
        assertEquals("1048576", sparse[0]);
        assertTrue(Long.parseLong(sparse[1]) <= 2 * 128 + 16, "sparse file allocates its two data blocks only: " + sparse[1]);
        String[] zeros = Cowfs.sh(out, "stat -c '%s %b' zeros").trim().split(" ");
        assertEquals("10485760", zeros[0]);
        assertTrue(Long.parseLong(zeros[1]) < 64, "an all-zero file is all holes: " + zeros[1] + " blocks");
        long du = Long.parseLong(Cowfs.sh(out, "du -sk . | cut -f1").trim());
        long apparent = Long.parseLong(Cowfs.sh(out, "du -sk --apparent-size . | cut -f1").trim());
        assertTrue(du < apparent - 10 * 1024, "du " + du + " KiB, apparent " + apparent + " KiB");
    }

    /**
     * A file written 4 KiB at a time (a VM's disk image, a database) has its blocks stored with the
     * zeros between the pages; export leaves those zero pages as holes too, so the copy takes the
     * space the source took, not 64 KiB per page written (before: 16x here).
     */
    @Test
    void zeroPagesInsideABlockStayHoles() throws Exception {
        Path own = Files.createDirectories(tmp.resolve("pages-src"));
        Cowfs.sh(own, "truncate -s 8M img && for off in 0 1 5 17 100 1000 2047; do"
                + " head -c 4096 /dev/urandom | dd of=img bs=4096 seek=$off conv=notrunc status=none; done"
                + " && printf 'tail' | dd of=img bs=1 seek=$((8 * 1048576 - 4)) conv=notrunc status=none"
                + " && printf 'x' | dd of=img bs=1 seek=300000 conv=notrunc status=none"
                // a last block whose last page is short and zeros (it threw IndexOutOfBounds once)
                + " && head -c 69632 /dev/urandom > short && head -c 368 /dev/zero >> short");
        cowfs.run("import", own.toString(), "--name", "pages").ok();
        Path dest = tmp.resolve("pages-out");
        cowfs.run("export", "pages", dest.toString()).ok();
        Cowfs.sh(tmp, "cmp " + own.resolve("img") + " " + dest.resolve("img") + " && cmp " + own.resolve("short") + " " + dest.resolve("short"));
        long source = Long.parseLong(Cowfs.sh(own, "stat -c %b img").trim());
        long exported = Long.parseLong(Cowfs.sh(dest, "stat -c %b img").trim());
        assertEquals("8388608", Cowfs.sh(dest, "stat -c %s img").trim());
        assertTrue(exported <= source, "the export allocates " + exported + " blocks of 512 bytes, the source " + source);
        assertTrue(exported < 9 * 8 * 2, "nine pages of data (and the filesystem's own blocks): " + exported);
    }

    @Test
    void exportIntoANonEmptyDirectoryFailsAndTouchesNothing() throws Exception {
        Path busy = Files.createDirectories(tmp.resolve("busy"));
        Files.writeString(busy.resolve("keep"), "mine");
        Cowfs.Result r = cowfs.run("export", "snap", busy.toString());
        assertNotEquals(0, r.rc());
        assertTrue(r.err().startsWith("cowfs: ") && r.err().contains("not empty"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        try (var s = Files.list(busy)) {
            assertEquals(List.of(busy.resolve("keep")), s.toList());
        }
        assertEquals("mine", Files.readString(busy.resolve("keep")));
    }

    @Test
    void exportOntoAFileFailsAndTouchesNothing() throws Exception {
        Path file = tmp.resolve("a-file");
        Files.writeString(file, "mine");
        Cowfs.Result r = cowfs.run("export", "snap", file.toString());
        assertNotEquals(0, r.rc());
        assertTrue(r.err().startsWith("cowfs: ") && r.err().contains("not a directory"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertEquals("mine", Files.readString(file));
    }

    @Test
    void exportIntoAnExistingEmptyDirectoryWorks() throws Exception {
        Path empty = Files.createDirectories(tmp.resolve("empty-target"));
        cowfs.run("export", "snap", empty.toString()).ok();
        assertEquals(SourceTree.listing(src), SourceTree.listing(empty));
    }

    @Test
    void exportOfAnUnknownNameFails() {
        Cowfs.Result r = cowfs.run("export", "nope", tmp.resolve("never").toString()).fails(Main.EXIT_NOT_FOUND);
        assertTrue(r.err().contains("nope"), r.err());
        assertTrue(Files.notExists(tmp.resolve("never")), "nothing is created for an unknown name");
    }

    /**
     * A file the destination refuses (here a file size limit, RLIMIT_FSIZE, in the exporting
     * process; a full disk fails the same way): the one-line message names it, in the snapshot and
     * on the host, the exit code is 1, and what the export wrote is removed, so that no export is
     * left that looks complete with the file cut short. Before, the message was "cowfs: File too
     * large" and the tree stayed, the file cut at the limit.
     */
    @Test
    void aFileTheDestinationRefusesIsNamedAndNothingOfTheExportIsLeft() throws Exception {
        Cowfs.sh(tmp, "mkdir -p limit-src/sub && echo a > limit-src/a && head -c 3000000 /dev/urandom > limit-src/sub/big"
                + " && echo z > limit-src/z");
        cowfs.run("import", tmp.resolve("limit-src").toString(), "--name", "limit").ok();
        Path dest = tmp.resolve("limited");
        Cowfs.Result r = underFileSizeLimit("export", "--store=" + cowfs.store, "limit", dest.toString());
        assertEquals(Main.EXIT_FAILED, r.rc(), r.out() + r.err());
        assertEquals("cowfs: export of 'limit' failed: /sub/big -> " + dest.resolve("sub/big")
                + ": File too large; the partial export was removed (" + dest + " is gone)", r.err().strip());
        assertFalse(Files.exists(dest));

        Path empty = Files.createDirectories(tmp.resolve("limited-empty"));
        Object mode = Files.getAttribute(empty, "unix:mode");
        r = underFileSizeLimit("export", "--store=" + cowfs.store, "limit", empty.toString());
        assertEquals(Main.EXIT_FAILED, r.rc(), r.out() + r.err());
        assertEquals("cowfs: export of 'limit' failed: /sub/big -> " + empty.resolve("sub/big")
                + ": File too large; the partial export was removed from " + empty, r.err().strip());
        try (var s = Files.list(empty)) {
            assertEquals(List.of(), s.toList());
        }
        assertEquals(mode, Files.getAttribute(empty, "unix:mode"));
    }

    /**
     * cowfs in a child process whose files may not grow past 2 MiB (ulimit -f 4000): less than the
     * 3 MB file, more than zstd-jni's native library (~1 MB), which the JVM unpacks to a temp file
     * when a chunk it reads is compressed (with 500 KiB that failed now and then: "Cannot unpack
     * libzstd-jni", when one of the snapshot's small records happened to compress).
     */
    private static Cowfs.Result underFileSizeLimit(String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("sh", "-c", "ulimit -f 4000 && exec \"$@\"", "sh"));
        cmd.addAll(Fx.javaCommand(List.of(), args));
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        var out = new java.io.ByteArrayOutputStream();
        Thread t = new Thread(() -> {
            try {
                p.getInputStream().transferTo(out);
            } catch (java.io.IOException e) {
                // the process is gone
            }
        });
        t.start();
        String err = new String(p.getErrorStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "cowfs export hung");
        t.join();
        return new Cowfs.Result(p.exitValue(), out.toString(java.nio.charset.StandardCharsets.UTF_8), err);
    }
}
