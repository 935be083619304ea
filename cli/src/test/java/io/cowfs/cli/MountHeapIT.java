package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A mount whose Java heap is too small for what a call needs answers that call ENOMEM and goes on
 * serving (README, known limits): a directory of 100,000 long names in a snapshot and in a view,
 * each mounted by a process given 16 MiB of heap. Its listing, and a lookup in it, fail with
 * "Cannot allocate memory"; the other files read as before, the view takes a write; each unmounts
 * cleanly. With the default heap a snapshot of the view lists the directory whole and holds the
 * write, and the store verifies clean. Real mount processes, used through ls, stat, cat and echo.
 */
class MountHeapIT {
    private static final int NAMES = 100_000;

    @TempDir
    Path tmp;

    @Test
    void aCallThatRunsOutOfTheMountsHeapFailsWithEnomemAndTheMountServesOn() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            Path src = Files.createDirectories(tmp.resolve("src"));
            Files.writeString(src.resolve("small"), "small\n");
            Path big = Files.createDirectories(src.resolve("big"));
            Files.writeString(big.resolve("x0"), "x");
            Files.writeString(big.resolve("x1"), "y");
            String pad = "n".repeat(220); // ~23 MB of names: more than the whole 16 MiB heap
            for (int i = 0; i < NAMES; i++) {
                Files.createLink(big.resolve(pad + i), big.resolve("x" + (i % 2))); // hardlinks: quick to make and to import
            }
            c.run("import", src.toString(), "--name", "s").ok();

            c.run("fork", "s", "--name", "v").ok();
            for (String name : List.of("s", "v")) {
                Path mp = Files.createDirectories(tmp.resolve("mp-" + name));
                ProcessBuilder pb = new ProcessBuilder(Fx.javaCommand(List.of(), "mount", "--store=" + c.store, name, mp.toString()))
                        .redirectErrorStream(true).redirectOutput(tmp.resolve("mount.out").toFile());
                pb.environment().put("COWFS_MOUNT_JAVA_OPTS", "-Xmx16m"); // a mount process of its own, with a small heap
                Process p = pb.start();
                try {
                    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "cowfs mount returns");
                    assertEquals(0, p.exitValue(), () -> read(tmp.resolve("mount.out")));

                    Cowfs.Result ls = Cowfs.shRc(mp, "ls big > /dev/null");
                    assertNotEquals(0, ls.rc(), "the listing cannot fit in the heap");
                    assertTrue(ls.out().contains("Cannot allocate memory"), ls.out());
                    Cowfs.Result stat = Cowfs.shRc(mp, "stat -c %s big/x0");
                    assertTrue(stat.rc() != 0 && stat.out().contains("Cannot allocate memory"),
                            "a lookup in it needs the listing too: " + stat.out());

                    // the mount is up and serves the rest, again and again
                    for (int i = 0; i < 3; i++) {
                        assertEquals("small\n", Cowfs.sh(mp, "cat small"));
                        assertTrue(Cowfs.shRc(mp, "ls big > /dev/null").out().contains("Cannot allocate memory"));
                    }
                    if (name.equals("v")) { // a view still takes writes
                        Cowfs.sh(mp, "echo written > new && sync -f new");
                        assertEquals("written\n", Cowfs.sh(mp, "cat new"));
                    }
                    assertEquals(name.equals("v") ? "big\nnew\nsmall\n" : "big\nsmall\n", Cowfs.sh(mp, "ls"));
                    assertTrue(read(c.store.resolve("run/" + name + ".log")).contains("OutOfMemoryError"), "the mount's log says why");
                } finally {
                    Cowfs.unmountHard(mp); // asserts nothing is left mounted
                }
            }

            // the default heap lists it whole: nothing was lost, only the small heap ran out
            c.run("snapshot", "v", "--name", "v1").ok();
            try (Cowfs.Mounted m = c.mount("v1")) {
                assertEquals(String.valueOf(NAMES + 2), Cowfs.sh(m.dir, "ls big | wc -l").strip());
                assertEquals("x", Cowfs.sh(m.dir, "cat big/" + pad + "0"));
                assertEquals("written\n", Cowfs.sh(m.dir, "cat new"), "what the view took with its small heap was kept");
            }
            c.run("verify").ok();
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }
}
