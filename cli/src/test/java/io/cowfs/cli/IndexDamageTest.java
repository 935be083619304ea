package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A damaged LMDB branch or leaf page makes liblmdb crash whoever reads it (no page checksums):
 * verify and fsck read the index in a child process first, so they name the damage and exit 5
 * instead of dying.
 */
class IndexDamageTest {
    @TempDir
    Path tmp;

    @Test
    void damagedIndexPagesAreNamedNotFatal() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Random r = new Random(7);
        for (int i = 0; i < 300; i++) {
            byte[] b = new byte[3000];
            r.nextBytes(b);
            Files.write(src.resolve("f" + i), b);
        }
        Cowfs c = new Cowfs(tmp);
        c.run("import", src.toString(), "--name", "a").ok();
        c.run("fork", "a", "--name", "v").ok();
        c.run("verify").ok();
        Path data = c.store.resolve("index").resolve("data.mdb");
        try (RandomAccessFile f = new RandomAccessFile(data.toFile(), "rw")) {
            long[] offsets = {13 * 4096 + 20, 20 * 4096 + 2000};
            for (long off : offsets) {
                if (off + 16 > f.length()) {
                    continue;
                }
                byte[] b = new byte[16];
                f.seek(off);
                f.readFully(b);
                for (int i = 0; i < b.length; i++) {
                    b[i] ^= (byte) 0xff;
                }
                f.seek(off);
                f.write(b);
            }
        }
        for (String cmd : new String[] {"verify", "fsck"}) {
            Cowfs.Result res = c.run(cmd).fails(Main.EXIT_DAMAGED);
            assertTrue(res.err().contains("data.mdb") && res.err().contains("damaged"), cmd + ": " + res.err());
            assertFalse(res.err().strip().contains("\n"), cmd + " says it in one line: " + res.err());
        }
        try (var s = Files.list(Path.of("."))) {
            assertFalse(s.anyMatch(p -> p.getFileName().toString().startsWith("hs_err_pid")), "a crash report left behind");
        }
    }
}
