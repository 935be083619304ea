package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Import and export of a host tree holding bytes that are not UTF-8 (docs/DESIGN-DECISIONS.md, 7):
 * such a name stops the import (or is skipped with --skip-unreadable), never becomes another name;
 * a symlink target is any bytes and comes back exactly.
 */
class NonUtf8ImportTest {
    @TempDir
    Path tmp;

    /** The bytes of a symlink's target, as hex ("74 e9 73 74"). */
    static String targetHex(Path link) throws Exception {
        return Cowfs.sh(link.getParent(), "readlink -n '" + link + "' | od -An -tx1 | tr -s ' \\n' ' '").trim();
    }

    /**
     * An xattr name that is not UTF-8 stops the import too, or with --skip-unreadable costs that
     * file its attributes, with a warning. Before, decoded with U+FFFD it named no attribute and
     * was dropped without a word.
     */
    @Test
    void anAttributeNameThatIsNotUtf8IsNotDroppedUnsaid() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Cowfs.sh(src, "echo x > f && echo y > g && setfattr -n user.ok -v 1 g");
        org.junit.jupiter.api.Assumptions.assumeTrue(
                Cowfs.shRc(src, "setfattr -n $'user.caf\\xe9' -v 1 f").rc() == 0, "the temp directory's filesystem takes no user xattrs");
        try (Cowfs c = new Cowfs(tmp)) {
            Cowfs.Result r = c.run("import", src.toString(), "--name", "s").fails(1);
            assertEquals(1, r.err().lines().count(), r.err());
            assertTrue(r.err().contains("user.caf\\xe9") && r.err().contains("not valid UTF-8") && r.err().contains("--skip-unreadable"), r.err());
            Cowfs.Result skipped = c.run("import", src.toString(), "--name", "s", "--skip-unreadable").ok();
            assertTrue(skipped.err().contains("skipped attributes of " + src.resolve("f")), skipped.err());
            try (Cowfs.Mounted m = c.mount("s")) {
                assertEquals("x\n", Files.readString(m.dir.resolve("f")));
                assertEquals("1", Cowfs.sh(m.dir, "getfattr --only-values -n user.ok g"));
            }
        }
    }

    @Test
    void aNameThatIsNotUtf8StopsTheImportAndNothingIsCommitted() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Cowfs.sh(src, "mkdir d && echo ok > d/ok && echo first > d/$'caf\\xe9' && echo plain > plain");
        try (Cowfs c = new Cowfs(tmp)) {
            Cowfs.Result r = c.run("import", src.toString(), "--name", "s").fails(1);
            assertEquals(1, r.err().lines().count(), r.err());
            assertTrue(r.err().contains("'caf\\xe9' in " + src.resolve("d")), "names the directory and the name, escaped: " + r.err());
            assertTrue(r.err().contains("must be valid UTF-8") && r.err().contains("--skip-unreadable"), r.err());
            assertFalse(c.run("list").ok().out().contains("s "), "no snapshot was committed");
            c.run("fsck").ok();
        }
    }

    @Test
    void skipUnreadableSkipsSuchNamesAndTheirSubtreesWithAWarning() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        // two names that decode to the same "caf\uFFFD" (they once became one entry, one file lost),
        // one of them a directory with a file inside; café is valid UTF-8 and stays
        Cowfs.sh(src, """
                set -e
                echo first > $'caf\\xe9'
                mkdir $'caf\\xe8' && echo inside > $'caf\\xe8'/f
                echo third > café && chmod 640 café
                echo plain > plain
                """);
        try (Cowfs c = new Cowfs(tmp)) {
            Cowfs.Result r = c.run("import", src.toString(), "--name", "s", "--skip-unreadable", "--json").ok();
            JsonNode j = new ObjectMapper().readTree(r.out());
            assertEquals(2, j.get("files").asLong(), "café and plain only: " + r.out());
            assertEquals(1, j.get("directories").asLong(), r.out());
            assertEquals(2, j.get("warnings").size(), r.out());
            assertTrue(r.err().contains("skipped 'caf\\xe9' in " + src) && r.err().contains("skipped 'caf\\xe8' in " + src), r.err());
            assertTrue(r.err().contains("must be valid UTF-8"), r.err());

            Path out = tmp.resolve("out");
            c.run("export", "s", out.toString()).ok();
            assertEquals("café\nplain\n", Cowfs.sh(out, "ls"));
            assertEquals("third\n", Files.readString(out.resolve("café")));
            assertEquals("640", Cowfs.sh(out, "stat -c %a café").trim());
            c.run("fsck").ok();
        }
    }

    @Test
    void symlinkTargetsThatAreNotUtf8SurviveImportAndExportExactly() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Cowfs.sh(src, "ln -s $'t\\xe9st' l1 && ln -s $'\\xff\\xfe/a\\xe9' l2 && ln -s café l3");
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "s").ok();
            Path out = tmp.resolve("out");
            c.run("export", "s", out.toString()).ok();
            assertEquals("74 e9 73 74", targetHex(out.resolve("l1")));
            assertEquals("ff fe 2f 61 e9", targetHex(out.resolve("l2")));
            assertEquals(targetHex(src.resolve("l3")), targetHex(out.resolve("l3")));
            assertEquals("4", Cowfs.sh(out, "stat -c %s l1").trim(), "a symlink's size is its target's length");
        }
    }
}
