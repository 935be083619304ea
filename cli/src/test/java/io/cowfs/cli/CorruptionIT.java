package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One flipped byte in a pack: verify names the chunk, the file that uses it reads as EIO, the rest reads fine. */
class CorruptionIT {
    static final int BLOCK = 64 * 1024;
    static final int RECORD_MAGIC = 0x43484B31;
    static final int HEADER = 4 + 32 + 4 + 4 + 1;

    @TempDir
    Path tmp;

    @Test
    void flippedByteIsReportedByVerifyAndGivesEioOnlyForItsFile() throws Exception {
        Cowfs.assumeFuse();
        Path src = Files.createDirectories(tmp.resolve("src"));
        Random rnd = new Random(42);
        for (int i = 1; i <= 5; i++) {
            byte[] b = new byte[200_000]; // 4 blocks, the last one partial
            rnd.nextBytes(b);
            Files.write(src.resolve("f" + i), b);
        }
        Files.createDirectories(src.resolve("d"));
        Files.writeString(src.resolve("d/small"), "small file\n");
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "snap").ok();
            assertTrue(c.run("verify").ok().out().contains("all good"));
            JsonNode clean = new ObjectMapper().readTree(c.run("verify", "--json").ok().out());
            assertEquals(0, clean.get("problems").size(), clean.toString());

            byte[] f3 = Files.readAllBytes(src.resolve("f3"));
            String bad = sha256Hex(Arrays.copyOfRange(f3, 0, BLOCK)); // the chunk of f3's first block
            flipPayloadByte(c.store.resolve("packs"), HexFormat.of().parseHex(bad));

            Cowfs.Result v = c.run("verify").fails(Main.EXIT_DAMAGED);
            assertTrue(v.out().contains("BAD " + bad), v.out());
            assertTrue(v.out().contains("1 bad"), v.out());
            assertEquals(1, v.out().lines().filter(l -> l.startsWith("BAD ")).count(), v.out());

            JsonNode j = new ObjectMapper().readTree(c.run("verify", "--json").fails(Main.EXIT_DAMAGED).out());
            assertEquals(1, j.get("problems").size(), j.toString());
            assertEquals(bad, j.get("problems").get(0).get("chunk").asText());
            assertTrue(j.get("problems").get(0).get("pack").asText().endsWith(".pack"), j.toString());
            assertTrue(j.get("chunks").asLong() > 20, j.toString());

            try (Cowfs.Mounted m = c.mount("snap")) {
                for (int round = 0; round < 2; round++) { // a failed read is not cached as good data
                    Cowfs.Result cat = Cowfs.shRc(m.dir, "cat f3 > /dev/null");
                    assertNotEquals(0, cat.rc());
                    assertTrue(cat.out().contains("Input/output error"), cat.out());
                    IOException e = assertThrows(IOException.class, () -> Files.readAllBytes(m.dir.resolve("f3")));
                    assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"), e.toString());
                }
                // the rest of f3 (blocks 2 and 3) does not depend on the bad chunk
                String tail = Cowfs.sh(m.dir, "dd if=f3 bs=64k skip=2 status=none | sha256sum").split(" ")[0];
                assertEquals(sha256Hex(Arrays.copyOfRange(f3, 2 * BLOCK, f3.length)), tail);
                for (String f : List.of("f1", "f2", "f4", "f5", "d/small")) {
                    assertArrayEquals(Files.readAllBytes(src.resolve(f)), Files.readAllBytes(m.dir.resolve(f)), f);
                }
                assertTrue(Cowfs.isMounted(m.dir), "the mount stays up");
                assertEquals("d\nf1\nf2\nf3\nf4\nf5\n", Cowfs.sh(m.dir, "ls"));
                assertEquals("200000\n", Cowfs.sh(m.dir, "stat -c %s f3"), "metadata of the damaged file still reads");
            }
        }
    }

    /** Finds the pack record of the chunk id and flips one byte in the middle of its payload. */
    static void flipPayloadByte(Path packs, byte[] id) throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.list(packs)) {
            files = s.filter(p -> p.getFileName().toString().endsWith(".pack")).toList();
        }
        for (Path p : files) {
            byte[] all = Files.readAllBytes(p);
            ByteBuffer buf = ByteBuffer.wrap(all);
            for (int at = 0; at + HEADER <= all.length; at++) {
                if (buf.getInt(at) == RECORD_MAGIC && Arrays.equals(all, at + 4, at + 36, id, 0, 32)) {
                    int storedLen = buf.getInt(at + 40);
                    long pos = at + HEADER + storedLen / 2L;
                    try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
                        f.seek(pos);
                        int b = f.read();
                        f.seek(pos);
                        f.write(b ^ 0x01);
                    }
                    return;
                }
            }
        }
        throw new AssertionError("no pack record for chunk " + HexFormat.of().formatHex(id) + " in " + files);
    }

    static String sha256Hex(byte[] b) {
        return SourceTree.sha256(b);
    }
}
