package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * rm and gc without mounts: names removed in every order keep the others whole, gc frees
 * exactly what du says only the removed name held, and a CI-like loop keeps the store bounded.
 * Views are changed through the real VFS in this process (the code a mount runs).
 */
class LifecycleTest {
    @TempDir
    Path tmp;

    private static final int KB = 1024;

    /** A source tree: shared and unique content, a symlink, a nested dir. */
    private Map<String, byte[]> baseFiles() {
        Map<String, byte[]> m = new LinkedHashMap<>();
        m.put("big.bin", Fx.random(1, 600 * KB));
        m.put("text/readme.txt", "hello\n".repeat(2000).getBytes());
        m.put("text/nested/deep.txt", "deep\n".getBytes());
        m.put("same1.bin", Fx.random(7, 200 * KB));
        m.put("same2.bin", Fx.random(7, 200 * KB)); // identical to same1: deduplicated
        return m;
    }

    private Path source(String name, Map<String, byte[]> files) throws Exception {
        Path src = tmp.resolve(name);
        Fx.writeTree(src, files);
        Files.createSymbolicLink(src.resolve("text/link"), Path.of("readme.txt"));
        return src;
    }

    @Test
    void rmRemovesSnapshotsAndViewsAndChecksNamesFirst() throws Exception {
        Path src = source("src", baseFiles());
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();
            c.run("fork", "base", "--name", "w").ok();
            // an unknown name among known ones: nothing is removed
            Cowfs.Result r = c.run("rm", "v", "nosuch").fails(Main.EXIT_NOT_FOUND);
            assertTrue(r.err().contains("nosuch"), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertEquals(List.of("base", "v", "w"), names(c));
            c.run("rm", "v").ok();
            assertEquals(List.of("base", "w"), names(c));
            c.run("rm", "v").fails(Main.EXIT_NOT_FOUND);
            assertTrue(c.run("show", "w").ok().out().contains("\nparent:         base\n"), c.run("show", "w").out());
            assertFalse(Fx.json(c.run("show", "w", "--json").ok()).has("parentRemoved"));
            // the snapshot w was forked from goes; w keeps everything
            r = c.run("rm", "base").ok();
            assertTrue(r.out().contains("snapshot 'base'"), r.out());
            assertEquals(List.of("w"), names(c));
            parentShownRemoved(c, "w", "base");
            c.run("import", src.toString(), "--name", "base").ok(); // the name again, for another snapshot
            parentShownRemoved(c, "w", "base");
            c.run("rm", "base").ok();
            c.run("gc").ok();
            assertEquals(Fx.hashTree(src), Fx.exported(c, "w"));
            c.run("fsck").ok();
            c.run("verify").ok();
            c.run("rm", "w").ok();
            c.run("gc").ok();
            JsonNode st = Fx.json(c.run("stats", "--json").ok());
            assertEquals(0, st.get("chunks").asLong(), st.toString());
            assertEquals(0, Fx.packBytes(c.store), "an empty store keeps no pack bytes");
            c.run("fsck").ok();
        }
    }

