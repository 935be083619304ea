package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's main job, end to end, as documentation of the CLI. */
class UsageIT {
    @TempDir
    Path tmp;

    @Test
    void importMountForkWriteSnapshot() throws Exception {
        Cowfs.assumeFuse();
        Path src = tmp.resolve("src");
        Cowfs.sh(tmp, "mkdir -p src/sub && seq 1 20000 > src/numbers && echo hi > src/sub/hello && ln -s hello src/sub/link");
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "base").ok();
            try (Cowfs.Mounted ro = c.mount("base")) {
                Cowfs.sh(tmp, "diff -r --no-dereference src " + ro.dir);
                assertTrue(Cowfs.shRc(tmp, "touch " + ro.dir + "/x").rc() != 0, "snapshot mounts refuse writes");
            }
            c.run("fork", "base", "--name", "work").ok();
            try (Cowfs.Mounted rw = c.mount("work")) {
                Cowfs.sh(rw.dir, "echo changed >> numbers && mkdir new && echo x > new/file");
                c.run("snapshot", "work", "--name", "after").ok();
            }
            try (Cowfs.Mounted after = c.mount("after"); Cowfs.Mounted base = c.mount("base")) {
                Cowfs.sh(tmp, "diff -r --no-dereference src " + base.dir);
                assertEquals("changed", Files.readAllLines(after.dir.resolve("numbers")).get(20000));
                assertEquals("x\n", Files.readString(after.dir.resolve("new/file")));
            }
            String stats = c.run("stats").ok().out();
            assertTrue(stats.contains("dedup"), stats);
        }
    }
}
