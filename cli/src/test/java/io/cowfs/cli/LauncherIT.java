package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The repository's cowfs launcher as root and as an ordinary user (uid 1000 through setpriv): each
 * account gets its own class-data-sharing archive in its own cache directory, and no account ever
 * sees a JVM warning, not even pointed at an archive another account wrote. The jar is this
 * build's (COWFS_JAR), so the launcher builds nothing.
 */
class LauncherIT {
    @TempDir
    Path tmp;

    private Cowfs.Result launch(Path launcher, Path jar, Path home, Integer uid, String extraEnv, String args) throws Exception {
        String env = "env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=" + home + " COWFS_JAR=" + jar + " " + extraEnv;
        String as = uid == null ? "" : "setpriv --reuid=" + uid + " --regid=" + uid + " --clear-groups ";
        Path err = tmp.resolve("stderr.txt");
        Cowfs.Result r = Cowfs.shRc(tmp, as + env + " " + launcher + " " + args + " 2>" + err);
        return new Cowfs.Result(r.rc(), r.out(), Files.readString(err));
    }

    @Test
    void eachAccountHasItsOwnArchiveAndSeesNoJvmWarning() throws Exception {
        Assumptions.assumeTrue(Cowfs.shRc(tmp, "command -v setpriv && [ $(id -u) = 0 ]").rc() == 0, "needs root and setpriv");
        Cowfs.sh(tmp, "chmod 0755 .");
        Path launcher = tmp.resolve("cowfs");
        Files.copy(Podman.repo().resolve("cowfs"), launcher);
        Cowfs.sh(tmp, "chmod 0755 cowfs");
        Path jar = Podman.jar(tmp);
        Cowfs.sh(tmp, "chmod 0644 cowfs.jar && mkdir -p root-home user-home && chown 1000:1000 user-home");
        Path rootHome = tmp.resolve("root-home");
        Path userHome = tmp.resolve("user-home");

        // root: the first command writes root's archive, the next ones use it; nothing on stderr
        for (String args : List.of("init --store " + rootHome + "/s", "list --store " + rootHome + "/s", "list --store " + rootHome + "/s")) {
            Cowfs.Result r = launch(launcher, jar, rootHome, null, "", args);
            assertEquals(0, r.rc(), r.out() + r.err());
            assertEquals("", r.err(), "no JVM warning as root: " + args);
        }
        Path rootCds = rootHome.resolve(".cache/cowfs/cds");
        assertEquals(1, Files.list(rootCds).count(), "root's archive");

        // uid 1000, its own home: its own archive, no warning
        for (String args : List.of("init --store " + userHome + "/s", "list --store " + userHome + "/s", "fork nothing --name x --store " + userHome + "/s")) {
            Cowfs.Result r = launch(launcher, jar, userHome, 1000, "", args);
            assertEquals(args.startsWith("fork") ? 3 : 0, r.rc(), r.out() + r.err());
            String expected = args.startsWith("fork") ? "cowfs: no snapshot or view named 'nothing' (see: cowfs list)\n" : "";
            assertEquals(expected, r.err(), "only cowfs's own words on stderr as uid 1000: " + args);
        }
        Path userCds = userHome.resolve(".cache/cowfs/cds");
        assertEquals(1, Files.list(userCds).count(), "the user's own archive");
        assertEquals(1000, (int) Files.getAttribute(Files.list(userCds).findFirst().orElseThrow(), "unix:uid"));

        // uid 1000 pointed at root's cache (an archive another account wrote, a directory it cannot write)
        Cowfs.Result r = launch(launcher, jar, userHome, 1000, "XDG_CACHE_HOME=" + rootHome + "/.cache", "list --store " + userHome + "/s");
        assertEquals(0, r.rc(), r.out() + r.err());
        assertEquals("", r.err(), "an archive written by another account is not used, and nothing is said");
        assertTrue(r.out().startsWith("NAME"), r.out());
    }

