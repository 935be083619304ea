package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Spare mount processes (MountSpare, docs/STARTUP.md): a mount process whose mount ended cleanly
 * serves the next cowfs mount, through real mounts. The CLI runs in child JVMs with a cache
 * directory of the test's own, so the spare and its socket are this test's alone (the test JVM's
 * own mounts have a spare of their own key).
 */
@org.junit.jupiter.api.extension.ExtendWith(MachineWide.Held.class) // a check that pushed-ahead pages are resident, which another test's drop_caches would undo
class MountSpareIT {
    @TempDir
    Path tmp;

    private final List<Long> started = new ArrayList<>();

    @BeforeEach
    void fuse() {
        Cowfs.assumeFuse();
    }

    /** The environment of the test's CLI calls: its own cache directory, so its own spare. */
    private Map<String, String> env(String... extra) {
        Map<String, String> e = new HashMap<>();
        e.put("XDG_CACHE_HOME", tmp.resolve("cache").toString());
        e.put("COWFS_NO_AGENT", "1");
        for (int i = 0; i + 1 < extra.length; i += 2) {
            e.put(extra[i], extra[i + 1]);
        }
        return e;
    }

    /** Runs cowfs in a child JVM with env added to this one's. */
    private static Cowfs.Result cli(Map<String, String> env, String... args) throws Exception {
        return Fx.javaMain(env, List.of(), args);
    }

    private long mount(Map<String, String> env, Cowfs c, String name, Path mp) throws Exception {
        Files.createDirectories(mp);
        cli(env, "mount", "--store=" + c.store, name, mp.toString()).ok();
        long pid = Fx.mountPid(c.store, mp);
        started.add(pid);
        return pid;
    }

    private static String comm(long pid) {
        io.cowfs.blockstore.run.ProcStat st = io.cowfs.blockstore.run.ProcStat.of(pid);
        return st == null ? null : st.name();
    }

    /** Ends the test's spares (and anything it started that is still there) and its mounts. */
    private void cleanUp(Path... mps) {
        for (Path mp : mps) {
            Cowfs.unmountHard(mp);
        }
        for (long pid : started) {
            ProcessHandle.of(pid).ifPresent(h -> {
                h.destroy();
                try {
                    h.onExit().get(30, TimeUnit.SECONDS);
                } catch (Exception e) {
                    h.destroyForcibly();
                }
            });
        }
    }

    private static Cowfs store(Path dir, String text) throws Exception {
        Cowfs c = new Cowfs(dir);
        Path src = dir.resolve("src");
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("a.txt", text.getBytes(StandardCharsets.UTF_8));
        files.put("d/big.bin", Fx.random(7, 3 << 20));
        Fx.writeTree(src, files);
        c.run("import", src.toString(), "--name", "base").ok();
        c.run("fork", "base", "--name", "v1").ok();
        c.run("fork", "base", "--name", "v2").ok();
        return c;
    }

