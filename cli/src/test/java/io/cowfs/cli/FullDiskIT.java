package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store on a small tmpfs fills up: writes in a view fail with ENOSPC, the mount stays up and
 * readable, the store stays consistent, and once space is freed (rm + gc, or deleting files in
 * the view + gc) writing works again. The same for import.
 */
class FullDiskIT {
    @TempDir
    Path tmp;

    private static final int MB = 1 << 20;
    private Path fs;
    private final ExecutorService pool = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "fulldisk-io");
        t.setDaemon(true);
        return t;
    });

    @BeforeEach
    void tmpfs() throws Exception {
        Cowfs.assumeFuse();
        fs = Files.createDirectory(tmp.resolve("small"));
        Cowfs.Result r = Cowfs.shRc(tmp, "mount -t tmpfs -o size=24m tmpfs '" + fs + "'");
        assumeTrue(r.rc() == 0, "cannot mount a tmpfs here: " + r.out());
    }

    @AfterEach
    void untmpfs() throws Exception {
        pool.shutdownNow();
        printMountFailures();
        if (fs != null && Cowfs.isMounted(fs)) {
            Cowfs.Result r = Cowfs.shRc(tmp, "umount '" + fs + "' || umount -l '" + fs + "'");
            assertEquals(0, r.rc(), r.out());
        }
        assertFalse(fs != null && Cowfs.isMounted(fs), "tmpfs left mounted at " + fs);
    }

    /** Prints what the mounts logged besides starting (their logs go with the tmpfs). */
    private void printMountFailures() throws IOException {
        Path run = fs == null ? null : fs.resolve("store").resolve("run");
        if (run == null || !Files.isDirectory(run)) {
            return;
        }
        try (var logs = Files.list(run)) {
            for (Path l : (Iterable<Path>) logs.filter(p -> p.toString().endsWith(".log"))::iterator) {
                for (String line : Files.readAllLines(l)) {
                    if (!line.startsWith("mounted ")) {
                        System.out.println(l.getFileName() + ": " + line);
                    }
                }
            }
        }
    }

    /** Writes one file of random data and fsyncs it; returns null or the IOException's message. */
    private String writeFile(Path p, int size, long seed) throws Exception {
        Future<String> f = pool.submit(() -> {
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer b = ByteBuffer.wrap(Fx.random(seed, size));
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ch.force(true);
                return null;
            } catch (IOException e) {
                return String.valueOf(e.getMessage());
            }
        });
        return f.get(120, TimeUnit.SECONDS); // a hang fails the test
    }

    /** Writes 1 MiB files until one fails; returns the names written fully and the failure. */
    private List<String> fill(Path dir, String prefix, String[] failure) throws Exception {
        List<String> ok = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            String name = prefix + i;
            String err = writeFile(dir.resolve(name), MB, prefix.hashCode() * 1000L + i);
            if (err != null) {
                failure[0] = err;
                return ok;
            }
            ok.add(name);
        }
        throw new AssertionError("100 MiB written into a 24 MiB filesystem");
    }

    private static void readsBack(Path dir, String prefix, List<String> names) throws IOException {
        for (int i = 0; i < names.size(); i++) {
            assertEquals(Fx.sha256(Fx.random(prefix.hashCode() * 1000L + i, MB)), Fx.sha256(Files.readAllBytes(dir.resolve(names.get(i)))),
                    names.get(i));
        }
    }

    private final Map<String, byte[]> files = new LinkedHashMap<>();

    /** base (1 MiB + text), other (8 MiB, to be removed), view v of base. */
    private Cowfs store() throws Exception {
        Path base = tmp.resolve("base");
        files.put("a.bin", Fx.random(1, MB));
        files.put("t.txt", "text\n".repeat(1000).getBytes());
        Fx.writeTree(base, files);
        Path other = tmp.resolve("other");
        Fx.writeTree(other, Map.of("o1.bin", Fx.random(2, 4 * MB), "o2.bin", Fx.random(3, 4 * MB)));
        Cowfs c = new Cowfs(fs);
        c.run("import", base.toString(), "--name", "base").ok();
        c.run("import", other.toString(), "--name", "other").ok();
        c.run("fork", "base", "--name", "v").ok();
        return c;
    }

    /** Fills the view until a write fails; asserts ENOSPC and that the mount is up and lists. */
    private List<String> fillUp(Cowfs.Mounted m, String prefix) throws Exception {
        String[] failure = new String[1];
        List<String> written = fill(m.dir, prefix, failure);
        System.out.println(prefix + ": " + written.size() + " MiB written, then: " + failure[0]);
        assertTrue(failure[0].contains("No space left on device"), "ENOSPC expected, got: " + failure[0]);
        assertTrue(Cowfs.isMounted(m.dir), "the mount stays up");
        Cowfs.Result ls = Cowfs.shRc(m.dir, "timeout 30 ls -l");
        assertEquals(0, ls.rc(), ls.out());
        assertTrue(ls.out().contains(written.get(0)), ls.out());
        return written;
    }

    private static String sha(Path p) throws IOException {
        return Fx.sha256(Files.readAllBytes(p));
    }

    /**
     * On a full store a truncate inside a block (a cut is how one makes room) succeeds, though
     * its block cannot be stored yet: the block waits in memory as written data does, and is
     * stored once there is room; the file then reads as cut, after a remount too. Since fecf64c a
     * truncate stores that block when it returns; without room for it, the truncate failed with
     * ENOSPC. (Until there is room, a close of the file, even a reader's, fails with ENOSPC as a
     * writer's does: its FLUSH tries to store the block.) The filesystem is filled from outside,
     * to the last byte: a cut block is stored as a small delta over the block it cuts.
     */
    @Test
    void aTruncateInsideABlockWorksOnAFullStore() throws Exception {
        String name;
        byte[] want;
        try (Cowfs c = store()) {
            try (Cowfs.Mounted m = c.mount("v")) {
                name = "cut";
                byte[] all = Fx.random(77, 200_000);
                assertEquals(null, writeFile(m.dir.resolve(name), all.length, 77)); // closed: stored
                // the store's filesystem filled to the last byte from outside
                Cowfs.shRc(fs, "dd if=/dev/urandom of=filler bs=4k status=none; sync -f filler"); // this filesystem only (MachineWide)
                Cowfs.Result r = Cowfs.shRc(m.dir, "perl -e 'truncate(\"" + name + "\", 100000) or die \"truncate: $!\\n\"'");
                assertEquals(0, r.rc(), r.out());
                assertEquals(100_000, Files.size(m.dir.resolve(name)));
                assertTrue(Cowfs.isMounted(m.dir), "the mount stays up");
                Files.delete(fs.resolve("filler"));
                want = java.util.Arrays.copyOf(all, 100_000);
                assertEquals(Fx.sha256(want), sha(m.dir.resolve(name)));
            }
            try (Cowfs.Mounted again = c.mount("v")) {
                assertEquals(100_000, Files.size(again.dir.resolve(name)));
                assertEquals(Fx.sha256(want), sha(again.dir.resolve(name)));
            }
            c.run("fsck").ok();
        }
    }

    @Test
    void rmAndGcOfOtherDataMakeRoomAgain() throws Exception {
        try (Cowfs c = store()) {
            List<String> written;
            try (Cowfs.Mounted m = c.mount("v")) {
                written = fillUp(m, "fill");
                // a second write fails the same way and does not take the mount down
                String again = writeFile(m.dir.resolve("again"), MB, 99);
                assertTrue(again != null && again.contains("No space left on device"), "ENOSPC expected: " + again);
                assertTrue(Cowfs.isMounted(m.dir));
                c.run("fsck").ok();
                assertEquals(3, Fx.json(c.run("list", "--json").ok()).size());

                c.run("rm", "other").ok();
                JsonNode gc = Fx.json(c.run("gc", "--json").ok());
                assertTrue(gc.get("freedBytes").asLong() >= 8 * MB, "gc gave the removed snapshot's space back: " + gc);
                assertEquals(null, writeFile(m.dir.resolve("after-rm"), MB, 100), "writing works again after rm + gc");
                assertEquals(Fx.sha256(Fx.random(100, MB)), sha(m.dir.resolve("after-rm")));
                readsBack(m.dir, "fill", written);
                assertEquals(Fx.sha256(files.get("a.bin")), sha(m.dir.resolve("a.bin")));
            }
            c.run("fsck").ok();
            c.run("verify").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                assertEquals(Fx.sha256(Fx.random(100, MB)), sha(m.dir.resolve("after-rm")));
                readsBack(m.dir, "fill", written);
                assertEquals(Fx.sha256(files.get("a.bin")), sha(m.dir.resolve("a.bin")));
            }
        }
    }

    @Test
    void deletingTheViewsFilesAndGcMakeRoomAgain() throws Exception {
        try (Cowfs c = store()) {
            try (Cowfs.Mounted m = c.mount("v")) {
                List<String> written = fillUp(m, "fill");
                // the file whose write failed first (its unpersisted data goes with it), then the rest
                Files.deleteIfExists(m.dir.resolve("fill" + written.size()));
                for (String n : written) {
                    Files.delete(m.dir.resolve(n));
                }
                JsonNode gc = Fx.json(c.run("gc", "--json").ok());
                System.out.println("gc after deleting in the view: " + gc);
                assertTrue(gc.get("freedBytes").asLong() >= written.size() / 2 * MB, "gc freed the deleted files' space: " + gc);
                assertEquals(null, writeFile(m.dir.resolve("after-delete"), MB, 101), "writing works again");
                assertEquals(Fx.sha256(Fx.random(101, MB)), sha(m.dir.resolve("after-delete")));
            }
            c.run("fsck").ok();
            c.run("verify").ok();
        }
    }

    /** count random 4 KiB page rewrites of an existing file, then fsync; null or the IOException's message. */
    private String rewritePages(Path p, byte[] model, long seed, int count) throws Exception {
        Future<String> f = pool.submit(() -> {
            java.util.Random rnd = new java.util.Random(seed);
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
                for (int i = 0; i < count; i++) {
                    byte[] page = Fx.random(rnd.nextLong(), 4096);
                    int off = rnd.nextInt(model.length / 4096) * 4096;
                    ch.write(ByteBuffer.wrap(page), off);
                    System.arraycopy(page, 0, model, off, page.length);
                }
                ch.force(true);
                return null;
            } catch (IOException e) {
                return String.valueOf(e.getMessage());
            }
        });
        return f.get(120, TimeUnit.SECONDS);
    }

    /**
     * A database's small fsyncs on a store with less room than the zeros a pack writer prepares
     * for them (1 MiB, docs/DURABILITY.md "Zeros ahead of small fsyncs"): the preparation fails
     * and is undone, and every fsync succeeds with its data kept, as there is room for the
     * records themselves.
     */
    @Test
    void smallFsyncsSucceedWhereTheirZerosDoNotFit() throws Exception {
        try (Cowfs c = store()) {
            byte[] model = new byte[256 << 10];
            try (Cowfs.Mounted m = c.mount("v")) {
                long free = Files.getFileStore(fs).getUsableSpace();
                try (FileChannel f = FileChannel.open(fs.resolve("filler"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    ByteBuffer z = ByteBuffer.allocate(MB);
                    for (long left = free - 640 * 1024; left > 0; ) {
                        z.clear().limit((int) Math.min(MB, left));
                        left -= f.write(z);
                    }
                }
                long room = Files.getFileStore(fs).getUsableSpace();
                assertTrue(room < MB, "less room than the zeros: " + room);
                Future<String> w = pool.submit(() -> {
                    java.util.Random rnd = new java.util.Random(5);
                    try (FileChannel ch = FileChannel.open(m.dir.resolve("db"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                        for (int i = 0; i < 24; i++) {
                            byte[] page = Fx.random(rnd.nextLong(), 4096);
                            int off = rnd.nextInt(model.length / 4096) * 4096;
                            ch.write(ByteBuffer.wrap(page), off);
                            System.arraycopy(page, 0, model, off, page.length);
                            if (i == 0) {
                                ch.write(ByteBuffer.wrap(model, model.length - 1, 1), model.length - 1);
                            }
                            ch.force(false);
                        }
                        return null;
                    } catch (IOException e) {
                        return String.valueOf(e.getMessage());
                    }
                });
                assertEquals(null, w.get(120, TimeUnit.SECONDS), "every fsync succeeds");
                try (var packs = Files.list(fs.resolve("store/packs"))) {
                    for (Path p : (Iterable<Path>) packs::iterator) {
                        assertEquals(Files.size(p), io.cowfs.blockstore.store.Packs.scan(p, r -> { }),
                                "no zeros left past the records: they did not fit (" + p.getFileName() + ")");
                    }
                }
                Files.delete(fs.resolve("filler"));
            }
            try (Cowfs.Mounted m = c.mount("v")) { // from the store, not the page cache
                assertEquals(Fx.sha256(model), sha(m.dir.resolve("db")));
            }
            c.run("fsck").ok();
        }
    }

    /** Sub-block rewrites (deltas) on a full disk: ENOSPC or success, the mount stays up; with room again they work. */
    @Test
    void subBlockRewritesOnAFullDisk() throws Exception {
        try (Cowfs c = store()) {
            try (Cowfs.Mounted m = c.mount("v")) {
                List<String> written = fillUp(m, "fill");
                String err = rewritePages(m.dir.resolve("a.bin"), files.get("a.bin").clone(), 7, 32);
                System.out.println("page rewrites on a full disk: " + (err == null ? "stored" : err));
                assertTrue(err == null || err.contains("No space left on device"), err);
                assertTrue(Cowfs.isMounted(m.dir), "the mount stays up");
                Files.deleteIfExists(m.dir.resolve("fill" + written.size()));
                for (String n : written) {
                    Files.delete(m.dir.resolve(n));
                }
            }
            c.run("gc").ok();
            String want;
            try (Cowfs.Mounted m = c.mount("v")) {
                byte[] model = Files.readAllBytes(m.dir.resolve("a.bin")); // what the full disk let through
                assertEquals(null, rewritePages(m.dir.resolve("a.bin"), model, 8, 32), "page rewrites work again");
                want = Fx.sha256(model);
                assertEquals(want, sha(m.dir.resolve("a.bin")));
            }
            try (Cowfs.Mounted m = c.mount("v")) { // read back from the store (deltas), not the page cache
                assertEquals(want, sha(m.dir.resolve("a.bin")));
            }
            c.run("fsck").ok();
            c.run("verify").ok();
        }
    }

    /**
     * A close that cannot store a file's written data on a full store drops that data and fails
     * with ENOSPC, also when the process closing only read the file (every close sends FLUSH). The
     * writer, which still has the file open, hears of it at its next fsync, as Linux reports a
     * writeback error to the next fsync; before, that fsync succeeded over the lost bytes. The
     * fsync after it succeeds, and the mount stays up.
     */
    @Test
    void dataDroppedAtAReadersCloseFailsTheWritersNextFsync() throws Exception {
        try (Cowfs c = store()) {
            try (Cowfs.Mounted m = c.mount("v")) {
                fillUp(m, "fill");
                String out = Cowfs.sh(m.dir, "timeout 60 python3 -c \"import os, errno\n"
                        + "def tell(what, f, fd):\n"
                        + "    try:\n"
                        + "        f(fd); print(what, 'ok')\n"
                        + "    except OSError as e:\n"
                        + "        print(what, errno.errorcode[e.errno])\n"
                        + "w = os.open('log', os.O_WRONLY | os.O_CREAT, 0o644)\n"
                        + "os.write(w, os.urandom(4 << 20))\n"
                        + "tell('reader-close', os.close, os.open('log', os.O_RDONLY))\n"
                        + "tell('writer-fsync', os.fsync, w)\n"
                        + "tell('again-fsync', os.fsync, w)\n"
                        + "tell('writer-close', os.close, w)\n\"");
                assertEquals("reader-close ENOSPC\nwriter-fsync ENOSPC\nagain-fsync ok\nwriter-close ok", out.strip());
                assertTrue(Cowfs.isMounted(m.dir), "the mount stays up");
            }
            c.run("fsck").ok();
        }
    }

    /**
     * A snapshot of a view on a full store fails, and loses nothing: the data a process holds
     * open and has not fsynced waits in the mount (the snapshot's flush of open files closes a
     * descriptor of its own, whose FLUSH must not commit: a commit on a full store drops the file's
     * data, as a reader's close does above). Once rm + gc make room, the writer's fsync succeeds
     * and the bytes are all there; the snapshot then works.
     */
    @Test
    void aSnapshotOnAFullStoreFailsAndLosesNothing() throws Exception {
        try (Cowfs c = store()) {
            try (Cowfs.Mounted m = c.mount("v")) {
                fillUp(m, "fill");
                byte[] data = Fx.random(77, 4 * MB);
                try (FileChannel ch = FileChannel.open(m.dir.resolve("log"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    ByteBuffer b = ByteBuffer.wrap(data);
                    while (b.hasRemaining()) {
                        ch.write(b);
                    }
                    Cowfs.Result r = c.run("snapshot", "v", "--name", "s");
                    assertTrue(r.rc() != 0 && r.err().toLowerCase(java.util.Locale.ROOT).contains("no space left"), "the snapshot fails: " + r);
                    c.run("rm", "other").ok();
                    c.run("gc").ok();
                    ch.force(true); // throws if the snapshot's flush dropped the data
                }
                assertEquals(Fx.sha256(data), sha(m.dir.resolve("log")), "every byte the writer wrote");
                c.run("snapshot", "v", "--name", "s").ok();
            }
            try (Cowfs.Mounted s = c.mount("s")) {
                assertEquals(Fx.sha256(Fx.random(77, 4 * MB)), sha(s.dir.resolve("log")));
            }
            c.run("fsck").ok();
        }
    }

    /**
     * On a full store a hole punch succeeds (a punch is how one makes room, as on ext4): a page
     * inside a block and a whole block of a file already stored, then the range reads as zeros,
     * after a remount too, and the store stays consistent. (A punch that takes the view's
     * unstored data past the dirty limit on a full store keeps it waiting in memory, as a
     * truncate's cut block waits; these two stay far below the limit.)
     */
    @Test
    void aPunchOnAFullStoreSucceeds() throws Exception {
        try (Cowfs c = store()) {
            String name;
            byte[] want;
            try (Cowfs.Mounted m = c.mount("v")) {
                name = fillUp(m, "fill").get(0);
                want = head(m.dir.resolve(name));
                Cowfs.Result r = Cowfs.shRc(m.dir, "fallocate -p -o 4096 -l 4096 " + name + " && fallocate -p -o 131072 -l 65536 " + name);
                assertEquals(0, r.rc(), r.out());
                assertTrue(Cowfs.isMounted(m.dir), "the mount stays up");
                java.util.Arrays.fill(want, 4096, 8192, (byte) 0);
                java.util.Arrays.fill(want, 131072, 196608, (byte) 0);
                assertTrue(java.util.Arrays.equals(want, head(m.dir.resolve(name))), "the punched ranges read as zeros, the rest as before");
            }
            try (Cowfs.Mounted again = c.mount("v")) {
                assertTrue(java.util.Arrays.equals(want, head(again.dir.resolve(name))), "after a remount too");
            }
            c.run("fsck").ok();
        }
    }

    /** The first 256 KiB of a file. */
    private static byte[] head(Path p) throws IOException {
        try (java.io.InputStream in = Files.newInputStream(p)) {
            byte[] b = in.readNBytes(256 * 1024);
            assertEquals(256 * 1024, b.length, p + " is shorter than 256 KiB");
            return b;
        }
    }

    /**
     * While the disk is full, the rest of the view still reads: close() of a file opened for
     * reading must not fail, and a failed rm must leave the name in place.
     */
    @Test
    void theRestOfAFullViewStaysReadable() throws Exception {
        try (Cowfs c = store()) {
            try (Cowfs.Mounted m = c.mount("v")) {
                List<String> written = fillUp(m, "fill");
                Cowfs.Result cat = Cowfs.shRc(m.dir, "timeout 30 cat a.bin > /dev/null");
                assertEquals(0, cat.rc(), "reading another file: " + cat.out());
                assertEquals(Fx.sha256(files.get("a.bin")), sha(m.dir.resolve("a.bin")));
                readsBack(m.dir, "fill", written);
                Cowfs.Result rm = Cowfs.shRc(m.dir, "timeout 30 rm " + written.get(0));
                if (rm.rc() != 0) {
                    assertTrue(Files.exists(m.dir.resolve(written.get(0))), "rm failed (" + rm.out() + ") but the name is gone");
                }
            }
        }
    }

    /**
     * gc on a full disk: a pack whose live part does not fit in the free space is left for later
     * (gc still succeeds and says so), packs with nothing live are deleted first, and once there
     * is room the next gc compacts what it skipped.
     */
    @Test
    void gcOnAFullDiskFreesWhatItCan() throws Exception {
        try (Cowfs c = store()) {
            List<String> kept = new ArrayList<>();
            try (Cowfs.Mounted m = c.mount("v")) {
                List<String> written = fillUp(m, "fill");
                Files.deleteIfExists(m.dir.resolve("fill" + written.size()));
                for (int i = 0; i < written.size(); i++) {
                    if (i % 3 == 0) {
                        kept.add(written.get(i));
                    } else {
                        Files.delete(m.dir.resolve(written.get(i)));
                    }
                }
                // the view's pack is now about one third live: worth rewriting, but there is no room
                Cowfs.Result r = c.run("gc", "--json").ok();
                JsonNode gc = Fx.json(r);
                System.out.println("gc on a full disk: " + gc + " " + r.err().strip());
                assertTrue(gc.get("packsSkippedNoSpace").asLong() >= 1, gc.toString());
                assertTrue(r.err().contains("no space"), "gc says why it left packs: " + r.err());
                c.run("fsck").ok();
                // now garbage that needs no copy: the whole of 'other'
                c.run("rm", "other").ok();
                JsonNode gc2 = Fx.json(c.run("gc", "--json").ok());
                System.out.println("gc after rm other: " + gc2);
                assertTrue(gc2.get("freedBytes").asLong() >= 8 * MB, gc2.toString());
                JsonNode gc3 = Fx.json(c.run("gc", "--json").ok());
                assertEquals(0, gc3.get("packsSkippedNoSpace").asLong(), "with room, nothing is skipped: " + gc3);
                assertEquals(null, writeFile(m.dir.resolve("after"), MB, 102), "writing works again");
                for (String n : kept) {
                    int i = Integer.parseInt(n.substring(4));
                    assertEquals(Fx.sha256(Fx.random("fill".hashCode() * 1000L + i, MB)), sha(m.dir.resolve(n)), n);
                }
            }
            c.run("fsck").ok();
            c.run("verify").ok();
        }
    }

    @Test
    void importIntoAFullStore() throws Exception {
        Path small = tmp.resolve("small-src");
        Fx.writeTree(small, Map.of("s.bin", Fx.random(4, MB)));
        Path big = tmp.resolve("big-src");
        Map<String, byte[]> bigFiles = new LinkedHashMap<>();
        for (int i = 0; i < 30; i++) {
            bigFiles.put("f" + i + ".bin", Fx.random(100 + i, MB));
        }
        Fx.writeTree(big, bigFiles);
        try (Cowfs c = new Cowfs(fs)) {
            c.run("import", small.toString(), "--name", "small").ok();
            String before = c.run("list", "--json").ok().out();
            Cowfs.Result r = c.run("import", big.toString(), "--name", "big");
            System.out.println("import into a full store: rc " + r.rc() + ": " + r.err().strip());
            assertNotEquals(0, r.rc());
            List<String> lines = r.err().lines().filter(l -> !l.isBlank() && !l.contains("%")).toList();
            assertEquals(1, lines.size(), "one line: " + r.err());
            assertTrue(lines.get(0).contains("no space left"), "says the disk is full: " + r.err());
            assertTrue(lines.get(0).contains("rm") && lines.get(0).contains("gc"), "says what to do: " + r.err());
            assertEquals(before, c.run("list", "--json").ok().out(), "a failed import adds no name");
            c.run("fsck").ok();
            // what the failed import wrote is garbage that gc reclaims
            JsonNode gc = Fx.json(c.run("gc", "--json").ok());
            System.out.println("gc after the failed import: " + gc);
            assertTrue(Fx.packBytes(c.store) < 3 * MB, "gc reclaimed the failed import's data: " + Fx.packBytes(c.store) + " " + gc);
            c.run("fsck").ok();
            c.run("verify").ok();
            // and importing works again once there is room
            Path mid = tmp.resolve("mid-src");
            Fx.writeTree(mid, Map.of("m.bin", Fx.random(5, 4 * MB)));
            c.run("import", mid.toString(), "--name", "mid").ok();
            assertEquals(Fx.hashTree(mid), Fx.exported(c, "mid"));
        }
    }
}