    /**
     * base <- f1 (view, changed) -> s1 (its snapshot) <- f2 (view of s1, changed); removed one by
     * one in the given order; after each removal + gc, every remaining name exports exactly its
     * expected tree, and fsck and verify are clean.
     */
    /** show, show --json, list and list --json say that name's parent was removed. */
    private static void parentShownRemoved(Cowfs c, String name, String parent) throws Exception {
        String show = c.run("show", name).ok().out();
        assertTrue(show.contains("\nparent:         " + parent + " (removed)\n"), show);
        assertFalse(show.contains("parentRemoved"), show);
        JsonNode j = Fx.json(c.run("show", name, "--json").ok());
        assertEquals(parent, j.get("parent").asText(), j.toString());
        assertTrue(j.get("parentRemoved").asBoolean(), j.toString());
        String row = c.run("list").ok().out().lines().filter(l -> l.startsWith(name + " ")).findFirst().orElseThrow();
        assertTrue(row.contains(" " + parent + " (removed) "), row);
        for (JsonNode e : Fx.json(c.run("list", "--json").ok())) {
            if (e.get("name").asText().equals(name)) {
                assertTrue(e.get("parentRemoved").asBoolean(), e.toString());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"base,s1,f1,f2", "f2,f1,s1,base", "s1,base,f2,f1", "f1,base,f2,s1"})
    void removalInAnyOrderKeepsTheRestWhole(String order) throws Exception {
        Map<String, byte[]> files = baseFiles();
        Path src = source("src", files);
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "f1").ok();
            byte[] patch = Fx.random(11, 100 * KB);
            byte[] added = Fx.random(12, 300 * KB);
            Fx.inView(c.store, "f1", v -> v.patch("big.bin", 70 * KB, patch).put("new/added.bin", added).rm("same2.bin"));
            c.run("snapshot", "f1", "--name", "s1").ok();
            c.run("fork", "s1", "--name", "f2").ok();
            byte[] f2only = Fx.random(13, 250 * KB);
            Fx.inView(c.store, "f2", v -> v.put("text/readme.txt", f2only).rm("new/added.bin"));

            Map<String, Map<String, String>> expected = new HashMap<>();
            expected.put("base", Fx.hashTree(src));
            byte[] big = files.get("big.bin").clone();
            System.arraycopy(patch, 0, big, 70 * KB, patch.length);
            Files.write(src.resolve("big.bin"), big);
            Fx.writeTree(src, Map.of("new/added.bin", added));
            Files.delete(src.resolve("same2.bin"));
            expected.put("f1", Fx.hashTree(src));
            expected.put("s1", expected.get("f1"));
            Files.write(src.resolve("text/readme.txt"), f2only);
            Files.delete(src.resolve("new/added.bin"));
            expected.put("f2", Fx.hashTree(src));
            for (String n : expected.keySet()) {
                assertEquals(expected.get(n), Fx.exported(c, n), n + " before any removal");
            }
            List<String> left = new ArrayList<>(expected.keySet());
            for (String victim : order.split(",")) {
                c.run("rm", victim).ok();
                left.remove(victim);
                c.run("gc").ok();
                assertEquals(left.stream().sorted().toList(), names(c));
                for (String n : left) {
                    assertEquals(expected.get(n), Fx.exported(c, n), n + " after removing " + victim + " (order " + order + ")");
                }
                c.run("fsck").ok();
                c.run("verify").ok();
            }
            JsonNode st = Fx.json(c.run("stats", "--json").ok());
            assertEquals(0, st.get("chunks").asLong(), "all removed: nothing left indexed; " + st);
            assertEquals(0, Fx.packBytes(c.store), "an empty store keeps no pack bytes");
        }
    }

    /**
     * gc, run over and over while a long import runs in another process, must not drop the
     * import's packs: their records are committed only when the import ends (its packs roll over
     * every MiB here, and a finished pack is no longer locked).
     */
    @Test
    void gcDuringALongImportLosesNothing() throws Exception {
        Path big = tmp.resolve("big");
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (int i = 0; i < 60; i++) {
            files.put("f" + i + ".bin", Fx.random(7000 + i, 1 << 20));
        }
        Fx.writeTree(big, files);
        try (Cowfs c = new Cowfs(tmp)) {
            Path out = tmp.resolve("import.out");
            Process p = new ProcessBuilder(Fx.javaCommand(List.of("-Dcowfs.pack.rollover=1048576"),
                    "import", big.toString(), "--name", "big", "--store=" + c.store))
                    .redirectErrorStream(true).redirectOutput(out.toFile()).start();
            int runs = 0;
            long freedDuring = 0;
            try {
                while (p.isAlive()) {
                    freedDuring += Fx.json(c.run("gc", "--json").ok()).get("freedBytes").asLong();
                    runs++;
                }
            } finally {
                if (!p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            }
            assertEquals(0, p.exitValue(), Files.readString(out));
            System.out.println(runs + " gc runs during the import freed " + freedDuring + " bytes");
            assertTrue(runs >= 2, "gc ran during the import: " + runs);
            c.run("fsck").ok();
            c.run("verify").ok();
            assertEquals(Fx.hashTree(big), Fx.exported(c, "big"));
        }
    }

    /**
     * What du says only a name holds is what rm + gc frees, byte for byte (stored bytes), and the
     * pack files shrink by it; a second gc frees nothing.
     */
    @Test
    void gcFreesExactlyTheExclusiveBytes() throws Exception {
        Path src = source("src", baseFiles());
        Map<String, byte[]> extra = new LinkedHashMap<>(baseFiles());
        extra.put("extra/more.bin", Fx.random(21, 400 * KB));
        Path src2 = source("src2", extra);
        Path lone = tmp.resolve("lone");
        Fx.writeTree(lone, Map.of("a.bin", Fx.random(31, 900 * KB), "b.txt", "lonely\n".repeat(5000).getBytes()));
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "base").ok();
            c.run("import", src2.toString(), "--name", "base2").ok();
            c.run("import", lone.toString(), "--name", "lone").ok();
            c.run("fork", "base", "--name", "view").ok();
            Fx.inView(c.store, "view", v -> v.put("written.bin", Fx.random(41, 700 * KB)).patch("big.bin", 0, Fx.random(42, 64 * KB)));
            c.run("gc").ok(); // start from a store without garbage

            // 1. an independent import, alone in its pack: everything it holds is freed
            Map<String, JsonNode> du = Fx.du(c);
            long excl = du.get("lone").get("exclusiveBytes").asLong();
            assertEquals(du.get("lone").get("referencedBytes").asLong(), excl, "nothing of 'lone' is shared");
            assertTrue(excl > 500 * KB, "lone holds its data exclusively: " + excl);
            freesExactly(c, "lone", excl, true);

            // 2. a view with written data: its overrides are freed, its base stays
            du = Fx.du(c);
            excl = du.get("view").get("exclusiveBytes").asLong();
            assertTrue(excl > 700 * KB, "the written data is exclusive to the view: " + excl);
            freesExactly(c, "view", excl, true);

            // 3. a snapshot sharing almost everything with another one
            du = Fx.du(c);
            excl = du.get("base").get("exclusiveBytes").asLong();
            assertTrue(excl > 0 && excl < 20 * KB, "base shares its data with base2, only its own metadata is exclusive: " + excl);
            freesExactly(c, "base", excl, false);
            assertEquals(Fx.hashTree(src2), Fx.exported(c, "base2"));
            c.run("fsck").ok();
        }
    }

    private void freesExactly(Cowfs c, String name, long exclusive, boolean packsShrink) throws Exception {
        long before = Fx.packBytes(c.store);
        c.run("rm", name).ok();
        JsonNode gc = Fx.json(c.run("gc", "--json").ok());
        assertEquals(exclusive, gc.get("storedBytesDeleted").asLong(), "gc freed what du said only '" + name + "' held: " + gc);
        long after = Fx.packBytes(c.store);
        assertEquals(before - after, gc.get("freedBytes").asLong(), "gc reports the pack bytes it freed: " + gc);
        if (packsShrink) {
            // the data was alone in its packs: they go (a pack's 8-byte magic and unreferenced
            // metadata of the name's own pack go with it)
            assertTrue(before - after >= exclusive, "packs shrank by " + (before - after) + " < " + exclusive);
            assertTrue(before - after <= exclusive + 16 * KB, "packs shrank by " + (before - after) + " >> " + exclusive);
        } else {
            assertTrue(after <= before, "packs never grow in gc");
        }
        JsonNode again = Fx.json(c.run("gc", "--json").ok());
        assertEquals(0, again.get("chunksDeleted").asLong(), "a second gc finds nothing: " + again);
        assertEquals(0, again.get("freedBytes").asLong(), "a second gc frees nothing: " + again);
        c.run("fsck").ok();
    }

    /**
     * A nightly-CI loop: import a new revision, fork it, write in the fork, snapshot the result,
     * drop the previous round's names, gc. The store's size levels off.
     */
    @Test
    void storeStaysBoundedInACiLoop() throws Exception {
        Path src = source("src", baseFiles());
        int rounds = 15;
        long[] packs = new long[rounds + 1];
        long[] index = new long[rounds + 1];
        try (Cowfs c = new Cowfs(tmp)) {
            for (int i = 1; i <= rounds; i++) {
                // each revision changes one file: 150 KiB of new data per import
                Files.write(src.resolve("rev.bin"), Fx.random(1000 + i, 150 * KB));
                c.run("import", src.toString(), "--name", "rev-" + i).ok();
                c.run("fork", "rev-" + i, "--name", "job-" + i).ok();
                int round = i;
                Fx.inView(c.store, "job-" + i, v -> v.put("out/result.bin", Fx.random(2000 + round, 300 * KB))
                        .patch("big.bin", 64 * KB * (round % 8), Fx.random(3000 + round, 4 * KB)));
                c.run("snapshot", "job-" + i, "--name", "result-" + i).ok();
                if (i > 1) {
                    c.run("rm", "rev-" + (i - 1), "job-" + (i - 1)).ok();
                }
                if (i > 2) {
                    c.run("rm", "result-" + (i - 2)).ok();
                }
                c.run("gc").ok();
                packs[i] = Fx.packBytes(c.store);
                index[i] = Fx.indexBytes(c.store);
            }
            c.run("fsck").ok();
            c.run("verify").ok();
            assertEquals(List.of("job-" + rounds, "result-" + (rounds - 1), "result-" + rounds, "rev-" + rounds), names(c));
            Map<String, String> want = Fx.hashTree(src);
            want.put("out/", "dir");
            byte[] big = baseFiles().get("big.bin");
            System.arraycopy(Fx.random(3000 + rounds, 4 * KB), 0, big, 64 * KB * (rounds % 8), 4 * KB);
            want.put("big.bin", Fx.sha256(big));
            want.put("out/result.bin", Fx.sha256(Fx.random(2000 + rounds, 300 * KB)));
            assertEquals(want, Fx.exported(c, "result-" + rounds));
            System.out.println("packs by round: " + java.util.Arrays.toString(packs));
            System.out.println("index by round: " + java.util.Arrays.toString(index));
            assertTrue(packs[rounds] <= packs[3] * 1.10 + 64 * KB,
                    "pack bytes grow: round 3 " + packs[3] + ", round " + rounds + " " + packs[rounds]);
            assertTrue(index[rounds] <= Math.max(index[3] * 2, 1 << 20),
                    "index grows: round 3 " + index[3] + ", round " + rounds + " " + index[rounds]);
        }
    }

    private static List<String> names(Cowfs c) {
        List<String> out = new ArrayList<>();
        for (JsonNode n : Fx.json(c.run("list", "--json").ok())) {
            out.add(n.get("name").asText());
        }
        return out.stream().sorted().toList();
    }
}