    @Test
    void aMountProcessServesTheNextMountsOfAnyStoreAfterItsUmount() throws Exception {
        Cowfs c = store(tmp.resolve("one"), "one\n");
        Cowfs other = store(tmp.resolve("two"), "two\n");
        Map<String, String> env = env();
        Path mp1 = tmp.resolve("mp1");
        Path mp2 = tmp.resolve("mp2");
        Path mp3 = tmp.resolve("mp3");
        try {
            long pid = mount(env, c, "v1", mp1);
            assertEquals("java", comm(pid), "a fresh mount process");
            Files.writeString(mp1.resolve("first"), "written through the first mount\n");
            cli(env, "umount", mp1.toString()).ok();
            // umount returned: the mount is closed and persisted, and the process waits as the spare
            assertEquals(MountSpare.IDLE_COMM, comm(pid));
            c.run("snapshot", "v1", "--name", "s1").ok();
            assertEquals(Fx.sha256("written through the first mount\n".getBytes(StandardCharsets.UTF_8)),
                    Fx.exported(c, "s1").get("first"));
            assertNothingOpenUnder(pid, tmp);
            long tasks = 0;
            byte[] written = Fx.random(11, 32 << 20);
            long rss0 = 0;

            for (int round = 0; round < 3; round++) {
                // a call from another directory (what a shell sets per call is not in the key)
                Map<String, String> from = round == 1 ? env("PWD", tmp.toString(), "OLDPWD", "/", "SHLVL", "7") : env;
                long again = mount(from, c, "v2", mp2);
                assertEquals(pid, again, "the spare serves the next mount");
                assertEquals("cowfs-m" + (round + 2), comm(pid));
                assertEquals("one\n", Files.readString(mp2.resolve("a.txt")));
                assertEquals(Fx.sha256(Fx.random(7, 3 << 20)), Fx.sha256(Files.readAllBytes(mp2.resolve("d/big.bin"))));
                Files.writeString(mp2.resolve("r" + round), "round " + round + "\n");
                Files.write(mp2.resolve("w" + round + ".bin"), written); // dirty pages in native memory, freed with the mount
                String log = Files.readString(c.store.resolve("run/v2.log"));
                assertTrue(log.endsWith("mounted view 'v2' at " + mp2 + "\n"), log);
                // umount finds the process through the store's registry, or without the store (UmountCommand.daemonPid)
                if (round == 0) {
                    cli(env, "umount", "--store=" + c.store, mp2.toString()).ok();
                } else {
                    cli(env, "umount", mp2.toString()).ok();
                }
                assertEquals(MountSpare.IDLE_COMM, comm(pid), "umount returned once the mount had ended");
                assertNothingOpenUnder(pid, tmp);
                long rss = rssKib(pid);
                if (round == 0) {
                    // after a first big write: the process-wide pools have their threads from here on
                    tasks = cowfsThreads(pid);
                    rss0 = rss;
                } else {
                    assertEquals(tasks, cowfsThreads(pid), "threads of the idle spare after mount " + (round + 2));
                    // what one mount wrote (32 MiB through native memory) must not stay with the process
                    assertTrue(rss - rss0 < 24 * 1024, "the idle spare grew from " + rss0 + " to " + rss + " KiB after mount " + (round + 2));
                }
            }
            c.run("snapshot", "v2", "--name", "s2").ok();
            Map<String, String> s2 = Fx.exported(c, "s2");
            for (int round = 0; round < 3; round++) {
                assertEquals(Fx.sha256(("round " + round + "\n").getBytes(StandardCharsets.UTF_8)), s2.get("r" + round));
            }
            c.run("fsck").ok();
            c.run("verify").ok();

            // another store, a snapshot this time
            long third = mount(env, other, "base", mp3);
            assertEquals(pid, third, "the spare serves any store of the user");
            assertEquals("two\n", Files.readString(mp3.resolve("a.txt")));
            cli(env, "umount", mp3.toString()).ok();
            assertEquals(MountSpare.IDLE_COMM, comm(pid));
        } finally {
            cleanUp(mp1, mp2, mp3);
        }
    }