    /**
     * The archive the launcher trains holds the classes a mount process loads to bind its native
     * libraries with generated stubs (ASM's, jnr-ffi's generator) and its own packages' classes,
     * which no command loads: a mount process would otherwise read and verify them from the jar
     * at every start (docs/STARTUP.md).
     */
    @Test
    void theArchiveHoldsWhatAMountProcessLoadsToBindItsLibraries() throws Exception {
        Path launcher = tmp.resolve("cowfs");
        Files.copy(Podman.repo().resolve("cowfs"), launcher);
        Cowfs.sh(tmp, "chmod 0755 cowfs && mkdir -p home t");
        Path jar = Podman.jar(tmp);
        Cowfs.Result r = launch(launcher, jar, tmp.resolve("home"), null, "", "--build-cds-archive " + tmp.resolve("a.jsa"));
        assertEquals(0, r.rc(), r.out() + r.err());
        r = launch(launcher, jar, tmp.resolve("home"), null, "COWFS_CDS=" + tmp.resolve("a.jsa"), "init --store " + tmp.resolve("t/store"));
        assertEquals(0, r.rc(), r.out() + r.err());
        // the launcher's JVM settings, the archive required (-Xshare:on fails if it cannot be used)
        String log = Cowfs.sh(tmp, "java -Xshare:on -XX:SharedArchiveFile=a.jsa -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss1m"
                + " -XX:-UsePerfData --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED"
                + " -Xlog:class+load -cp cowfs.jar io.cowfs.cli.CdsTraining --natives t");
        for (String c : List.of("org.objectweb.asm.ClassWriter", "jnr.ffi.provider.jffi.AsmLibraryLoader", "io.cowfs.fusefs.kernel.KernelFs",
                "io.cowfs.fusefs.vfs.ViewFs", "io.cowfs.fusefs.mount.MountDaemon")) {
            String line = log.lines().filter(l -> l.contains(" " + c + " source:")).findFirst().orElse("(not loaded)");
            assertTrue(line.endsWith("source: shared objects file"), c + " from the archive: " + line);
        }
    }

