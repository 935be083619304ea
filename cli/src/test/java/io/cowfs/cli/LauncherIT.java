package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
}