    @Test
    void aSpareRefusesWhatIsNotItsAndAFailedMountEndsIt() throws Exception {
        Cowfs c = store(tmp.resolve("one"), "one\n");
        Map<String, String> env = env();
        Path mp1 = tmp.resolve("mp1");
        try {
            long pid = mount(env, c, "v1", mp1);
            cli(env, "umount", mp1.toString()).ok();
            String key = java.util.Arrays.stream(Files.readString(Path.of("/proc/" + pid + "/cmdline")).split("\0"))
                    .filter(a -> a.startsWith("-D" + MountSpare.KEY_PROP + "="))
                    .map(a -> a.substring(a.indexOf('=') + 1)).findFirst().orElseThrow();
            Path sock = tmp.resolve("cache/cowfs/mount/" + key + ".sock");
            assertTrue(Files.exists(sock), "the idle spare listens at " + sock);
            Path log = c.store.resolve("run/nosuch.log");
            Files.writeString(log, "");
            List<String> bad = List.of("mount", "--foreground", "--store=" + c.store, "nosuch", mp1.toString());

            // not its key, not a mount: refused, and it stays
            assertNull(MountSpare.handOver(sock, "0".repeat(32), bad, log));
            assertNull(MountSpare.handOver(sock, key, List.of("gc", "--store=" + c.store), log));
            assertEquals(MountSpare.IDLE_COMM, comm(pid));

            // a mount that fails in the spare: its exit code comes back, the log says why, the spare ends
            try (MountSpare.Handed h = MountSpare.handOver(sock, key, bad, log)) {
                assertNotNull(h, "the spare takes a mount request of its key");
                assertEquals(pid, h.pid);
                Integer rc = null;
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (rc == null && System.nanoTime() < deadline) {
                    rc = h.exited();
                    Thread.sleep(20);
                }
                assertEquals(Main.EXIT_NOT_FOUND, rc);
            }
            assertTrue(Files.readString(log).contains("nosuch"), Files.readString(log));
            ProcessHandle.of(pid).ifPresent(h -> h.onExit().join());
            assertFalse(Cowfs.isMounted(mp1));

            // its socket is left behind, as after a kill -9: the next mount starts a process
            long next = mount(env, c, "v1", mp1);
            assertNotEquals(pid, next);
            assertEquals("one\n", Files.readString(mp1.resolve("a.txt")));
            cli(env, "umount", mp1.toString()).ok();
            ProcessHandle.of(next).orElseThrow().destroyForcibly();
            ProcessHandle.of(next).ifPresent(h -> h.onExit().join());
            long afterKill = mount(env, c, "v1", mp1);
            assertNotEquals(next, afterKill, "a killed spare's socket is passed by");
            cli(env, "umount", mp1.toString()).ok();

            // another environment, another key: not this spare's
            long otherEnv = mount(env("COWFS_TEST_OTHER", "1"), c, "v1", mp1);
            assertNotEquals(afterKill, otherEnv);
            cli(env, "umount", mp1.toString()).ok();
        } finally {
            cleanUp(mp1);
        }
    }

    /**
     * A read-only mount's read-ahead across files (kernel.PushAhead) runs on a thread of the mount's
     * own: it ends with each mount, so the spare that serves the next one holds none, and the
     * next mount stores its own files ahead again.
     */
    @Test
    void aSnapshotMountsPushThreadEndsWithItsMount() throws Exception {
        Cowfs c = new Cowfs(tmp.resolve("one"));
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (int i = 0; i < 120; i++) {
            files.put(String.format("d/f%03d", i), Fx.random(i, 500 + 37 * i));
        }
        Path src = tmp.resolve("one/src");
        Fx.writeTree(src, files);
        c.run("import", src.toString(), "--name", "snap").ok();
        Path mp = tmp.resolve("mp");
        Map<String, String> env = env();
        try {
            long pid = 0;
            for (int round = 0; round < 2; round++) {
                long p = mount(env, c, "snap", mp);
                if (round == 1) {
                    assertEquals(pid, p, "the spare serves the second mount");
                }
                pid = p;
                Cowfs.sh(mp, "ls -l d > /dev/null; cd d && cat f000 f001 f002 > /dev/null");
                long deadline = System.nanoTime() + 20_000_000_000L;
                while (!Cowfs.sh(mp, "fincore --bytes --noheadings --raw --output RES d/f040").strip().matches("[1-9][0-9]*")) {
                    assertTrue(System.nanoTime() < deadline, "d/f040 stored ahead of the reader, round " + round);
                    Thread.sleep(50);
                }
                assertEquals(1, threadsNamed(pid, "cowfs-push"), "one push thread while mounted");
                Cowfs.sh(mp, "diff -r " + src.resolve("d") + " d");
                cli(env, "umount", mp.toString()).ok();
                assertEquals(MountSpare.IDLE_COMM, comm(pid), "the process waits as the spare");
                assertEquals(0, threadsNamed(pid, "cowfs-push"), "the push thread ended with mount " + (round + 1));
            }
        } finally {
            cleanUp(mp);
        }
    }

