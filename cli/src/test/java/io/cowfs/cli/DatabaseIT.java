package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A real database in a view (issue 12: databases rewrite small parts of their files and fsync):
 * SQLite with {@code synchronous=FULL}, in WAL mode and with the rollback journal, writing one
 * transaction after another while the mount is killed with {@code kill -9} three times. Every
 * transaction whose commit returned must be there after each remount (SQLite's fsyncs of its
 * journal, database and directory returned), at most one more, every row with the bytes written
 * for it, and SQLite's own integrity check clean; then the database takes writes again and the
 * store verifies. {@code dbwriter.py} is the writer and the checker.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class DatabaseIT {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"wal", "delete"})
    void everyCommittedTransactionSurvivesKillsOfTheMount(String mode) throws Exception {
        Cowfs.assumeFuse();
        assumeTrue(Cowfs.shRc(tmp, "python3 -c 'import sqlite3'").rc() == 0, "needs python3 with sqlite3");
        Path script = tmp.resolve("dbwriter.py");
        try (var in = DatabaseIT.class.getResourceAsStream("/dbwriter.py")) {
            Files.write(script, in.readAllBytes());
        }
        try (Cowfs c = new Cowfs(tmp)) {
            Cowfs.sh(tmp, "mkdir -p src && echo base > src/base");
            c.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            int acknowledged = 0; // transactions 0..acknowledged-1 returned from commit
            for (int round = 0; round < 3; round++) {
                String where = mode + ", round " + round;
                Cowfs.Mounted m = c.mount("v");
                try {
                    Path db = m.dir.resolve("app.db");
                    if (round > 0) {
                        acknowledged = checked(script, db, acknowledged, where);
                    }
                    Process w = new ProcessBuilder("python3", script.toString(), db.toString(), mode, Integer.toString(acknowledged))
                            .redirectErrorStream(true).start();
                    AtomicInteger last = new AtomicInteger(acknowledged - 1);
                    Thread reader = new Thread(() -> readCommits(w, last), "dbwriter-out");
                    reader.start();
                    int target = acknowledged + 40;
                    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                    while (last.get() < target && w.isAlive() && System.nanoTime() < until) {
                        Thread.sleep(20);
                    }
                    assertTrue(last.get() >= target, where + ": the writer committed up to " + last.get() + " of " + target
                            + (w.isAlive() ? "" : ", then exited " + w.exitValue()));
                    Fx.killMount(c.store, m.dir); // while it writes
                    assertTrue(w.waitFor(60, TimeUnit.SECONDS), where + ": the writer is stuck on the dead mount");
                    reader.join(10_000);
                    assertFalse(reader.isAlive(), where);
                    acknowledged = last.get() + 1;
                    c.run("umount", m.dir.toString()).ok(); // clears the dead mount
                    assertFalse(Cowfs.isMounted(m.dir), where);
                } finally {
                    m.close();
                }
            }
            try (Cowfs.Mounted m = c.mount("v")) {
                Path db = m.dir.resolve("app.db");
                acknowledged = checked(script, db, acknowledged, mode + ", after the last kill");
                // the database takes writes again, and a clean unmount keeps them
                Process w = new ProcessBuilder("python3", script.toString(), db.toString(), mode, Integer.toString(acknowledged))
                        .redirectErrorStream(true).start();
                AtomicInteger last = new AtomicInteger(acknowledged - 1);
                Thread reader = new Thread(() -> readCommits(w, last), "dbwriter-out");
                reader.start();
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (last.get() < acknowledged + 10 && w.isAlive() && System.nanoTime() < until) {
                    Thread.sleep(20);
                }
                w.destroy();
                assertTrue(w.waitFor(30, TimeUnit.SECONDS));
                reader.join(10_000);
                assertTrue(last.get() >= acknowledged + 10, mode + ": the writer went on after the remount");
                acknowledged = last.get() + 1;
            }
            try (Cowfs.Mounted m = c.mount("v")) {
                checked(script, m.dir.resolve("app.db"), acknowledged, mode + ", after a clean unmount");
            }
            c.run("fsck").ok();
            c.run("verify").ok();
        }
    }

    /** Passes the writer's "committed i" lines into last; ends with its output. */
    private static void readCommits(Process w, AtomicInteger last) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(w.getInputStream(), StandardCharsets.UTF_8))) {
            for (String l; (l = r.readLine()) != null; ) {
                if (l.startsWith("committed ")) {
                    last.set(Integer.parseInt(l.substring(10).trim()));
                }
            }
        } catch (java.io.IOException e) {
            // the process ended
        }
    }

    /**
     * Checks the database at db holds transactions 0..n-1 at least, at most one more, each row
     * as written, the counter row at the last, and a clean integrity check; returns the number
     * of transactions it holds.
     */
    private static int checked(Path script, Path db, int acknowledged, String where) throws Exception {
        Process p = new ProcessBuilder("python3", script.toString(), db.toString(), "check").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), where + ": " + out);
        Map<String, String> f = new HashMap<>();
        for (String l : out.lines().toList()) {
            int sp = l.indexOf(' ');
            if (sp > 0) {
                f.put(l.substring(0, sp), l.substring(sp + 1));
            }
        }
        assertEquals("ok", f.get("integrity"), where + ": " + out);
        assertFalse(f.containsKey("bad"), where + ": a row does not hold the bytes written for it: " + out);
        int max = Integer.parseInt(f.get("max"));
        assertTrue(max >= acknowledged - 1, where + ": transactions up to " + (acknowledged - 1) + " returned from commit, "
                + "the database holds up to " + max);
        assertTrue(max <= acknowledged, where + ": " + max + " is more than one past the last acknowledged " + (acknowledged - 1));
        assertEquals(max + 1, Integer.parseInt(f.get("rows")), where + ": rows 0.." + max + " all there: " + out);
        assertEquals(max, Integer.parseInt(f.get("counter")), where + ": the counter row moved with each transaction");
        return max + 1;
    }
}
