package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.store.LmdbPages;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damaged pages of the LMDB index, through the CLI and real mounts. liblmdb keeps no page
 * checksums and crashes on a bad page; cowfs checks every page (and every entry's seal) in Java
 * before liblmdb may read the index, opens a damaged one as a salvaged read-only copy, and
 * fsck --repair rebuilds it. Files whose data the damage took read as EIO; all others exactly.
 */
class IndexDamageTest {
    @TempDir
    Path tmp;

    private Path src;
    /** What snapshot 'a' holds. */
    private Map<String, byte[]> files;

    @org.junit.jupiter.api.BeforeEach
    void source() throws IOException {
        Cowfs.assumeFuse();
        src = Files.createDirectories(tmp.resolve("src"));
        files = source(src);
    }

    @org.junit.jupiter.api.AfterEach
    void noCrashReports() throws IOException {
        try (var s = Files.list(Path.of("."))) {
            assertFalse(s.anyMatch(p -> p.getFileName().toString().startsWith("hs_err_pid")), "a crash report left behind");
        }
    }

    /** A store with the source imported as snapshot 'a'. */
    private Cowfs imported() {
        Cowfs c = new Cowfs(tmp);
        c.run("import", src.toString(), "--name", "a").ok();
        return c;
    }

    /** 300 small files plus a few big ones. */
    private static Map<String, byte[]> source(Path src) throws IOException {
        Random r = new Random(7);
        Map<String, byte[]> files = new TreeMap<>();
        for (int i = 0; i < 300; i++) {
            byte[] b = new byte[3000];
            r.nextBytes(b);
            files.put("d" + (i % 5) + "/f" + i, b);
        }
        for (int i = 0; i < 3; i++) {
            files.put("big" + i, Fx.random(90 + i, 700_000));
        }
        Fx.writeTree(src, files);
        return files;
    }

    private static List<Long> leafPages(Path store, String db) throws IOException {
        try (LmdbPages p = LmdbPages.open(store.resolve("index").resolve("data.mdb"))) {
            LmdbPages.Walk w = p.walk(p.newest(), false, true);
            assertTrue(w.clean(), "the index walks clean before the damage: " + w.damage);
            return w.leafPages.get(db);
        }
    }

    private static void garbage(Path store, long page, long seed) throws IOException {
        byte[] b = new byte[4096];
        new Random(seed).nextBytes(b);
        try (RandomAccessFile f = new RandomAccessFile(store.resolve("index").resolve("data.mdb").toFile(), "rw")) {
            f.seek(page * 4096);
            f.write(b);
        }
    }

    /** Reads every expected file through a mount: exact bytes, or an I/O error; counts the errors. */
    private static int readAll(Path dir, Map<String, byte[]> expect, List<String> failed) {
        for (var e : expect.entrySet()) {
            try {
                byte[] got = Files.readAllBytes(dir.resolve(e.getKey()));
                assertTrue(java.util.Arrays.equals(e.getValue(), got), e.getKey() + " read back other bytes");
            } catch (IOException ex) {
                failed.add(e.getKey());
            }
        }
        return failed.size();
    }

    /**
     * A command's own commits leave index/checked naming them (so the next command on the
     * unchanged file skips the walk at open, O(index)); a page damaged by a write after that is
     * still found by the next command.
     */
    @Test
    void aCommandLeavesTheIndexCheckedAsItLeftItAndDamageWrittenLaterIsFound() throws Exception {
        try (Cowfs c = imported()) {
            Path data = c.store.resolve("index").resolve("data.mdb");
            for (String[] cmd : List.of(new String[] {"fork", "a", "--name", "v"}, new String[] {"fork", "a", "--name", "w"},
                    new String[] {"rm", "w"})) {
                // a process of its own, as users run it (this test JVM has seen other tests' damage: no records)
                String[] args = java.util.stream.Stream.concat(java.util.stream.Stream.of(cmd[0], "--store=" + c.store),
                        java.util.Arrays.stream(cmd, 1, cmd.length)).toArray(String[]::new);
                Cowfs.Result r = Fx.javaMain(args);
                assertEquals(0, r.rc(), r.out() + r.err());
                long newest;
                try (LmdbPages p = LmdbPages.open(data)) {
                    newest = p.newest().txnid();
                }
                String[] rec = Files.readString(c.store.resolve("index").resolve("checked")).strip().split(" ");
                assertEquals(newest, Long.parseLong(rec[0]), String.join(" ", cmd) + ": index/checked names its last commit");
                assertEquals(Files.size(data), Long.parseLong(rec[2]));
            }
            List<Long> pages = leafPages(c.store, "chunks");
            garbage(c.store, pages.get(0), 3);
            Cowfs.Result list = c.run("list").ok();
            assertTrue(list.out().contains("v") && list.err().contains("damaged"), list.err());
        }
    }

    /**
     * A page that changes on disk without a write (a failing medium; here: garbage written and the
     * file's mtime put back) leaves index/checked matching, so an ordinary command skips the walk;
     * fsck and verify, whose job is to find damage, walk whatever the record says.
     */
    @Test
    void fsckAndVerifyWalkAnIndexRecordedCleanWhosePageChangedWithoutAWrite() throws Exception {
        try (Cowfs c = imported()) {
            Path data = c.store.resolve("index").resolve("data.mdb");
            Cowfs.Result fork = Fx.javaMain("fork", "--store=" + c.store, "a", "--name", "v"); // records index/checked
            assertEquals(0, fork.rc(), fork.out() + fork.err());
            List<Long> pages = leafPages(c.store, "chunks");
            var mtime = Files.getLastModifiedTime(data);
            long size = Files.size(data);
            garbage(c.store, pages.get(0), 4);
            Files.setLastModifiedTime(data, mtime);
            assertEquals(size, Files.size(data));
            for (String cmd : new String[] {"fsck", "verify"}) {
                Cowfs.Result res = c.run(cmd).fails(Main.EXIT_DAMAGED);
                assertTrue(res.err().contains("data.mdb") && res.err().contains("damaged"), cmd + ": " + res.err());
            }
        }
    }

    /**
     * A mount's commits keep index/live naming the file as they leave it, also after a command
     * committed between them, so a command beside a mount that wrote skips the walk at open: here
     * damage written with the mtime put back goes unseen by `list`, as for any file recorded
     * clean, while `fsck` finds it. (Before index/live, every command after a mount's writes
     * walked the whole index: O(index) per command on a store with a busy view.)
     */
    @Test
    void commandsBesideAMountThatWroteSkipTheWalk() throws Exception {
        try (Cowfs c = imported()) {
            Path data = c.store.resolve("index").resolve("data.mdb");
            c.run("fork", "a", "--name", "v").ok();
            try (Cowfs.Mounted v = c.mount("v")) {
                for (int i = 0; i < 40; i++) {
                    Files.write(v.dir.resolve("new" + i), Fx.random(1000 + i, 5000)); // each close commits
                    if (i == 20) { // a command's commits between the mount's, in a process of its own
                        Cowfs.Result fork = Fx.javaMain("fork", "--store=" + c.store, "a", "--name", "w");
                        assertEquals(0, fork.rc(), fork.out() + fork.err());
                    }
                }
                long newest;
                try (LmdbPages p = LmdbPages.open(data)) {
                    newest = p.newest().txnid();
                }
                java.nio.ByteBuffer live = java.nio.ByteBuffer.wrap(Files.readAllBytes(c.store.resolve("index").resolve("live")))
                        .order(java.nio.ByteOrder.nativeOrder());
                assertEquals(newest, live.getLong(0), "index/live names the mount's last commit");
                assertEquals(Files.size(data), live.getLong(16));
                List<Long> pages = leafPages(c.store, "chunks");
                var mtime = Files.getLastModifiedTime(data);
                garbage(c.store, pages.get(0), 5);
                Files.setLastModifiedTime(data, mtime);
                // --names reads only the catalog: a plain list looks up chunks (sizes), and its lookup
                // could meet the garbage page itself, whether or not the open walked
                Cowfs.Result list = Fx.javaMain("list", "--names", "--store=" + c.store);
                assertEquals(0, list.rc(), list.out() + list.err());
                assertFalse(list.err().contains("damaged"), "list trusted index/live, no walk: " + list.err());
                assertTrue(list.out().contains("w"), list.out());
            }
            Cowfs.Result f = c.run("fsck").fails(Main.EXIT_DAMAGED);
            assertTrue(f.out().contains("damaged") || f.err().contains("damaged"), f.out() + f.err());
        }
    }

    @Test
    void damagedChunkPagesAreNamedAndLoseNothing() throws Exception {
        try (Cowfs c = imported()) {
            c.run("fork", "a", "--name", "v").ok();
            Map<String, byte[]> view = new TreeMap<>(files);
            try (Cowfs.Mounted m = c.mount("v")) {
                for (int i = 0; i < 20; i++) {
                    byte[] b = Fx.random(500 + i, 5000 + i);
                    Files.write(m.dir.resolve("d1/f" + (5 * i + 1)), b);
                    view.put("d1/f" + (5 * i + 1), b);
                }
            }
            c.run("verify").ok();
            List<Long> pages = leafPages(c.store, "chunks");
            assertTrue(pages.size() >= 2, "the chunk index spans several pages: " + pages);
            garbage(c.store, pages.get(0), 1);
            Fx.flipByte(c.store.resolve("index").resolve("data.mdb"), pages.get(pages.size() - 1) * 4096 + 2000);

            Cowfs.Result list = c.run("list").ok();
            assertTrue(list.out().contains("v") && list.err().contains("damaged"), list.err());
            assertFalse(list.err().strip().contains("\n"), "one warning line: " + list.err());
            for (String cmd : new String[] {"verify", "fsck"}) {
                Cowfs.Result res = c.run(cmd).fails(Main.EXIT_DAMAGED);
                assertTrue(res.err().contains("data.mdb") && res.err().contains("damaged"), cmd + ": " + res.err());
                assertFalse(res.err().strip().contains("\n"), cmd + " says it in one line: " + res.err());
                assertTrue(res.out().contains("page " + pages.get(0) + " of the 'chunks' database"), cmd + ": " + res.out() + res.err());
            }
            Cowfs.Result imp = c.run("import", src.toString(), "--name", "b").fails(Main.EXIT_DAMAGED);
            assertTrue(imp.err().contains("fsck --repair") && !imp.err().strip().contains("\n"), imp.err());

            // every chunk location lost with the pages is re-read from the pack headers
            try (Cowfs.Mounted a = c.mount("a"); Cowfs.Mounted v = c.mount("v")) {
                List<String> failed = new java.util.ArrayList<>();
                assertEquals(0, readAll(a.dir, files, failed), "snapshot: " + failed);
                assertEquals(0, readAll(v.dir, view, failed), "view: " + failed);
                Cowfs.Result w = Cowfs.shRc(v.dir, "echo x > d0/f0");
                assertNotEquals(0, w.rc());
                assertTrue(w.out().contains("Read-only file system"), w.out());
                Cowfs.Result busy = c.run("fsck", "--repair").fails(Main.EXIT_BUSY);
                assertTrue(busy.err().contains("in use"), busy.err());
            }

            Cowfs.Result rep = c.run("fsck", "--repair").ok();
            assertTrue(rep.out().contains("REPAIRED") && rep.out().contains("rebuilt"), rep.out());
            try (var s = Files.list(c.store)) {
                assertTrue(s.anyMatch(p -> p.getFileName().toString().startsWith("index.damaged-")), "the damaged index is kept");
            }
            c.run("fsck").ok();
            c.run("verify").ok();
            c.run("import", src.toString(), "--name", "b").ok();
            try (Cowfs.Mounted v = c.mount("v")) {
                List<String> failed = new java.util.ArrayList<>();
                assertEquals(0, readAll(v.dir, view, failed), "view after repair: " + failed);
                Files.writeString(v.dir.resolve("after-repair"), "writable again\n");
            }
            c.run("fsck").ok();
        }
    }

    @Test
    void lostViewChangesReadAsEioUntilTheViewIsRemoved() throws Exception {
        try (Cowfs c = imported()) {
            c.run("fork", "a", "--name", "v").ok();
            Map<String, byte[]> view = new TreeMap<>(files);
            Fx.inView(c.store, "v", fs -> {
                for (int i = 0; i < 300; i += 2) { // enough changes that the block map spans several pages
                    byte[] b = Fx.random(1000 + i, 3000);
                    fs.put("d" + (i % 5) + "/f" + i, b);
                    view.put("d" + (i % 5) + "/f" + i, b);
                }
            });
            List<Long> pages = leafPages(c.store, "vblock");
            assertTrue(pages.size() >= 3, "the view's block map spans several pages: " + pages);
            garbage(c.store, pages.get(pages.size() / 2), 2);

            List<String> failed = new java.util.ArrayList<>();
            try (Cowfs.Mounted a = c.mount("a"); Cowfs.Mounted v = c.mount("v")) {
                assertEquals(0, readAll(a.dir, files, new java.util.ArrayList<>()), "the snapshot does not depend on the view's map");
                int eio = readAll(v.dir, view, failed);
                assertTrue(eio > 0 && eio < view.size() / 2, "some, not most, of the view's files fail: " + eio + " of " + view.size());
            }
            Cowfs.Result fsck = c.run("fsck").fails(Main.EXIT_DAMAGED);
            assertTrue(fsck.out().contains("'vblock' database"), fsck.out());
            Cowfs.Result rep = c.run("fsck", "--repair").fails(Main.EXIT_DAMAGED);
            assertTrue(rep.out().contains("rebuilt") && rep.out().contains("lost"), rep.out());

            // the rebuilt index remembers which inodes lost changes: still EIO, never the base's bytes
            Cowfs.Result after = c.run("fsck").fails(Main.EXIT_DAMAGED);
            assertTrue(after.out().contains("view 'v'") && after.out().contains("EIO"), after.out());
            try (Cowfs.Mounted v = c.mount("v")) {
                List<String> again = new java.util.ArrayList<>();
                readAll(v.dir, view, again);
                assertEquals(failed, again, "the same files fail after the repair");
                Files.writeString(v.dir.resolve("new-after-repair"), "ok\n");
            }
            c.run("rm", "v").ok();
            c.run("gc").ok();
            c.run("fsck").ok();
        }
    }

    /**
     * Read-ahead looks up the blocks ahead of a reader in the index: a damaged page that only those
     * blocks' entries lie on must fail the reads of those blocks (EIO), not the reads before them.
     * (Read-ahead looked them up on the FUSE worker, inside the read: the first read of the file
     * failed, 64 blocks ahead of the damage.)
     */
    @Test
    void damageAheadOfAReaderFailsOnlyTheReadsThatGetThere() throws Exception {
        int bs = 65536;
        int blocks = 1024; // ~30 leaves of entries: the one whose first block is furthest lies well past the start
        byte[] data = Fx.random(11, bs * blocks);
        Path big = Files.createDirectories(tmp.resolve("src-big"));
        Files.write(big.resolve("big"), data);
        try (Cowfs c = new Cowfs(Files.createDirectories(tmp.resolve("ra")))) {
            c.run("import", big.toString(), "--name", "b").ok();
            // the leaf of the chunk index each block's entry is on; the damaged leaf must hold data
            // blocks' entries only (not the file's block list or its directory), the furthest first
            Map<String, Integer> blockOf = new java.util.HashMap<>();
            for (int i = 0; i < blocks; i++) {
                blockOf.put(Fx.sha256(java.util.Arrays.copyOfRange(data, i * bs, (i + 1) * bs)), i);
            }
            long damaged = -1;
            int first = -1;
            byte[] index = Files.readAllBytes(c.store.resolve("index").resolve("data.mdb"));
            for (long pg : leafPages(c.store, "chunks")) {
                java.nio.ByteBuffer p = java.nio.ByteBuffer.wrap(index, (int) pg * 4096, 4096).slice().order(java.nio.ByteOrder.LITTLE_ENDIAN);
                int n = ((p.getShort(12) & 0xFFFF) - 16) / 2;
                int min = Integer.MAX_VALUE;
                for (int i = 0; i < n; i++) {
                    int ptr = p.getShort(16 + 2 * i) & 0xFFFF;
                    byte[] key = new byte[p.getShort(ptr + 6) & 0xFFFF];
                    p.get(ptr + 8, key);
                    Integer b = blockOf.get(java.util.HexFormat.of().formatHex(key));
                    min = Math.min(min, b == null ? -1 : b);
                }
                if (min > first) {
                    first = min;
                    damaged = pg;
                }
            }
            int sound = first - 17; // reads this far stay clear of the kernel's own 1 MiB read-ahead too
            assertTrue(sound >= 4, "a leaf whose entries are all of blocks past the first few: first block " + first);
            try (Cowfs.Mounted m = c.mount("b")) {
                garbage(c.store, damaged, 5);
                try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(m.dir.resolve("big"))) {
                    java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(bs);
                    for (int i = 0; i < sound; i++) {
                        buf.clear();
                        while (buf.hasRemaining() && ch.read(buf, (long) i * bs + buf.position()) > 0) {
                            // until the block is read whole
                        }
                        assertTrue(java.util.Arrays.equals(data, i * bs, (i + 1) * bs, buf.array(), 0, bs), "block " + i + " reads back");
                    }
                    int at = first;
                    IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                            () -> ch.read(java.nio.ByteBuffer.allocate(bs), (long) at * bs), "block " + at + "'s entry is on the damaged page");
                    assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"), e.toString());
                }
                assertTrue(Cowfs.isMounted(m.dir), "the mount is still up");
            }
        }
    }

    @Test
    void damageWhileMountedIsEioForThoseFilesOnly() throws Exception {
        try (Cowfs c = imported()) {
            List<Long> pages = leafPages(c.store, "chunks");
            try (Cowfs.Mounted a = c.mount("a")) {
                // a mount in use: the tree has been listed (directories and inodes are cached), no file
                // has been read, so every file's blocks are looked up in the index from now on
                try (var walk = Files.walk(a.dir)) {
                    assertEquals(files.size(), walk.filter(Files::isRegularFile).count());
                }
                garbage(c.store, pages.get(pages.size() / 2), 3);
                List<String> failed = new java.util.ArrayList<>();
                int eio = readAll(a.dir, files, failed);
                assertTrue(eio > 0 && eio < files.size() / 2, "some, not most, files fail: " + eio + " of " + files.size());
                assertTrue(Cowfs.isMounted(a.dir), "the mount is still up");
                assertTrue(Files.isDirectory(a.dir.resolve("d0")), "and still answers");
            }
            Cowfs.Result f = c.run("fsck").fails(Main.EXIT_DAMAGED);
            assertTrue(f.out().contains("page " + pages.get(pages.size() / 2) + " of the 'chunks' database"), f.out());
            c.run("fsck", "--repair").ok();
            try (Cowfs.Mounted a = c.mount("a")) {
                assertEquals(0, readAll(a.dir, files, new java.util.ArrayList<>()), "every file reads after the repair");
            }
        }
    }

    @Test
    void aLostIndexIsRebuiltFromThePacks() throws Exception {
        try (Cowfs c = imported()) {
            Fx.deleteTree(c.store.resolve("index"));
            // LMDB would make a new empty index, and gc would then reclaim everything: it is damage
            Cowfs.Result list = c.run("list").ok();
            assertTrue(list.err().contains("missing"), list.err());
            Cowfs.Result gc = c.run("gc").fails(Main.EXIT_DAMAGED);
            assertTrue(gc.err().contains("fsck --repair"), gc.err());
            Cowfs.Result rep = c.run("fsck", "--repair").fails(Main.EXIT_DAMAGED); // the name itself is lost
            assertTrue(rep.out().contains("lost+found-"), rep.out());
            String name = rep.out().lines().filter(l -> l.contains("lost+found-")).findFirst().orElseThrow()
                    .replaceAll(".*'(lost\\+found-[0-9a-f]+)'.*", "$1");
            c.run("fsck").ok();
            try (Cowfs.Mounted m = c.mount(name)) {
                assertEquals(0, readAll(m.dir, files, new java.util.ArrayList<>()), "every file of the recovered snapshot");
            }
            c.run("fork", name, "--name", "again").ok();
        }
    }
}
