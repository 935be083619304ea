package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** rm and gc with live mounts: a mounted view is not removed behind its mount's back, and no live mount loses a block. */
class GcIT {
    @TempDir
    Path tmp;

    private static final int KB = 1024;
    private final Map<String, byte[]> files = new LinkedHashMap<>();
    private Path src;

    @BeforeEach
    void tree() throws Exception {
        Cowfs.assumeFuse();
        for (int i = 0; i < 8; i++) {
            files.put("d" + (i % 2) + "/f" + i + ".bin", Fx.random(100 + i, 150 * KB + i));
        }
        src = tmp.resolve("src");
        Fx.writeTree(src, files);
    }

    private static List<String> names(Cowfs c) {
        List<String> out = new ArrayList<>();
        for (JsonNode n : Fx.json(c.run("list", "--json").ok())) {
            out.add(n.get("name").asText());
        }
        return out;
    }

    /**
     * A view that writes data another snapshot holds (a restore: every block a dedup hit, which
     * its commit names in the view's delta without stamping it again) keeps those chunks when
     * that snapshot is removed and gc runs, mounted or not: gc marks what a view's delta names.
     */
    @Test
    void dataAViewDeduplicatedSurvivesTheRemovalOfTheSnapshotThatHeldIt() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "held").ok();
            Path empty = Files.createDirectories(tmp.resolve("empty"));
            c.run("import", empty.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                for (Map.Entry<String, byte[]> f : files.entrySet()) { // written, not cloned: from the host
                    Path to = m.dir.resolve(f.getKey());
                    Files.createDirectories(to.getParent());
                    Files.write(to, f.getValue());
                }
                c.run("rm", "held").ok();
                c.run("gc").ok(); // v mounted: its mount's commits name the chunks
                for (Map.Entry<String, byte[]> f : files.entrySet()) {
                    org.junit.jupiter.api.Assertions.assertArrayEquals(f.getValue(), Files.readAllBytes(m.dir.resolve(f.getKey())));
                }
            }
            c.run("gc").ok();
            c.run("fsck").ok();
            c.run("verify").ok();
            Map<String, String> want = new java.util.TreeMap<>(Map.of("d0/", "dir", "d1/", "dir"));
            files.forEach((k, v) -> want.put(k, Fx.sha256(v)));
            assertEquals(want, new java.util.TreeMap<>(Fx.exported(c, "v")));
        }
    }

    @Test
    void rmOfAMountedViewIsRefusedUnlessForced() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();
            c.run("fork", "base", "--name", "w").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                Files.writeString(m.dir.resolve("new.txt"), "written while mounted\n");
                Cowfs.Result r = c.run("rm", "v").fails(Main.EXIT_BUSY);
                assertTrue(r.err().contains(m.dir.toString()), "names the mountpoint: " + r.err());
                assertTrue(r.err().contains("--force"), "says what to do: " + r.err());
                // with another name: nothing is removed
                c.run("rm", "w", "v").fails(Main.EXIT_BUSY);
                assertEquals(List.of("base", "v", "w"), names(c));
                assertTrue(Cowfs.isMounted(m.dir));
                assertEquals("written while mounted\n", Files.readString(m.dir.resolve("new.txt")));

                c.run("rm", "--force", "v").ok();
                assertFalse(Cowfs.isMounted(m.dir), "--force unmounted the view");
                assertEquals(List.of("base", "w"), names(c));
            }
            c.run("gc").ok();
            c.run("fsck").ok();
            assertEquals(Fx.hashTree(src), Fx.exported(c, "w"));
        }
    }

    /** The snapshot a mounted view was forked from goes, and gc runs: the view reads all of it. */
    @Test
    void aMountedViewKeepsItsRemovedBase() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                c.run("rm", "base").ok();
                c.run("gc").ok();
                assertEquals(Fx.hashTree(src), Fx.hashTree(m.dir));
                Files.write(m.dir.resolve("d0/f0.bin"), Fx.random(7, 10 * KB), java.nio.file.StandardOpenOption.APPEND);
                c.run("gc").ok();
            }
            c.run("fsck").ok();
            c.run("verify").ok();
        }
    }

    /**
     * A snapshot mounted read-only is not removed under its mount (rm refuses, exit 4), and gc
     * leaves it whole; --force unmounts it first. Invariant 6: a live mount never loses a block.
     */
    @Test
    void aMountedSnapshotIsNotRemovedUnderItsMount() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "snap").ok();
            c.run("import", src.toString(), "--name", "other").ok();
            try (Cowfs.Mounted m = c.mount("snap"); Cowfs.Mounted o = c.mount("other")) {
                Cowfs.Result rm = c.run("rm", "snap").fails(Main.EXIT_BUSY);
                assertTrue(rm.err().contains(m.dir.toString()), rm.err());
                c.run("gc").ok();
                for (var e : files.entrySet()) {
                    Cowfs.Result r = Cowfs.shRc(m.dir, "timeout 30 sha256sum " + e.getKey());
                    assertEquals(0, r.rc(), e.getKey() + " after rm + gc: " + r.out());
                    assertTrue(r.out().startsWith(Fx.sha256(e.getValue())), r.out());
                }
                c.run("rm", "--force", "snap").ok();
                assertFalse(Cowfs.isMounted(m.dir), "--force unmounted the snapshot");
                assertTrue(Cowfs.isMounted(o.dir), "the other snapshot's mount is untouched");
                assertEquals(List.of("other"), names(c));
                c.run("gc").ok();
                assertEquals(Fx.hashTree(src), Fx.hashTree(o.dir));
            }
            c.run("fsck").ok();
        }
    }

    /** gc in a loop while a writer rewrites files in a mounted view: every write survives. */
    @Test
    void gcWhileAViewIsWritten() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();
            Map<String, byte[]> want = new LinkedHashMap<>(files);
            try (Cowfs.Mounted m = c.mount("v")) {
                for (int round = 0; round < 12; round++) {
                    // rewrite two files (their old blocks become garbage) and add one
                    for (int k = 0; k < 2; k++) {
                        String f = "d" + k + "/f" + ((round * 2 + k) % 8) + ".bin";
                        byte[] data = Fx.random(1000 + round * 10 + k, 100 * KB + round);
                        Files.write(m.dir.resolve(f), data);
                        want.put(f, data);
                    }
                    byte[] added = Fx.random(5000 + round, 30 * KB);
                    Files.write(m.dir.resolve("added-" + round), added);
                    want.put("added-" + round, added);
                    JsonNode gc = Fx.json(c.run("gc", "--json").ok());
                    if (round == 11) {
                        System.out.println("last gc while mounted: " + gc);
                    }
                    for (var e : want.entrySet()) {
                        assertEquals(Fx.sha256(e.getValue()), Fx.sha256(Files.readAllBytes(m.dir.resolve(e.getKey()))),
                                e.getKey() + " after gc round " + round);
                    }
                }
            }
            c.run("fsck").ok();
            c.run("gc").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                for (var e : want.entrySet()) {
                    assertEquals(Fx.sha256(e.getValue()), Fx.sha256(Files.readAllBytes(m.dir.resolve(e.getKey()))), e.getKey());
                }
            }
            c.run("verify").ok();
        }
    }

    /**
     * gc after a mount's pack had its background force (every 5 s while it holds records not
     * forced yet): that force opened the pack by name and closed the descriptor, which dropped
     * the mount's POSIX lock on it; gc took the pack for an abandoned one (under 60 % live: a
     * file deleted) and rewrote it, and the file written next was appended to the deleted pack and
     * committed: fsck found its chunks missing and a remount read it as EIO.
     */
    @Test
    void gcAfterTheBackgroundForceOfAMountsPackLosesNothingWrittenNext() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            Path empty = Files.createDirectories(tmp.resolve("empty"));
            c.run("import", empty.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();
            byte[] kept = Fx.random(71, 100 * KB);
            byte[] next = Fx.random(72, 300 * KB);
            try (Cowfs.Mounted m = c.mount("v")) {
                Files.write(m.dir.resolve("dead"), Fx.random(70, 3000 * KB)); // closed, not fsynced
                Thread.sleep(7_000); // the periodic force of the pack (Packs.FORCE_EVERY_MS) runs
                Files.delete(m.dir.resolve("dead"));
                Files.write(m.dir.resolve("kept"), kept);
                c.run("gc").ok();
                Files.write(m.dir.resolve("next"), next);
            }
            c.run("fsck").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                assertEquals(Fx.sha256(kept), Fx.sha256(Files.readAllBytes(m.dir.resolve("kept"))));
                assertEquals(Fx.sha256(next), Fx.sha256(Files.readAllBytes(m.dir.resolve("next"))));
            }
        }
    }

    /**
     * A long-lived writable mount appends to one pack; gc cannot compact a pack being appended
     * to, so dead blocks in it used to wait until the pack reached 64 MiB or the mount ended. gc
     * now asks each writable mount to finish its pack (from 4 MiB) before it sweeps.
     */
    @Test
    void gcReclaimsDeadBlocksOfALongLivedMount() throws Exception {
        Cowfs.assumeFuse();
        withProperty("cowfs.gc.pendingGraceSeconds", "0", () -> { // the mount's pack was just written
            try (Cowfs c = new Cowfs(tmp)) {
                c.run("import", src.toString(), "--name", "base").ok();
                c.run("fork", "base", "--name", "cache").ok();
                try (Cowfs.Mounted m = c.mount("cache")) {
                    for (int i = 1; i <= 5; i++) {
                        Files.write(m.dir.resolve("obj-" + i), Fx.random(70 + i, 5 << 20));
                        Files.deleteIfExists(m.dir.resolve("obj-" + (i - 1)));
                        c.run("gc").ok();
                    }
                    long packs = Fx.packBytes(c.store);
                    // 25 MiB were written, 5 MiB are live; without the rollover all 25 stay
                    assertTrue(packs < 14L << 20, "dead blocks of a mounted view are reclaimed: " + packs + " pack bytes");
                    assertEquals(Fx.sha256(Fx.random(75, 5 << 20)), Fx.sha256(Files.readAllBytes(m.dir.resolve("obj-5"))));
                }
                c.run("fsck").ok();
            }
        });
    }

    /**
     * gc, in its own process, rewrites a pack that a mounted snapshot has read and deletes it. The
     * mount lets go of its descriptors of that pack while it lives (its trimmer's sweep), so the
     * space comes back before the unmount, and it goes on reading the same bytes, from the new
     * pack, also while the sweep closes the old pack's channel under readers (O_DIRECT reads, which
     * reach the mount every time).
     */
    @Test
    void aMountLetsGoOfPacksGcDeletedAndReadsOn() throws Exception {
        withProperty("cowfs.gc.pendingGraceSeconds", "0", () -> {
            try (Cowfs c = new Cowfs(tmp)) {
                c.run("import", src.toString(), "--name", "base").ok();
                Path pack = Fx.packs(c.store).get(0);
                // half of base's files, imported again: every block a dedup hit in base's pack
                Map<String, byte[]> half = new LinkedHashMap<>();
                files.forEach((k, v) -> {
                    if (k.startsWith("d0/")) {
                        half.put(k, v);
                    }
                });
                Fx.writeTree(tmp.resolve("half"), half);
                c.run("import", tmp.resolve("half").toString(), "--name", "half").ok();
                try (Cowfs.Mounted m = c.mount("half")) {
                    String direct = "for f in d0/*; do dd if=$f iflag=direct bs=1M status=none | sha256sum | cut -c1-64; done";
                    StringBuilder want = new StringBuilder();
                    for (byte[] b : half.values()) {
                        want.append(Fx.sha256(b)).append('\n');
                    }
                    assertEquals(want.toString(), Cowfs.sh(m.dir, direct), "read through the mount from base's pack");
                    long pid = Fx.mountPid(c.store, m.dir);
                    assertTrue(held(pid, pack.getFileName().toString()).size() > 0, "the mount reads from " + pack);

                    // readers all along: a read whose channel the sweep closes looks its chunk up again
                    java.util.concurrent.atomic.AtomicReference<String> wrong = new java.util.concurrent.atomic.AtomicReference<>();
                    java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
                    Thread reader = new Thread(() -> {
                        try {
                            while (!stop.get()) {
                                String got = Cowfs.sh(m.dir, direct);
                                if (!got.equals(want.toString())) {
                                    wrong.compareAndSet(null, got);
                                }
                            }
                        } catch (Exception e) {
                            wrong.compareAndSet(null, e.toString());
                        }
                    });
                    reader.start();
                    try {
                        c.run("rm", "base").ok();
                        c.run("gc").ok(); // half of the pack is dead: rewritten elsewhere, deleted
                        assertFalse(Files.exists(pack), "gc rewrote and deleted " + pack);
                        long deadline = System.nanoTime() + 60_000_000_000L;
                        while (!held(pid, pack.getFileName().toString()).isEmpty() && System.nanoTime() < deadline) {
                            Thread.sleep(200);
                        }
                        assertEquals(List.of(), held(pid, pack.getFileName().toString()), "the mount let go of the deleted pack");
                        Thread.sleep(1000); // more reads from the new pack
                    } finally {
                        stop.set(true);
                        reader.join(60_000);
                    }
                    assertEquals(null, wrong.get(), "every read through the mount gave the file's bytes");
                    assertEquals(want.toString(), Cowfs.sh(m.dir, direct), "read through the mount from the new pack");
                    // O_DIRECT reads of whole blocks go to the packs (no cache between): the mount
                    // opened the pack gc wrote
                    List<String> now = new ArrayList<>();
                    for (Path p : Fx.packs(c.store)) {
                        now.addAll(held(pid, p.getFileName().toString()));
                    }
                    assertFalse(now.isEmpty(), "the mount reads the rewritten pack");
                }
                c.run("fsck").ok();
            }
        });
    }

    @FunctionalInterface
    private interface Body {
        void run() throws Exception;
    }

    /** Runs body with system property name (read by the CLI run in this process) set to value, then puts it back. */
    private static void withProperty(String name, String value, Body body) throws Exception {
        String was = System.getProperty(name);
        System.setProperty(name, value);
        try {
            body.run();
        } finally {
            if (was == null) {
                System.clearProperty(name);
            } else {
                System.setProperty(name, was);
            }
        }
    }

    /** The descriptors process pid holds whose target names file (a deleted one ends in " (deleted)"). */
    private static List<String> held(long pid, String file) throws java.io.IOException {
        List<String> out = new ArrayList<>();
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.contains(file)) {
                        out.add(fd.getFileName() + " -> " + target);
                    }
                } catch (java.io.IOException closed) {
                    // closed while listed
                }
            }
        }
        return out;
    }

    /** Every writing process starts its own pack; gc merges small, mostly live ones once there are many. */
    @Test
    void manySmallPacksAreMerged() throws Exception {
        withProperty("cowfs.gc.maxSmallPacks", "8", () -> { // 64 by default
            try (Cowfs c = new Cowfs(tmp)) {
                Map<String, Map<String, String>> trees = new LinkedHashMap<>();
                for (int i = 0; i < 12; i++) {
                    Path d = Files.createDirectories(tmp.resolve("small" + i));
                    Files.write(d.resolve("f"), Fx.random(300 + i, 20_000));
                    c.run("import", d.toString(), "--name", "s" + i).ok();
                    trees.put("s" + i, Fx.hashTree(d));
                }
                int before = Fx.packs(c.store).size();
                assertTrue(before >= 12, "one pack per import: " + before);
                c.run("gc").ok();
                int after = Fx.packs(c.store).size();
                assertTrue(after <= 2, "small packs merged: " + before + " -> " + after);
                for (var t : trees.entrySet()) {
                    assertEquals(t.getValue(), Fx.exported(c, t.getKey()), t.getKey());
                }
                c.run("fsck").ok();
                c.run("gc").ok();
                assertEquals(after, Fx.packs(c.store).size(), "a second gc leaves them be");
            }
        });
    }
}