    /**
     * The launcher's mount flags are MountCommand's: the JVM it starts for cowfs mount may serve
     * the mount itself, so it must be the process MountCommand would have started (the spare key
     * it computes says so).
     */
    @Test
    void theLauncherStartsAMountWithTheMountProcesssSettings() throws Exception {
        String text = Files.readString(Podman.repo().resolve("cowfs"));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?s)\\nmount_jvm=\\((.*?)\\)\\n").matcher(text);
        assertTrue(m.find(), "mount_jvm=(...) in the launcher");
        assertEquals(MountCommand.DAEMON_JVM, List.of(m.group(1).trim().split("\\s+")));
    }

    /**
     * cowfs mount through the launcher: with no spare to take it, the command's own JVM serves the
     * mount (one JVM, not two), and once it is up lets go of the caller: its own session, / as its
     * working directory, none of the caller's descriptors (its output, errors, or any other it
     * passed down) but /dev/null and the mount's log. After umount it is the spare that serves the
     * next mount (the key it computed for itself is the one the next command computes), also for
     * a caller whose standard output is closed. A name that does not exist fails as before, in
     * one line.
     */
    @Test
    void aFreshMountIsServedByTheCommandsOwnJvmWhichLetsGoOfItsCaller() throws Exception {
        Cowfs.assumeFuse();
        Cowfs c = launcherAndStore("v1", "v2");
        Path launcher = tmp.resolve("cowfs");
        Path jar = tmp.resolve("cowfs.jar");
        Cowfs.sh(tmp, "mkdir -p mp1 mp2 mp3");
        String env = "COWFS_NO_AGENT=1 COWFS_MOUNT_SPARE=20";
        Path mp1 = tmp.resolve("mp1");
        Path mp2 = tmp.resolve("mp2");
        Long pid = null;
        try {
            Cowfs.Result r = launch(launcher, jar, tmp.resolve("home"), null, env,
                    "mount --store=" + c.store + " v1 mp1 > out.txt 7> fd7.txt");
            assertEquals(0, r.rc(), r.out() + r.err());
            assertEquals("mounted view 'v1' at " + mp1 + "\n", Files.readString(tmp.resolve("out.txt")));
            assertEquals("", r.err());
            pid = Fx.mountPid(c.store, mp1);
            String cmdline = Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
            assertTrue(cmdline.contains("-Dcowfs.launcher.readyFd=9") && !cmdline.contains("--foreground"),
                    "the command's own JVM serves the mount: " + cmdline);
            assertTrue(cmdline.contains(" -Xmx1g ") && cmdline.contains(" -Xss256k "), "with a mount process's settings: " + cmdline);
            assertEquals("cowfs-m1", Files.readString(Path.of("/proc/" + pid + "/comm")).strip());
            assertEquals(pid, UmountCommand.daemonPid(mp1), "found without the store, though its command line names mp1 relatively");
            assertEquals(Path.of("/"), Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")), "it keeps no directory of the caller's busy");
            String[] stat = Files.readString(Path.of("/proc/" + pid + "/stat")).replaceFirst("^.*\\) ", "").split(" ");
            assertEquals(Long.toString(pid), stat[3], "a session of its own (no terminal of the caller's)");
            Path log = c.store.resolve("run/v1.log");
            assertEquals(Path.of("/dev/null"), Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/0")));
            assertEquals(log, Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/1")));
            assertEquals(log, Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/2")));
            try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
                for (Path fd : (Iterable<Path>) fds::iterator) {
                    String to = Files.readSymbolicLink(fd).toString();
                    assertFalse(List.of("out.txt", "stderr.txt", "fd7.txt").stream().anyMatch(f -> to.equals(tmp.resolve(f).toString())),
                            "the caller's " + to + " held as fd " + fd.getFileName());
                    assertFalse(to.startsWith("pipe:"), "a pipe held as fd " + fd.getFileName());
                }
            }
            assertTrue(Files.readString(log).contains("mounted view 'v1' at " + mp1), "the log says it too");
            Files.writeString(mp1.resolve("b.txt"), "written\n");
            assertEquals("one\n", Files.readString(mp1.resolve("a.txt")));

            r = launch(launcher, jar, tmp.resolve("home"), null, env, "umount --store=" + c.store + " mp1 > out.txt");
            assertEquals(0, r.rc(), r.out() + r.err());
            assertEquals(MountSpare.IDLE_COMM, Files.readString(Path.of("/proc/" + pid + "/comm")).strip(), "it waits as the spare");
            // a caller with its standard output closed (a daemon's, some CI wrappers')
            r = launch(launcher, jar, tmp.resolve("home"), null, env, "mount --store=" + c.store + " v2 mp2 >&-");
            assertEquals(0, r.rc(), r.out() + r.err());
            assertEquals(pid, Fx.mountPid(c.store, mp2), "the next mount is served by it");
            assertEquals("one\n", Files.readString(mp2.resolve("a.txt")));
            c.run("snapshot", "v1", "--name", "s1").ok();
            assertEquals(Fx.sha256("written\n".getBytes(java.nio.charset.StandardCharsets.UTF_8)), Fx.exported(c, "s1").get("b.txt"));

            r = launch(launcher, jar, tmp.resolve("home"), null, env, "mount --store=" + c.store + " nosuch mp3 > out.txt");
            assertEquals(3, r.rc(), r.out() + r.err());
            assertEquals("cowfs: no snapshot or view named 'nosuch' (see: cowfs list)\n", r.err());
            assertFalse(Cowfs.isMounted(tmp.resolve("mp3")));
        } finally {
            Long spare = pid;
            quietly(() -> Cowfs.unmountHard(mp1));
            quietly(() -> Cowfs.unmountHard(mp2));
            quietly(() -> Cowfs.unmountHard(tmp.resolve("mp3")));
            if (spare != null) {
                quietly(() -> ProcessHandle.of(spare).ifPresent(ProcessHandle::destroy));
            }
            quietly(c::close);
        }
    }

    /**
     * The same through the portable adapter (--fuse-api=libfuse2, jnr-fuse): the command's own
     * JVM serves the mount and lets go of its caller; a process that served libfuse2 ends with
     * its mount (no spare), and umount waits for that.
     */
    @Test
    void aLibfuse2MountIsServedByTheCommandsOwnJvmToo() throws Exception {
        Cowfs.assumeFuse();
        try {
            Fuse.requireLibfuse();
        } catch (IllegalStateException e) {
            Assumptions.assumeTrue(false, e.getMessage());
        }
        Cowfs c = launcherAndStore("v");
        Path launcher = tmp.resolve("cowfs");
        Path jar = tmp.resolve("cowfs.jar");
        Cowfs.sh(tmp, "mkdir -p mp");
        Path mp = tmp.resolve("mp");
        String env = "COWFS_NO_AGENT=1";
        try {
            Cowfs.Result r = launch(launcher, jar, tmp.resolve("home"), null, env,
                    "mount --fuse-api=libfuse2 --store=" + c.store + " v mp > out.txt");
            assertEquals(0, r.rc(), r.out() + r.err());
            assertEquals("mounted view 'v' at " + mp + "\n", Files.readString(tmp.resolve("out.txt")));
            long pid = Fx.mountPid(c.store, mp);
            String cmdline = Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
            assertTrue(cmdline.contains("-Dcowfs.launcher.readyFd=9") && cmdline.contains("--fuse-api=libfuse2")
                    && !cmdline.contains("--foreground"), cmdline);
            assertEquals(Path.of("/"), Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")));
            assertEquals(c.store.resolve("run/v.log"), Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/1")));
            assertTrue(Files.readString(Path.of("/proc/self/mountinfo")).contains(" " + mp + " "), "mounted");
            Files.writeString(mp.resolve("b.txt"), "written\n");
            assertEquals("one\n", Files.readString(mp.resolve("a.txt")));
            r = launch(launcher, jar, tmp.resolve("home"), null, env, "umount --store=" + c.store + " mp > out.txt");
            assertEquals(0, r.rc(), r.out() + r.err());
            io.cowfs.blockstore.run.ProcStat st = io.cowfs.blockstore.run.ProcStat.of(pid);
            assertTrue(st == null || st.exited(), "a libfuse2 mount's process ends with it (gone, or a zombie for its new parent to reap)");
            c.run("snapshot", "v", "--name", "s").ok();
            assertEquals(Fx.sha256("written\n".getBytes(java.nio.charset.StandardCharsets.UTF_8)), Fx.exported(c, "s").get("b.txt"));
        } finally {
            quietly(() -> Cowfs.unmountHard(mp));
            quietly(c::close);
        }
    }

    /**
     * The repository's launcher (tmp/cowfs) and this build's jar (tmp/cowfs.jar), a home for the
     * launcher's cache (tmp/home), and a store (tmp/t) of a snapshot 'base' holding a.txt ("one\n")
     * with views forked from it.
     */
    private Cowfs launcherAndStore(String... views) throws Exception {
        Files.copy(Podman.repo().resolve("cowfs"), tmp.resolve("cowfs"));
        Cowfs.sh(tmp, "chmod 0755 cowfs && mkdir -p home src && echo one > src/a.txt");
        assertEquals(tmp.resolve("cowfs.jar"), Podman.jar(tmp));
        Cowfs c = new Cowfs(tmp.resolve("t"));
        c.run("import", tmp.resolve("src").toString(), "--name", "base").ok();
        for (String v : views) {
            c.run("fork", "base", "--name", v).ok();
        }
        return c;
    }

    /** Runs a clean-up step; a failure there is printed, so that the next step still runs. */
    private static void quietly(Runnable step) {
        try {
            step.run();
        } catch (RuntimeException | AssertionError e) {
            e.printStackTrace();
        }
    }
}
