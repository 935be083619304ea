package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.gc.ObjectGraph;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.Store;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** diff between snapshots, views and independent imports; du's numbers against an independent walk. */
class DiffDuTest {
    @TempDir
    Path tmp;

    private static final int KB = 1024;
    private static final FileTime T0 = FileTime.fromMillis(1_600_000_000_000L);

    private Path tree(String name) throws Exception {
        Path src = tmp.resolve(name);
        Map<String, byte[]> m = new LinkedHashMap<>();
        m.put("a.txt", "alpha\n".getBytes());
        m.put("b.bin", Fx.random(2, 200 * KB));
        m.put("c.txt", "gamma\n".getBytes());
        m.put("meta.txt", "only my mode changes\n".getBytes());
        m.put("dir1/x.txt", "x\n".getBytes());
        m.put("dir1/sub/y.txt", "y\n".getBytes());
        m.put("gone/f1", "f1\n".getBytes());
        m.put("gone/f2", "f2\n".getBytes());
        m.put("typechg", "a file that becomes a directory\n".getBytes());
        m.put("z-unchanged.bin", Fx.random(3, 100 * KB));
        Fx.writeTree(src, m);
        Files.createSymbolicLink(src.resolve("link"), Path.of("a.txt"));
        settle(src);
        return src;
    }

