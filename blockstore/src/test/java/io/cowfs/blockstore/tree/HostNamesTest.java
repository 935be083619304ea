package io.cowfs.blockstore.tree;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Host names and symlink targets as bytes (HostFs), and how import shows a name that is not UTF-8. */
class HostNamesTest {
    @TempDir
    Path tmp;

    static byte[] bytes(String hex) {
        return HexFormat.of().parseHex(hex);
    }

    static void bash(Path dir, String script) throws Exception {
        Process p = new ProcessBuilder("bash", "-c", script).directory(dir.toFile()).inheritIO().start();
        assertEquals(0, p.waitFor(), script);
    }

    @Test
    void namesAndTargetsAreTheHostsBytes() throws Exception {
        bash(tmp, "echo 1 > $'caf\\xe9' && echo 2 > $'caf\\xe8' && echo 3 > café && ln -s $'\\xff\\xfe/t\\xe9' l");
        List<String> names = HostFs.names(tmp).stream().map(HexFormat.of()::formatHex).sorted().toList();
        assertEquals(List.of("636166c3a9", "636166e8", "636166e9", "6c"), names);
        assertArrayEquals(bytes("fffe2f74e9"), HostFs.readlink(tmp.resolve("l")));

        Path out = Files.createDirectory(tmp.resolve("out"));
        HostFs.symlink(bytes("fffe2f74e9"), out.resolve("l"));
        assertArrayEquals(bytes("fffe2f74e9"), HostFs.readlink(out.resolve("l")));
        String longTarget = "x/".repeat(500); // longer than readlink's first buffer; XFS takes up to 1024 bytes
        HostFs.symlink(longTarget.getBytes(StandardCharsets.UTF_8), out.resolve("long"));
        assertEquals(longTarget, new String(HostFs.readlink(out.resolve("long")), StandardCharsets.UTF_8));
    }

    @Test
    void aNameIsShownWithItsBadBytesEscaped() {
        assertNull(Names.utf8(bytes("636166e9")));
        assertEquals("café", Names.utf8(bytes("636166c3a9")));
        // strict: what a lenient decoder would turn into U+FFFD is no name; a U+FFFD of its own is one
        assertEquals("caf\uFFFD", Names.utf8(bytes("636166efbfbd")));
        assertNull(Names.utf8(bytes("eda080"))); // an encoded UTF-16 surrogate
        assertNull(Names.utf8(bytes("c0af"))); // an overlong '/'
        assertNull(Names.utf8(bytes("efbfbde9"))); // a real U+FFFD beside a bad byte
        assertNull(Names.utf8(bytes("f4908080"))); // past U+10FFFF
        assertEquals("caf\\xe9", Names.escaped(bytes("636166e9")));
        // valid UTF-8 stays text; a cut sequence, a stray continuation byte, control characters
        // and the backslash are escaped
        assertEquals("é\\xc3-\\x80\\x0a\\\\", Names.escaped(bytes("c3a9c32d800a5c")));
        assertEquals("\\xed\\xa0\\x80", Names.escaped(bytes("eda080"))); // a UTF-16 surrogate is not UTF-8
    }

    @Test
    void aDirectoryThatCannotBeListedSaysWhy() {
        Path missing = tmp.resolve("missing");
        IOException e = assertThrows(IOException.class, () -> HostFs.names(missing));
        assertTrue(e.getMessage().contains("opendir " + missing) && e.getMessage().contains("No such file"), e.getMessage());
    }
}
