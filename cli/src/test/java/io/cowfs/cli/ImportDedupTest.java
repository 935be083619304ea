package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What an import stores: identical blocks once, holes and zero blocks as nothing, and JSON that scripts can use. */
class ImportDedupTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final long MIB = 1 << 20;
    /** Room for the objects an import writes besides file data (inode pages, dirs, block lists, root). */
    static final long METADATA = 64 * 1024;

    @TempDir
    Path tmp;

    Path src;
    long dataBytes; // distinct non-zero content in the tree
    long logicalBytes; // sum of regular file sizes (each inode once)

    @BeforeEach
    void tree() throws Exception {
        src = Files.createDirectories(tmp.resolve("src"));
        Cowfs.sh(src, """
                set -e
                head -c 2097152 /dev/urandom > r1
                mkdir copies
                for i in 1 2 3 4; do cp r1 copies/c$i; done
                head -c 10485760 /dev/zero > zeros
                truncate -s 64M sparse
                truncate -s 32M holey
                head -c 65536 /dev/urandom | dd of=holey conv=notrunc status=none
                head -c 65536 /dev/urandom >> holey
                seq 1 200000 > numbers
                mkdir same
                for i in $(seq 1 20); do echo same > same/s$i; done
                ln r1 r1-link
                """);
        long numbers = Files.size(src.resolve("numbers"));
        dataBytes = 2 * MIB + 2 * 65536 + numbers + 5;
        logicalBytes = 5 * 2 * MIB + 10 * MIB + 64 * MIB + (32 * MIB + 65536) + numbers + 20 * 5;
    }

    JsonNode json(Cowfs.Result r) throws Exception {
        return JSON.readTree(r.ok().out());
    }

    @Test
    void identicalBlocksAreStoredOnceAndHolesNotAtAll() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            JsonNode imp = json(c.run("import", src.toString(), "--name", "one", "--json"));
            assertEquals("one", imp.get("name").asText());
            assertEquals(64, imp.get("root").asText().length());
            assertEquals(logicalBytes, imp.get("logicalBytes").asLong(), imp.toString());
            assertEquals(29, imp.get("files").asLong(), "regular files, a hardlinked one counted once: " + imp);
            assertEquals(3, imp.get("directories").asLong(), imp.toString());
            assertEquals(0, imp.get("warnings").size(), imp.toString());
            JsonNode stats = json(c.run("stats", "--json"));
            long raw = stats.get("uniqueRawBytes").asLong();
            assertTrue(raw >= dataBytes && raw <= dataBytes + METADATA,
                    "the index holds " + raw + " raw bytes for " + dataBytes + " bytes of distinct data: " + stats);
            assertTrue(stats.get("storedBytes").asLong() < raw, "numbers compress: " + stats);
            // an empty store plus one import: the summary counts at least what the store now holds
            // (exactly, once copiesAreAppendedToThePacksOnce passes)
            assertTrue(imp.get("newChunks").asLong() >= stats.get("chunks").asLong(), imp + "\n" + stats);
            assertTrue(imp.get("newRawBytes").asLong() >= raw, imp + "\n" + stats);
            assertTrue(imp.get("newStoredBytes").asLong() >= stats.get("storedBytes").asLong(), imp + "\n" + stats);
            assertEquals(logicalBytes, stats.get("logicalBytes").asLong());
            assertTrue(stats.get("packBytes").asLong() >= stats.get("storedBytes").asLong(), stats.toString());
            assertTrue(stats.get("dedupRatio").asDouble() > 20, stats.toString());
            assertTrue(stats.get("compressionRatio").asDouble() > 1, stats.toString());
        }
    }

    /**
     * The copies of r1 are read by both import threads at once. Bug (Store.put): a block that two
     * threads put at the same moment is appended to the pack twice (the index keeps one), so the
     * packs hold dead copies and the summary over-counts; StoreTest#concurrentPutsOfOneBlockAppendItOnce
     * reproduces it without the CLI. This test can miss the race, never fail without it.
     */
    @Test
    void copiesAreAppendedToThePacksOnce() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            JsonNode imp = json(c.run("import", src.toString(), "--name", "one", "--json"));
            JsonNode stats = json(c.run("stats", "--json"));
            long magic = 8 * stats.get("packFiles").asLong(); // each pack starts with an 8-byte magic
            assertEquals(stats.get("storedBytes").asLong() + magic, stats.get("packBytes").asLong(),
                    "pack bytes beyond the indexed chunks (dead duplicate records)\nimport: " + imp + "\nstats: " + stats);
            assertEquals(stats.get("chunks").asLong(), imp.get("newChunks").asLong(), imp + "\n" + stats);
        }
    }

    @Test
    void importingTheSameTreeAgainStoresAlmostNothing() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            JsonNode first = json(c.run("import", src.toString(), "--name", "one", "--json"));
            JsonNode before = json(c.run("stats", "--json"));
            JsonNode again = json(c.run("import", src.toString(), "--name", "two", "--json"));
            assertEquals(first.get("logicalBytes"), again.get("logicalBytes"));
            assertTrue(again.get("newRawBytes").asLong() <= METADATA, "second import stored " + again);
            assertTrue(again.get("newChunks").asLong() <= 4, "second import stored " + again);
            JsonNode after = json(c.run("stats", "--json"));
            assertEquals(before.get("chunks").asLong() + again.get("newChunks").asLong(), after.get("chunks").asLong());
            assertEquals(2 * logicalBytes, after.get("logicalBytes").asLong());
            assertEquals(2, after.get("snapshots").asInt());
            assertEquals(0, after.get("views").asInt());
            assertTrue(after.get("dedupRatio").asDouble() > 2 * before.get("dedupRatio").asDouble() * 0.95, after.toString());
        }
    }

    @Test
    void statsOfAnEmptyStoreAreNumbersOrNull() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            JsonNode stats = json(c.run("stats", "--json"));
            assertEquals(0, stats.get("chunks").asLong());
            assertEquals(0, stats.get("logicalBytes").asLong());
            stats.fields().forEachRemaining(f -> assertTrue(f.getValue().isNumber() || f.getValue().isNull()
                    || f.getKey().equals("store"), f.getKey() + " is " + f.getValue()));
            assertTrue(c.run("stats").ok().out().contains("dedup -"), "text shows no ratio for nothing");
        }
    }

    @Test
    void listShowAndStatsAreJsonWithSaneNumbers() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            long t0 = System.currentTimeMillis();
            String summary = c.run("import", src.toString(), "--name", "one").ok().out();
            assertTrue(summary.contains("imported 'one': 29 files, 3 dirs"), summary);
            assertTrue(summary.contains("dedup") && summary.contains("compression") && summary.contains(" s "), summary);
            c.run("import", src.toString(), "--name", "two").ok();
            JsonNode list = json(c.run("list", "--json"));
            assertTrue(list.isArray());
            assertEquals(2, list.size());
            for (JsonNode e : list) {
                assertEquals("snapshot", e.get("kind").asText());
                assertEquals(29, e.get("files").asLong());
                assertEquals(logicalBytes, e.get("logicalBytes").asLong());
                assertEquals(64, e.get("root").asText().length());
                long created = e.get("createdMillis").asLong();
                assertTrue(created >= t0 - 1000 && created <= System.currentTimeMillis(), e.toString());
                assertEquals(created, Instant.parse(e.get("created").asText()).toEpochMilli());
                assertEquals(src.toString(), e.get("source").asText());
            }
            assertEquals("one", list.get(0).get("name").asText());
            assertEquals("two", list.get(1).get("name").asText());

            JsonNode show = json(c.run("show", "two", "--json"));
            assertEquals(list.get(1), show);

            JsonNode stats = json(c.run("stats", "--json"));
            assertEquals(65536, stats.get("blockSize").asInt());
            assertEquals(2, stats.get("snapshots").asInt());
            assertTrue(stats.get("chunks").asLong() > 30);
            assertTrue(stats.get("uniqueRawBytes").asLong() < stats.get("logicalBytes").asLong());
            assertTrue(stats.get("storedBytes").asLong() <= stats.get("uniqueRawBytes").asLong() + stats.get("chunks").asLong() * 45);
            assertTrue(stats.get("packFiles").asLong() >= 1);
            assertTrue(stats.get("indexBytes").asLong() > 0);
            double ratio = (double) stats.get("logicalBytes").asLong() / stats.get("uniqueRawBytes").asLong();
            assertEquals(ratio, stats.get("dedupRatio").asDouble(), 1e-9);

            String text = c.run("stats").ok().out();
            assertTrue(text.contains("dedup") && text.contains("compression"), text);
            String listText = c.run("list").ok().out();
            assertTrue(listText.contains("one") && listText.contains("two"), listText);
        }
    }
}
