package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.LmdbPages;
import io.cowfs.blockstore.store.Store;
import io.cowfs.fusefs.vfs.ViewFs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damages the index of a real store in many ways (flipped bytes, one flipped bit, a page of
 * garbage, a zeroed page, a damaged meta page, a truncated file, a node's size made huge), before
 * the store is opened and (odd rounds) while it is open, and reads every file of a
 * snapshot and of a changed view through the same VFS a mount runs, in this process: nothing may
 * crash the JVM (liblmdb never sees an unchecked page), and every file either reads back exactly
 * or fails (EIO through FUSE); never other bytes.
 */
class IndexDamageFuzzTest {
    static final int ROUNDS = Integer.getInteger("cowfs.fuzzRounds", 56);

    @TempDir
    Path tmp;

    @Test
    void everyFileReadsBackExactlyOrFails() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Random r = new Random(11);
        Map<String, byte[]> snap = new TreeMap<>();
        for (int i = 0; i < 160; i++) {
            byte[] b = new byte[r.nextInt(4) == 0 ? 70_000 + r.nextInt(100_000) : r.nextInt(3000)];
            r.nextBytes(b);
            snap.put("d" + (i % 7) + "/f" + i, b);
        }
        Fx.writeTree(src, snap);
        Cowfs c = new Cowfs(tmp);
        c.run("import", src.toString(), "--name", "a").ok();
        c.run("fork", "a", "--name", "v").ok();
        Map<String, byte[]> view = new TreeMap<>(snap);
        Fx.inView(c.store, "v", fs -> {
            for (int i = 0; i < 40; i++) {
                String p = "d" + (i % 7) + "/f" + i;
                byte[] b = Fx.random(1000 + i, 500 + 97 * i);
                fs.put(p, b);
                view.put(p, b);
            }
            for (int i = 0; i < 30; i++) {
                String p = "new" + (i % 3) + "/g" + i;
                byte[] b = Fx.random(2000 + i, 100 + 31 * i);
                fs.put(p, b);
                view.put(p, b);
            }
            for (int i = 150; i < 160; i++) {
                fs.rm("d" + (i % 7) + "/f" + i);
                view.remove("d" + (i % 7) + "/f" + i);
            }
        });
        Path pristine = c.store;
        Path data = pristine.resolve("index").resolve("data.mdb");
        List<Long> leaves = new ArrayList<>();
        List<Long> viewLeaves = new ArrayList<>();
        long lastPage;
        try (LmdbPages pages = LmdbPages.open(data)) {
            LmdbPages.Meta m = pages.newest();
            LmdbPages.Walk w = pages.walk(m, false, true);
            assertTrue(w.clean(), "a fresh index walks clean: " + w.damage);
            w.leafPages.values().forEach(leaves::addAll);
            w.leafPages.forEach((db, l) -> {
                if (db.startsWith("v") || db.equals("catalog")) {
                    viewLeaves.addAll(l); // where one flipped bit would change what a view shows
                }
            });
            lastPage = m.lastPage();
        }
        int detected = 0;
        int atOpen = 0; // rounds that damaged the index before it was opened
        int failedReads = 0;
        int goodReads = 0;
        for (int round = 0; round < ROUNDS; round++) {
            Random d = new Random(round);
            Path work = tmp.resolve("round" + round);
            copyTree(pristine, work);
            Path idx = work.resolve("index").resolve("data.mdb");
            int kind = round % 7;
            // odd rounds damage pages while the store is open and both trees are loaded, as a
            // mount would be (then only lookups reach the index: SafeReader checks each page)
            boolean afterOpen = round % 2 == 1 && (kind <= 3 || kind == 6);
            List<Long> where = kind == 1 ? viewLeaves : leaves;
            String how = afterOpen ? "(after open)" : damage(idx, kind, d, where, lastPage);
            try (Store s = Store.open(work)) {
                detected += s.index().damage() != null ? 1 : 0;
                Map<String, ViewFs> trees = new TreeMap<>();
                for (var name : List.of("a", "v")) {
                    try {
                        CatalogEntry e = new Catalog(s).find(name);
                        if (e != null) {
                            trees.put(name, e.isView() ? ViewFs.view(s, e.root(), e.viewId(), true) : ViewFs.snapshot(s, e.root()));
                        }
                    } catch (RuntimeException ex) {
                        failedReads++; // its catalog entry or delta is unreadable: the name cannot be used
                    }
                }
                if (afterOpen) {
                    how = damage(idx, kind, d, where, lastPage) + " after open";
                    s.dropCache();
                } else {
                    atOpen++;
                }
                for (var t : trees.entrySet()) {
                    Map<String, byte[]> expect = t.getKey().equals("v") ? view : snap;
                    try (ViewFs fs = t.getValue()) {
                        for (var f : expect.entrySet()) {
                            byte[] got;
                            try {
                                got = read(fs, f.getKey());
                            } catch (RuntimeException ex) {
                                failedReads++;
                                continue;
                            }
                            assertTrue(Arrays.equals(f.getValue(), got), "round " + round + " (" + how + "): " + t.getKey() + "/"
                                    + f.getKey() + " read back other bytes (" + got.length + " bytes, expected "
                                    + f.getValue().length + "); index damage: " + s.index().damage());
                            goodReads++;
                        }
                    }
                }
            }
            Fx.deleteTree(work);
        }
        System.out.printf("index fuzz: %d rounds (%d damaged before open, found at open in %d), %d reads exact, %d failed%n",
                ROUNDS, atOpen, detected, goodReads, failedReads);
        assertTrue(detected >= atOpen / 2, "most damage is found when the index opens: " + detected + " of " + atOpen);
        assertTrue(goodReads > failedReads, "unaffected files still read: " + goodReads + " vs " + failedReads);
    }

    /**
     * Damage under a view that is being written: each write's path through the index is checked
     * in Java before liblmdb descends it, so a write either works or fails (EIO through FUSE);
     * the process never dies. Then the damage is found at the next open.
     */
    @Test
    void writesAfterDamageFailOrWorkNeverCrash() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Map<String, byte[]> snap = new TreeMap<>();
        for (int i = 0; i < 120; i++) {
            snap.put("d" + (i % 4) + "/f" + i, Fx.random(i, 200 + 40 * i));
        }
        Fx.writeTree(src, snap);
        Cowfs c = new Cowfs(tmp);
        c.run("import", src.toString(), "--name", "a").ok();
        c.run("fork", "a", "--name", "v").ok();
        Fx.inView(c.store, "v", fs -> {
            for (int i = 0; i < 120; i += 3) {
                fs.put("d" + (i % 4) + "/f" + i, Fx.random(500 + i, 3000));
            }
        });
        List<Long> leaves = new ArrayList<>();
        long lastPage;
        try (LmdbPages pages = LmdbPages.open(c.store.resolve("index").resolve("data.mdb"))) {
            LmdbPages.Meta m = pages.newest();
            pages.walk(m, false, true).leafPages.forEach((db, l) -> {
                if (!db.equals("meta")) {
                    leaves.addAll(l);
                }
            });
            lastPage = m.lastPage();
        }
        int failed = 0;
        int worked = 0;
        int found = 0;
        for (int round = 0; round < ROUNDS / 2; round++) {
            Random d = new Random(1000 + round);
            Path work = tmp.resolve("w" + round);
            copyTree(c.store, work);
            Path idx = work.resolve("index").resolve("data.mdb");
            try (Store s = Store.open(work)) {
                CatalogEntry e = new Catalog(s).get("v");
                ViewFs fs = ViewFs.view(s, e.root(), e.viewId(), false);
                damage(idx, round % 2 == 0 ? 2 : 6, d, leaves, lastPage);
                Fx.Vfs v = new Fx.Vfs(fs);
                for (int i = 0; i < 120; i += 7) {
                    try {
                        v.put("d" + (i % 4) + "/f" + i, Fx.random(9000 + i, 70_000));
                        worked++;
                    } catch (RuntimeException ex) {
                        failed++;
                    }
                }
                try {
                    fs.close();
                } catch (RuntimeException ex) {
                    failed++;
                }
            }
            try (Store s = Store.open(work)) {
                found += s.index().damage() != null ? 1 : 0;
            }
            Fx.deleteTree(work);
        }
        System.out.printf("index fuzz (writes): %d rounds, %d writes worked, %d failed, damage found at the next open in %d%n",
                ROUNDS / 2, worked, failed, found);
        assertTrue(failed > 0, "some writes met the damage");
    }

    /** Applies one kind of damage; says what it did. */
    private static String damage(Path idx, int kind, Random d, List<Long> leaves, long lastPage) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(idx.toFile(), "rw")) {
            long page = leaves.get(d.nextInt(leaves.size()));
            switch (kind) {
                case 0 -> {
                    long at = page * 4096 + d.nextInt(4096 - 16);
                    byte[] b = new byte[16];
                    f.seek(at);
                    f.readFully(b);
                    for (int i = 0; i < b.length; i++) {
                        b[i] ^= (byte) (1 + d.nextInt(255));
                    }
                    f.seek(at);
                    f.write(b);
                    return "16 bytes flipped at " + at;
                }
                case 1 -> {
                    long at = page * 4096 + 16 + d.nextInt(4096 - 16);
                    f.seek(at);
                    int v = f.read();
                    f.seek(at);
                    f.write(v ^ (1 << d.nextInt(8)));
                    return "one bit flipped at " + at;
                }
                case 2 -> {
                    byte[] b = new byte[4096];
                    d.nextBytes(b);
                    f.seek(page * 4096);
                    f.write(b);
                    return "page " + page + " overwritten with garbage";
                }
                case 3 -> {
                    f.seek(page * 4096);
                    f.write(new byte[4096]);
                    return "page " + page + " zeroed";
                }
                case 4 -> {
                    long at = (d.nextBoolean() ? 0 : 4096) + 16 + d.nextInt(144);
                    byte[] b = new byte[8];
                    d.nextBytes(b);
                    f.seek(at);
                    f.write(b);
                    return "meta page bytes at " + at + " overwritten";
                }
                case 6 -> {
                    // one node's data size made huge, its key intact: a lookup of that key finds it
                    f.seek(page * 4096 + 12);
                    int lower = (f.read() | (f.read() << 8));
                    int n = Math.max(1, (lower - 16) / 2);
                    f.seek(page * 4096 + 16 + 2L * d.nextInt(n));
                    int ptr = (f.read() | (f.read() << 8)) & 0xFFF;
                    f.seek(page * 4096 + ptr);
                    f.write(new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0x7F});
                    return "page " + page + ": a node's data size set to 2 GiB";
                }
                default -> {
                    long len = (2 + d.nextInt((int) Math.max(1, lastPage - 2))) * 4096L;
                    f.setLength(len);
                    return "truncated to " + len;
                }
            }
        }
    }

    private static byte[] read(ViewFs fs, String path) {
        long ino = fs.resolve("/" + path);
        fs.open(ino, false);
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[128 * 1024];
            long off = 0;
            while (true) {
                int n = fs.read(ino, off, buf, buf.length);
                if (n <= 0) {
                    break;
                }
                out.write(buf, 0, n);
                off += n;
            }
            assertEquals(fs.getattr(ino).size(), off, path + ": size and bytes read differ");
            return out.toByteArray();
        } finally {
            fs.release(ino);
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (var s = Files.walk(from)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else if (!p.getFileName().toString().equals("reserve")) {
                    Files.copy(p, t);
                }
            }
        }
    }
}
