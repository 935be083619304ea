package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariant 4's "a crash never leaves the store unreadable", for the commands: {@code import},
 * {@code gc} (after an {@code rm}), {@code snapshot} of a mounted view, {@code fork}, {@code rm},
 * {@code fsck --repair} and {@code verify}, each in a JVM of its own killed with {@code kill -9}
 * at a moment chosen by the seed (most of them in the middle of their work: a command that ended
 * before its kill is killed within the time it took the next time it is drawn; the test fails if
 * no command was killed before it ended), while a view is mounted. After every kill: {@code fsck} is clean; every snapshot made before is listed and one
 * of them, chosen by the seed, exports equal to its source; a snapshot the killed command was
 * making is either absent or whole (equal to its source); the mounted view still takes writes.
 * At the end {@code verify} re-reads every chunk.
 *
 * <p>{@code CMDKILL_SEED} and {@code CMDKILL_ROUNDS} (default 1 and 10) for longer runs by hand.
 */
@Timeout(value = 30, unit = TimeUnit.MINUTES)
class CommandKillIT {
    @TempDir
    Path tmp;

    @Test
    void commandsKilledAtAnyMomentLeaveTheStoreWhole() throws Exception {
        Cowfs.assumeFuse();
        long seed = Long.parseLong(System.getenv().getOrDefault("CMDKILL_SEED", "1"));
        int rounds = Integer.parseInt(System.getenv().getOrDefault("CMDKILL_ROUNDS", "10"));
        Random r = new Random(seed);
        List<Map<String, String>> sources = new ArrayList<>();
        for (int k = 0; k < 3; k++) { // small files; a large file a third zeros; a mix
            Map<String, byte[]> files = new LinkedHashMap<>();
            Random fr = new Random(k);
            if (k == 1) {
                byte[] big = new byte[48 << 20];
                for (int mb = 0; mb < 48; mb++) {
                    if (mb % 3 != 0) {
                        System.arraycopy(Fx.random(1000 + mb, 1 << 20), 0, big, mb << 20, 1 << 20);
                    }
                }
                files.put("big", big);
            }
            int[] sizes = {0, 10, 3000, 70_000, 200_000};
            for (int i = 0; i < (k == 1 ? 10 : 700); i++) {
                files.put("d" + i % 37 + "/f" + i, Fx.random(k * 100_000L + i, sizes[fr.nextInt(sizes.length)]));
            }
            Path src = tmp.resolve("src" + k);
            Fx.writeTree(src, files);
            sources.add(Fx.hashTree(src));
        }
        try (Cowfs c = new Cowfs(tmp)) {
            Map<String, Integer> snaps = new TreeMap<>(); // snapshot -> its source
            for (int k = 0; k < 3; k++) {
                c.run("import", tmp.resolve("src" + k).toString(), "--name", "base" + k).ok();
                snaps.put("base" + k, k);
            }
            c.run("fork", "base0", "--name", "v").ok();
            int killedRounds = 0;
            Map<String, Long> took = new HashMap<>(); // command -> ms it took when it last ended before its kill
            try (Cowfs.Mounted m = c.mount("v")) {
                for (int round = 0; round < rounds; round++) {
                    String[] cmds = {"import", "import", "gc", "gc", "snapshot", "fork", "rm", "repair", "verify"};
                    String cmd = cmds[r.nextInt(cmds.length)];
                    Map<String, Integer> making = new HashMap<>(); // name -> its source, -1 for none to compare
                    List<String> args = new ArrayList<>();
                    List<String> removable = snaps.keySet().stream().filter(n -> !n.startsWith("base")).collect(Collectors.toList());
                    switch (cmd) {
                        case "import" -> {
                            int k = r.nextInt(3);
                            args.addAll(List.of("import", tmp.resolve("src" + k).toString(), "--name", "i" + round));
                            making.put("i" + round, k);
                        }
                        case "gc" -> {
                            if (!removable.isEmpty()) {
                                String gone = removable.get(r.nextInt(removable.size()));
                                c.run("rm", gone).ok();
                                snaps.remove(gone);
                            }
                            args.add("gc");
                        }
                        case "snapshot" -> {
                            Files.write(m.dir.resolve("w" + round), Fx.random(round, 1 + r.nextInt(6 << 20)));
                            args.addAll(List.of("snapshot", "v", "--name", "s" + round));
                            making.put("s" + round, -1);
                        }
                        case "fork" -> {
                            List<String> all = new ArrayList<>(snaps.keySet());
                            args.addAll(List.of("fork", all.get(r.nextInt(all.size())), "--name", "f" + round));
                            making.put("f" + round, -1);
                        }
                        case "rm" -> {
                            if (removable.isEmpty()) {
                                continue;
                            }
                            String gone = removable.get(r.nextInt(removable.size()));
                            args.addAll(List.of("rm", gone));
                            snaps.remove(gone); // gone or not: no longer counted on
                        }
                        case "repair" -> args.addAll(List.of("fsck", "--repair"));
                        default -> args.add("verify");
                    }
                    args.add("--store=" + c.store);
                    // within how long this command took when it last ended before its kill, so
                    // that later rounds kill it mid-way on a machine of any speed
                    int upTo = took.containsKey(cmd) ? (int) Math.max(100, took.get(cmd) * 8 / 10 - 150) : 2300;
                    long delayMs = (took.containsKey(cmd) ? 150 : 200) + r.nextInt(upTo);
                    long t0 = System.nanoTime();
                    Process p = new ProcessBuilder(Fx.javaCommand(List.of(), args.toArray(new String[0])))
                            .redirectErrorStream(true).redirectOutput(tmp.resolve("cmd.out").toFile()).start();
                    boolean killed = !p.waitFor(delayMs, TimeUnit.MILLISECONDS);
                    killedRounds += killed ? 1 : 0;
                    if (!killed) {
                        took.put(cmd, (System.nanoTime() - t0) / 1_000_000);
                    }
                    p.destroyForcibly(); // SIGKILL
                    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
                    String what = "round " + round + " (CMDKILL_SEED=" + seed + "): " + String.join(" ", args.subList(0, args.size() - 1))
                            + (killed ? ", killed after " + delayMs + " ms" : ", ended before " + delayMs + " ms (rc " + p.exitValue() + ")");
                    Cowfs.Result fsck = c.run("fsck");
                    assertEquals(0, fsck.rc(), () -> what + ": fsck\n" + fsck.out() + fsck.err());
                    assertTrue(fsck.out().contains("clean"), () -> what + ": fsck\n" + fsck.out());
                    Set<String> listed = c.run("list").ok().out().lines().skip(1).map(l -> l.split("\\s+")[0]).collect(Collectors.toSet());
                    for (String n : snaps.keySet()) {
                        assertTrue(listed.contains(n), () -> what + ": " + n + " is gone");
                    }
                    for (var e : making.entrySet()) {
                        if (listed.contains(e.getKey())) {
                            Map<String, String> got = Fx.exported(c, e.getKey()); // a half-made name must export
                            if (e.getValue() >= 0) {
                                assertEquals(sources.get(e.getValue()), got, () -> what + ": " + e.getKey() + " is not whole");
                                snaps.put(e.getKey(), e.getValue());
                            }
                        }
                    }
                    List<String> known = new ArrayList<>(snaps.keySet());
                    String check = known.get(r.nextInt(known.size()));
                    assertEquals(sources.get(snaps.get(check)), Fx.exported(c, check), () -> what + ": " + check + " changed");
                    Files.write(m.dir.resolve("probe"), Fx.random(round, 5000));
                    assertEquals(Fx.sha256(Fx.random(round, 5000)), Fx.sha256(Files.readAllBytes(m.dir.resolve("probe"))), what);
                    System.out.println(what + ": store whole");
                }
            }
            // a round whose command ended before its kill tests nothing of this
            assertTrue(killedRounds >= 1, killedRounds + " of " + rounds
                    + " commands were killed before they ended (CMDKILL_SEED=" + seed + ")");
            System.out.println(killedRounds + " of " + rounds + " commands killed before they ended");
            c.run("verify").ok();
        }
    }
}
