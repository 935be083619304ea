package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Differential fuzz of the namespace and metadata operations of a mounted view: one seeded random
 * sequence of mkdir, rmdir, unlink, link, symlink, rename (plain, RENAME_NOREPLACE,
 * RENAME_EXCHANGE), create, mkfifo, chmod, chown, utime, user xattrs, truncate, I/O on descriptors
 * kept open across renames and unlinks, readdir during changes, long and non-UTF-8 names, is run
 * by {@code nsfuzz.py} on a host directory (the control) and on the view, both starting as the
 * same imported tree (directories, files, a hardlink pair, symlinks, a fifo, an xattr). Every
 * result must match the host's (value or errno), the trees are compared every 25 operations, and
 * snapshots taken of the mounted view now and then are exported and compared with a copy of the
 * host tree taken at that moment; at the end the view is remounted and compared again, and fsck
 * must be clean. What the fuzzer tolerates, and why, is listed at the top of nsfuzz.py.
 *
 * <p>{@code NSFUZZ_SEEDS=1,2,3} (or {@code NSFUZZ_SEEDS=100-140}) and {@code NSFUZZ_OPS=N} change
 * the seeds and the number of operations per seed for longer runs by hand.
 */
@Timeout(value = 1800, unit = TimeUnit.SECONDS)
class NamespaceFuzzIT {

    private static List<Long> seeds() {
        String s = System.getenv().getOrDefault("NSFUZZ_SEEDS", "11,22,33");
        List<Long> out = new ArrayList<>();
        for (String part : s.split(",")) {
            if (part.contains("-")) {
                String[] r = part.split("-");
                for (long k = Long.parseLong(r[0].trim()); k <= Long.parseLong(r[1].trim()); k++) {
                    out.add(k);
                }
            } else if (!part.isBlank()) {
                out.add(Long.parseLong(part.trim()));
            }
        }
        return out;
    }

    private static int ops() {
        return Integer.parseInt(System.getenv().getOrDefault("NSFUZZ_OPS", "300"));
    }

    @Test
    void namespaceOperationsMatchTheHost(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        assumeTrue(Cowfs.shRc(tmp, "command -v python3 && command -v setfattr").rc() == 0, "needs python3 and setfattr");
        Path script = tmp.resolve("nsfuzz.py");
        try (var in = NamespaceFuzzIT.class.getResourceAsStream("/nsfuzz.py")) {
            Files.write(script, in.readAllBytes());
        }
        List<Long> seeds = seeds();
        int ops = ops();
        Cowfs.sh(tmp, "mkdir -p tmpl/d/sub tmpl/e && printf 'base data\\n' > tmpl/a && ln tmpl/a tmpl/d/b"
                + " && head -c 100000 /dev/urandom > tmpl/d/big && printf x > tmpl/e/c && ln -s a tmpl/sym"
                + " && ln -s ../missing tmpl/d/dangling && ln -s d tmpl/dsym && mkfifo tmpl/fifo"
                + " && setfattr -n user.origin -v base tmpl/a && chmod 4755 tmpl/d/big && chown 1234:4321 tmpl/e/c"
                + " && touch -d '2001-02-03 04:05:06.123456789' tmpl/e/c && mkdir src");
        for (long seed : seeds) {
            Cowfs.sh(tmp, "cp -a tmpl src/s" + seed);
        }
        Cowfs.sh(tmp, "cp -a src host && mkdir snaps exports");
        try (Cowfs cowfs = new Cowfs(tmp)) {
            cowfs.run("import", tmp.resolve("src").toString(), "--name", "base").ok();
            cowfs.run("fork", "base", "--name", "v").ok();
            Cowfs.Mounted m = cowfs.mount("v");
            List<String[]> snaps = new ArrayList<>(); // snapshot name, seed dir, host copy, mtimes
            for (long seed : seeds) {
                Path snapdir = Files.createDirectories(tmp.resolve("snaps/" + seed));
                Process p = new ProcessBuilder("python3", script.toString(), "run", tmp.resolve("host/s" + seed).toString(),
                        m.dir.resolve("s" + seed).toString(), Long.toString(seed), Integer.toString(ops), snapdir.toString(),
                        Integer.toString(Math.max(40, ops / 3))).redirectErrorStream(true).start();
                StringBuilder log = new StringBuilder();
                boolean done = false;
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                        Writer w = new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8)) {
                    for (String line; (line = r.readLine()) != null; ) {
                        if (line.startsWith("@@SNAP ")) {
                            String name = line.substring(7);
                            String snap = "seed" + seed + "-" + name;
                            Cowfs.Result res = cowfs.run("snapshot", "v", "--name", snap);
                            snaps.add(new String[] {snap, "s" + seed, snapdir.resolve(name).toString(),
                                snapdir.resolve(name + ".mtimes.json").toString()});
                            w.write(res.rc() == 0 ? "ok\n" : "snapshot failed: " + res.err().replace('\n', ' ') + "\n");
                            w.flush();
                        } else if (line.equals("@@DONE")) {
                            done = true;
                        } else {
                            log.append(line).append('\n');
                        }
                    }
                }
                assertTrue(p.waitFor(600, TimeUnit.SECONDS));
                if (!done || p.exitValue() != 0) {
                    fail("seed " + seed + " (NSFUZZ_SEEDS=" + seed + " NSFUZZ_OPS=" + ops + " to repeat):\n" + log);
                }
                System.out.print(log);
            }
            for (String[] s : snaps) {
                Path out = tmp.resolve("exports/" + s[0]);
                cowfs.run("export", s[0], out.toString()).ok();
                Cowfs.Result c = Cowfs.shRc(tmp, "python3 " + script + " compare " + s[2] + " " + out.resolve(s[1]) + " " + s[3]);
                assertEquals(0, c.rc(), () -> "snapshot " + s[0] + " differs from the host's tree at that moment:\n" + c.out());
            }
            m.close();
            Cowfs.Mounted again = cowfs.mount("v");
            for (long seed : seeds) {
                Cowfs.Result c = Cowfs.shRc(tmp, "python3 " + script + " compare " + tmp.resolve("host/s" + seed) + " "
                        + again.dir.resolve("s" + seed) + " " + tmp.resolve("snaps/" + seed + "/final.mtimes.json"));
                assertEquals(0, c.rc(), () -> "after a remount, seed " + seed + ":\n" + c.out());
            }
            again.close();
            cowfs.run("fsck").ok();
        }
        System.out.println("nsfuzz: seeds " + Arrays.toString(seeds.toArray()) + ", " + ops + " ops each");
    }
}
