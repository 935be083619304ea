package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A view takes files up to 16 TiB, as ext4 does, and refuses larger sizes with EFBIG; a snapshot
 * of it then always works. Before, a view took a truncate to 2^63-1 or a write at 2^50, and every
 * later snapshot or fork of that view failed ("file too large to freeze").
 */
class FileSizeLimitIT {
    @TempDir
    Path tmp;

    @Test
    void sizesPast16TiBAreRefusedAndTheViewStillFreezes() throws Exception {
        Cowfs.assumeFuse();
        Cowfs.sh(tmp, "mkdir -p src && echo base > src/base");
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                Cowfs.Result t = Cowfs.shRc(m.dir, "truncate -s 17T big");
                assertNotEquals(0, t.rc());
                assertTrue(t.out().contains("File too large"), t.out());
                Cowfs.Result f = Cowfs.shRc(m.dir, "fallocate -l 17T big2");
                assertNotEquals(0, f.rc());
                assertTrue(f.out().contains("File too large"), f.out());
                Cowfs.Result huge = Cowfs.shRc(m.dir, "truncate -s 9223372036854775807 huge");
                assertTrue(huge.out().contains("File too large"), huge.out());
                Cowfs.sh(m.dir, "truncate -s 1T sparse");
                assertEquals(1L << 40, Files.size(m.dir.resolve("sparse")));
                c.run("snapshot", "v", "--name", "frozen").ok();
            }
            try (Cowfs.Mounted s = c.mount("frozen")) {
                assertEquals(1L << 40, Files.size(s.dir.resolve("sparse")));
                assertEquals(0, Files.size(s.dir.resolve("big")));
            }
            c.run("fork", "v", "--name", "w").ok();
            // a freeze lists a file's blocks only up to its last one: a 16 TiB file with nothing
            // written freezes in a small heap (it took an array of 268M entries, 1.1 GB)
            try (Cowfs.Mounted m = c.mount("w")) {
                Cowfs.sh(m.dir, "truncate -s 16T sparse16 && printf x | dd of=sparse16 bs=1 seek=70000 conv=notrunc status=none");
            }
            Cowfs.Result r = Fx.javaMain(java.util.List.of("-Xmx64m"), "snapshot", "--store=" + c.store, "w", "--name", "frozen16");
            assertEquals(0, r.rc(), r.out() + r.err());
            try (Cowfs.Mounted s = c.mount("frozen16")) {
                assertEquals(16L << 40, Files.size(s.dir.resolve("sparse16")));
                assertEquals("x", Cowfs.sh(s.dir, "dd if=sparse16 bs=1 skip=70000 count=1 status=none"));
            }
        }
    }
}