    private static long threadsNamed(long pid, String name) throws Exception {
        long n = 0;
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : (Iterable<Path>) tasks::iterator) {
                if (Files.readString(t.resolve("comm")).strip().equals(name)) {
                    n++;
                }
            }
        }
        return n;
    }

    @Test
    void spareTimeIsTheUsersToSetAndZeroMeansNone() throws Exception {
        Cowfs c = store(tmp.resolve("one"), "one\n");
        Path mp1 = tmp.resolve("mp1");
        Path mp2 = tmp.resolve("mp2");
        Files.createDirectories(mp1);
        try {
            Cowfs.Result bad = cli(env("COWFS_MOUNT_SPARE", "soon"), "mount", "--store=" + c.store, "v1", mp1.toString()).fails(2);
            assertTrue(bad.err().contains("COWFS_MOUNT_SPARE") && bad.err().strip().lines().count() == 1, bad.err());
            assertFalse(Cowfs.isMounted(mp1));
            c.run("fsck").ok();

            long none = mount(env("COWFS_MOUNT_SPARE", "0"), c, "v1", mp1);
            cli(env(), "umount", mp1.toString()).ok();
            assertEquals(0, alive(none), "COWFS_MOUNT_SPARE=0: the process exits with its mount");

            // two at once: each has a process; after both umounts one of them stays (a pool of one)
            Map<String, String> env = env("COWFS_MOUNT_SPARE", "3");
            long a = mount(env, c, "v1", mp1);
            long b = mount(env, c, "v2", mp2);
            assertNotEquals(a, b);
            cli(env, "umount", mp1.toString()).ok();
            cli(env, "umount", mp2.toString()).ok();
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (alive(a) + alive(b) != 1 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(1, alive(a) + alive(b), "one spare per key");
            long spare = alive(a) == 1 ? a : b;
            // and it leaves after its idle time (3 s here)
            ProcessHandle.of(spare).ifPresent(h -> {
                try {
                    h.onExit().get(30, TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new AssertionError("the spare did not leave after its idle time", e);
                }
            });
        } finally {
            cleanUp(mp1, mp2);
        }
    }

    private static int alive(long pid) {
        io.cowfs.blockstore.run.ProcStat st = io.cowfs.blockstore.run.ProcStat.of(pid);
        return st == null || st.state().equals("Z") ? 0 : 1;
    }

    /** No fd of the idle process, and not its working directory, is under dir (a store, a mountpoint). */
    private static void assertNothingOpenUnder(long pid, Path dir) throws Exception {
        assertEquals(Path.of("/"), Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")));
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                String target;
                try {
                    target = Files.readSymbolicLink(fd).toString();
                } catch (java.io.IOException e) {
                    continue; // closed meanwhile
                }
                assertFalse(target.startsWith(dir.toString() + "/") && !target.startsWith(dir.resolve("cache") + "/"),
                        "the idle spare holds " + target);
            }
        }
    }

    /** Resident memory of pid in KiB (VmRSS). */
    private static long rssKib(long pid) throws Exception {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream().filter(l -> l.startsWith("VmRSS:"))
                .map(l -> Long.parseLong(l.replaceAll("[^0-9]", ""))).findFirst().orElseThrow();
    }

    /** How many threads of pid carry a cowfs name (its main thread aside). */
    private static long cowfsThreads(long pid) throws Exception {
        long n = 0;
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : (Iterable<Path>) tasks::iterator) {
                if (!t.getFileName().toString().equals(Long.toString(pid))
                        && Files.readString(t.resolve("comm")).startsWith("cowfs-")) {
                    n++;
                }
            }
        }
        return n;
    }
}