    /** Fixed mtimes everywhere, so that only what a test changes differs. */
    private static void settle(Path root) throws Exception {
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.toList()) {
                Files.getFileAttributeView(p, java.nio.file.attribute.BasicFileAttributeView.class,
                        java.nio.file.LinkOption.NOFOLLOW_LINKS).setTimes(T0, null, null);
            }
        }
    }

    private static Set<String> diff(Cowfs c, String a, String b) {
        String out = c.run("diff", a, b).ok().out();
        Set<String> s = new TreeSet<>(out.lines().filter(l -> !l.isBlank()).toList());
        // the --json form says the same
        Set<String> j = new TreeSet<>();
        for (JsonNode n : Fx.json(c.run("diff", a, b, "--json").ok())) {
            String k = switch (n.get("change").asText()) {
                case "added" -> "A";
                case "removed" -> "D";
                case "modified" -> "M";
                case "metadata" -> "m";
                default -> throw new AssertionError(n.toString());
            };
            String p = n.get("path").asText();
            boolean dir = n.get("type").asText().equals("directory") && !p.equals("/");
            j.add(k + " " + DiffCommand.quoted(p + (dir ? "/" : "")));
        }
        assertEquals(s, j, "text and --json agree");
        return s;
    }

    private static Set<String> set(String... s) {
        return new TreeSet<>(List.of(s));
    }

    private static Set<String> reversed(Set<String> d) {
        Set<String> r = new TreeSet<>();
        for (String l : d) {
            r.add(switch (l.charAt(0)) {
                case 'A' -> "D" + l.substring(1);
                case 'D' -> "A" + l.substring(1);
                default -> l;
            });
        }
        return r;
    }

    @Test
    void diffOfAForkAgainstItsBase() throws Exception {
        Path src = tree("src");
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();
            assertEquals(set(), diff(c, "base", "v"), "a fresh fork differs in nothing");
            Fx.inView(c.store, "v", v -> {
                v.patch("b.bin", 100_000, new byte[] {42}); // one byte, same size
                v.put("a.txt", "ALPHA\n".getBytes());
                v.put("new.txt", "new\n".getBytes());
                v.put("newdir/f", "f\n".getBytes());
                v.rm("c.txt");
                v.rm("gone/f1").rm("gone/f2").rmdir("gone");
                v.chmod("meta.txt", 0600);
                v.mtime("dir1/x.txt", 1_700_000_000L);
                v.rm("typechg").mkdir("typechg");
                v.rm("link").symlink("link", "c.txt");
            });
            Set<String> want = set("m /", "M /a.txt", "M /b.bin", "A /new.txt", "A /newdir/", "A /newdir/f", "D /c.txt",
                    "D /gone/", "D /gone/f1", "D /gone/f2", "m /meta.txt", "m /dir1/x.txt", "D /typechg", "A /typechg/",
                    "M /link");
            assertEquals(want, diff(c, "base", "v"), "snapshot against an unmounted view");
            c.run("snapshot", "v", "--name", "s").ok();
            assertEquals(want, diff(c, "base", "s"), "snapshot against the fork's snapshot");
            assertEquals(reversed(want), diff(c, "s", "base"), "the other way round");
            assertEquals(set(), diff(c, "s", "v"));
            assertEquals(set(), diff(c, "base", "base"));
            c.run("diff", "base", "nosuch").fails(Main.EXIT_NOT_FOUND);
            c.run("fsck").ok();
        }
    }

    /**
     * A name may hold a newline: the text output quotes such a path as git does, so that one line
     * is one path (before, "A /new" and "line" were two lines); --json has it as it is.
     */
    @Test
    void pathsWithControlCharactersAreQuoted() throws Exception {
        Path one = tree("one");
        Path two = tree("two");
        Files.write(two.resolve("new\nline"), "n\n".getBytes());
        Files.write(two.resolve("tab\there"), "t\n".getBytes());
        Files.write(two.resolve("back\\slash \"q\""), "b\n".getBytes());
        Files.write(two.resolve("a plain name"), "p\n".getBytes());
        settle(two);
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", one.toString(), "--name", "one").ok();
            c.run("import", two.toString(), "--name", "two").ok();
            String out = c.run("diff", "one", "two").ok().out();
            assertEquals(set("A \"/new\\nline\"", "A \"/tab\\there\"", "A \"/back\\\\slash \\\"q\\\"\"", "A /a plain name"),
                    new TreeSet<>(out.lines().toList()), out);
            Set<String> raw = new TreeSet<>();
            for (JsonNode n : Fx.json(c.run("diff", "one", "two", "--json").ok())) {
                raw.add(n.get("path").asText());
            }
            assertEquals(set("/new\nline", "/tab\there", "/back\\slash \"q\"", "/a plain name"), raw);
        }
    }

    @Test
    void diffOfTwoIndependentImports() throws Exception {
        Path one = tree("one");
        Path two = tree("two");
        byte[] b = Files.readAllBytes(two.resolve("b.bin"));
        b[150_000] ^= 1;
        Files.write(two.resolve("b.bin"), b);
        Files.write(two.resolve("dir1/sub/y.txt"), "Y\n".getBytes());
        Files.setPosixFilePermissions(two.resolve("meta.txt"), PosixFilePermissions.fromString("rw-------"));
        Files.write(two.resolve("added.txt"), "added\n".getBytes());
        Files.createDirectories(two.resolve("aaa/bbb"));
        Files.write(two.resolve("aaa/bbb/early.txt"), "sorted first, shifts every inode number\n".getBytes());
        Files.delete(two.resolve("c.txt"));
        Files.delete(two.resolve("typechg"));
        Files.createDirectory(two.resolve("typechg"));
        settle(two);
        Files.setLastModifiedTime(two.resolve("dir1/x.txt"), FileTime.fromMillis(1_700_000_000_000L));
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", one.toString(), "--name", "one").ok();
            c.run("import", two.toString(), "--name", "two").ok();
            Set<String> want = set("M /b.bin", "M /dir1/sub/y.txt", "m /meta.txt", "A /added.txt", "A /aaa/", "A /aaa/bbb/",
                    "A /aaa/bbb/early.txt", "D /c.txt", "D /typechg", "A /typechg/", "m /dir1/x.txt");
            assertEquals(want, diff(c, "one", "two"));
            assertEquals(reversed(want), diff(c, "two", "one"));
        }
    }

    /** du of a snapshot, a fresh fork, the fork after writing, and its snapshot. */
    @Test
    void duNumbers() throws Exception {
        Path src = tree("src");
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "base").ok();
            Map<String, JsonNode> du = Fx.du(c);
            JsonNode base = du.get("base");
            long baseRef = base.get("referencedBytes").asLong();
            assertEquals(baseRef, base.get("exclusiveBytes").asLong(), "alone, a snapshot holds all it refers to");
            assertEquals(0, base.get("sharedBytes").asLong());
            assertEquals(10, base.get("files").asLong(), "regular files: " + base);
            crossCheck(c);

            c.run("fork", "base", "--name", "f").ok();
            du = Fx.du(c);
            assertEquals(0, du.get("f").get("exclusiveBytes").asLong(), "a fresh fork holds nothing of its own");
            assertEquals(0, du.get("base").get("exclusiveBytes").asLong(), "... and takes everything of its base");
            assertEquals(baseRef, du.get("f").get("referencedBytes").asLong());
            assertEquals(baseRef, du.get("f").get("sharedBytes").asLong());
            crossCheck(c);

            int n = 500 * KB; // random: stored as is, in 8 blocks
            Fx.inView(c.store, "f", v -> v.put("written.bin", Fx.random(9, n)));
            du = Fx.du(c);
            JsonNode f = du.get("f");
            long blocks = (n + 64 * KB - 1) / (64 * KB);
            assertEquals(n + blocks * PackRecord.HEADER, f.get("exclusiveBytes").asLong(), "exclusive grows by exactly the blocks written: " + f);
            assertEquals(f.get("referencedBytes").asLong(), f.get("sharedBytes").asLong() + f.get("exclusiveBytes").asLong());
            assertEquals(du.get("base").get("logicalBytes").asLong() + n, f.get("logicalBytes").asLong());
            assertEquals(du.get("base").get("files").asLong() + 1, f.get("files").asLong());
            crossCheck(c);

            c.run("snapshot", "f", "--name", "s").ok();
            du = Fx.du(c);
            assertEquals(0, du.get("f").get("exclusiveBytes").asLong(), "its snapshot shares all the fork holds: " + du.get("f"));
            long sExcl = du.get("s").get("exclusiveBytes").asLong();
            assertTrue(sExcl > 0 && sExcl < 16 * KB, "a snapshot's own bytes are its new metadata: " + du.get("s"));
            assertEquals(du.get("f").get("logicalBytes").asLong(), du.get("s").get("logicalBytes").asLong());
            crossCheck(c);
            // du NAME shows just that name; an unknown name is an error
            assertEquals(1, Fx.json(c.run("du", "s", "--json").ok()).size());
            c.run("du", "nosuch").fails(Main.EXIT_NOT_FOUND);
        }
    }

    /**
     * du's level-by-level accounting against a plain depth-first walk of each name
     * (the ObjectGraph visitor gc marks with): referenced and exclusive bytes must agree exactly.
     */
    private static void crossCheck(Cowfs c) {
        Map<String, JsonNode> du = Fx.du(c);
        try (Store s = Store.open(c.store)) {
            List<CatalogEntry> names = new Catalog(s).list();
            Map<String, Set<ChunkId>> reach = new HashMap<>();
            Map<ChunkId, Integer> count = new HashMap<>();
            ObjectGraph graph = new ObjectGraph(s);
            for (CatalogEntry e : names) {
                Set<ChunkId> mine = new HashSet<>();
                s.index().read(txn -> {
                    graph.entry(txn, e, (kind, id, from) -> mine.add(id) ? ObjectGraph.Step.WALK : ObjectGraph.Step.SKIP);
                    return null;
                });
                reach.put(e.name(), mine);
                mine.forEach(id -> count.merge(id, 1, Integer::sum));
            }
            for (CatalogEntry e : names) {
                long ref = 0;
                long excl = 0;
                for (ChunkId id : reach.get(e.name())) {
                    ChunkLocation l = s.locate(id);
                    long size = l.storedLen() + PackRecord.HEADER;
                    ref += size;
                    if (count.get(id) == 1) {
                        excl += size;
                    }
                }
                JsonNode row = du.get(e.name());
                assertEquals(ref, row.get("referencedBytes").asLong(), "referenced bytes of " + e.name());
                assertEquals(excl, row.get("exclusiveBytes").asLong(), "exclusive bytes of " + e.name());
                assertEquals(reach.get(e.name()).size(), row.get("chunks").asLong(), "chunks of " + e.name());
            }
        }
    }
}
