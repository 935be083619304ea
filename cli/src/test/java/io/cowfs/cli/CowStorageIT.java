package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariant 2 measured with {@code cowfs stats --json}: a write stores the blocks it touches and
 * no more, metadata changes store no data, and data already in the store is not stored again.
 * Each change is frozen with {@code cowfs snapshot} before measuring, so everything it costs
 * (data blocks, block-list pages, inode pages, directory objects) is counted.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class CowStorageIT {
    static final long MIB = 1 << 20;
    static final long DATA = 64 * MIB;

    private Cowfs cowfs;
    private long block;

    /** The store's counters. */
    record Stats(long chunks, long raw, long stored, long packs) {
        Stats minus(Stats o) {
            return new Stats(chunks - o.chunks, raw - o.raw, stored - o.stored, packs - o.packs);
        }
    }

    private Stats stats() throws Exception {
        JsonNode j = new ObjectMapper().readTree(cowfs.run("stats", "--json").ok().out());
        block = j.get("blockSize").asLong();
        return new Stats(j.get("chunks").asLong(), j.get("uniqueRawBytes").asLong(), j.get("storedBytes").asLong(),
                j.get("packBytes").asLong());
    }

    @BeforeAll
    void importTree(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        // 64 MiB of incompressible data: one large file and 256 files of 128 KiB in 16 directories
        Cowfs.sh(tmp, "mkdir -p src && head -c " + 32 * MIB + " /dev/urandom > src/large"
                + " && for d in $(seq 1 16); do mkdir src/d$d; for f in $(seq 1 16); do"
                + " head -c 131072 /dev/urandom > src/d$d/f$f; done; done");
        cowfs = new Cowfs(tmp);
        cowfs.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
    }

    @AfterAll
    void close() {
        if (cowfs != null) {
            cowfs.close();
        }
    }

    @Test
    void oneByteChangeStoresAboutOneBlock() throws Exception {
        cowfs.run("fork", "snap", "--name", "onebyte").ok();
        Stats before = stats();
        try (Cowfs.Mounted v = cowfs.mount("onebyte")) {
            Cowfs.sh(v.dir, "printf X | dd of=large bs=1 seek=" + (20 * MIB + 12345) + " conv=notrunc status=none");
            cowfs.run("snapshot", "onebyte", "--name", "onebyte-frozen").ok();
        }
        Stats grown = stats().minus(before);
        System.out.println("store growth: " + grown);
        // the bytes first: a growth that is off says more next to what the snapshot holds
        long at = 20 * MIB + 12345;
        String held;
        try (Cowfs.Mounted s = cowfs.mount("onebyte-frozen"); Cowfs.Mounted base = cowfs.mount("snap")) {
            held = "frozen: byte '" + Cowfs.sh(s.dir, "dd if=large bs=1 skip=" + at + " count=1 status=none")
                    + "', size " + Cowfs.sh(s.dir, "stat -c %s large").trim() + ", bytes differing from the base: "
                    + Cowfs.sh(s.dir, "cmp -l large " + base.dir + "/large | wc -l").trim() + "; diff: "
                    + cowfs.run("diff", "snap", "onebyte-frozen").out().trim();
        }
        boolean ok = held.startsWith("frozen: byte 'X', size " + 32 * MIB + ", bytes differing from the base: 1;");
        if (!ok) {
            held += keepEvidence("onebyte", at);
        }
        assertTrue(ok, held);
        // one new data block (incompressible: stored at about its size), plus the file's block-list
        // page, one inode page, the directory path and the root: a few small chunks
        assertTrue(grown.raw() >= block && grown.raw() <= block + 96 * 1024, "raw growth " + grown + "; " + held);
        assertTrue(grown.stored() <= 2 * block + 64 * 1024, "stored growth " + grown);
        assertTrue(grown.packs() <= 2 * block + 96 * 1024, "pack growth " + grown);
        assertTrue(grown.chunks() <= 8, "chunks " + grown);
    }

    @Test
    void recursiveChmodAndChownStoreNoData() throws Exception {
        cowfs.run("fork", "snap", "--name", "meta").ok();
        Stats before = stats();
        try (Cowfs.Mounted v = cowfs.mount("meta")) {
            Cowfs.sh(v.dir, "chmod -R go-rwx . && chown -R 1234:5678 . && touch -d '2000-01-01' large"
                    + " && setfattr -n user.tag -v t d1/f1");
            assertEquals("600 1234:5678", Cowfs.sh(v.dir, "stat -c '%a %u:%g' d3/f7").trim());
            cowfs.run("snapshot", "meta", "--name", "meta-frozen").ok();
        }
        Stats grown = stats().minus(before);
        System.out.println("store growth: " + grown);
        // 273 inodes changed: new inode pages, directory objects and a root, no data block
        assertTrue(grown.raw() < 256 * 1024, "raw growth " + grown + " for " + DATA + " bytes of data");
        assertTrue(grown.packs() < 256 * 1024, "pack growth " + grown);
        try (Cowfs.Mounted s = cowfs.mount("meta-frozen"); Cowfs.Mounted base = cowfs.mount("snap")) {
            assertEquals("600 1234:5678", Cowfs.sh(s.dir, "stat -c '%a %u:%g' d3/f7").trim());
            assertEquals("644 0:0", Cowfs.sh(base.dir, "stat -c '%a %u:%g' d3/f7").trim());
            Cowfs.sh(s.dir, "diff -r . " + base.dir);
        }
    }

    /**
     * For a failure seen once in ~15 CI runs and never by hand (ci148: the frozen snapshot's byte
     * read X, yet cmp found its file equal to the base's, and the store grew by 3 chunks, 6,218
     * bytes, where it grows by 5, 88,653: no folded block, no new block list): a copy of the
     * store under target/kept/, the mount processes' logs, and what the view itself holds now
     * through a fresh mount, in the returned text.
     */
    private String keepEvidence(String view, long at) {
        StringBuilder b = new StringBuilder();
        // the store as the failure left it first, then what can be asked of it; whatever fails
        // here is told in the message, never in place of it
        Path kept = Path.of("target", "kept", "CowStorageIT-" + System.currentTimeMillis()).toAbsolutePath();
        try {
            b.append("; store kept at ").append(kept).append(Cowfs.sh(cowfs.root, "mkdir -p " + kept + " && cp -a " + cowfs.store + " " + kept + "/store"));
            b.append("; mount logs: ").append(Cowfs.sh(cowfs.store, "tail -n 20 run/*.log 2>&1 | tail -n 120"));
        } catch (Exception | AssertionError e) {
            b.append("; keeping the store failed: ").append(e.getMessage());
        }
        try (Cowfs.Mounted v = cowfs.mount(view)) {
            b.append("; the view remounted: byte '").append(Cowfs.sh(v.dir, "dd if=large bs=1 skip=" + at + " count=1 status=none")).append("'");
        } catch (Exception | AssertionError e) {
            b.append("; the view's remount failed: ").append(e.getMessage());
        }
        return b.toString();
    }

    /** What the store grows by when script runs in view (mounted) and the view is frozen as frozen. */
    private Stats growthOf(String view, String script, String frozen) throws Exception {
        Stats before = stats();
        try (Cowfs.Mounted v = cowfs.mount(view)) {
            Cowfs.sh(v.dir, script);
            cowfs.run("snapshot", view, "--name", frozen).ok();
        }
        return stats().minus(before);
    }

    @Test
    void dataAlreadyInTheStoreIsNotStoredAgain() throws Exception {
        cowfs.run("fork", "snap", "--name", "copies").ok();
        // a copy of a whole file and of a directory, written through the view (cp clones the file)
        Stats grown = growthOf("copies", "cp large large.copy && cp -r d1 d1.copy && sync large.copy", "copies-frozen");
        System.out.println("store growth: " + grown);
        assertTrue(grown.raw() < 512 * 1024, "raw growth " + grown + " for a 34 MiB copy");
        assertTrue(grown.packs() < 512 * 1024, "pack growth " + grown);
    }

    /**
     * Written through a view, text is stored compressed and random bytes at about their size:
     * the 4 KiB sample that decides whether a block gets a zstd pass sends neither the wrong way.
     */
    @Test
    void textWrittenInAViewIsCompressedAndRandomBytesAreNot() throws Exception {
        cowfs.run("fork", "snap", "--name", "zstd").ok();
        Stats text = growthOf("zstd", "for i in $(seq 1 120000); do echo \"line $i of a text file written in a view\"; done > text", "zstd-text");
        Stats random = growthOf("zstd", "head -c " + 8 * MIB + " /dev/urandom > random", "zstd-random");
        System.out.println("text: " + text + ", random: " + random);
        assertTrue(text.raw() > 4 * MIB, "the text file's blocks are new: " + text);
        assertTrue(text.stored() < text.raw() / 4, "text is compressed: " + text);
        assertTrue(random.raw() >= 8 * MIB, "random blocks are new: " + random);
        assertTrue(random.stored() >= 8 * MIB && random.stored() < 8 * MIB + 256 * 1024, "random bytes stored as they are: " + random);
    }
}
