package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input gives a non-zero exit and one line on stderr that starts with "cowfs:" and says what
 * is wrong; the store is left unchanged.
 */
class CliErrorsTest {
    @TempDir
    Path tmp;

    Cowfs c;
    Path src;

    @BeforeEach
    void store() throws Exception {
        c = new Cowfs(tmp);
        src = Files.createDirectories(tmp.resolve("src"));
        Files.writeString(src.resolve("file"), "content\n");
    }

    /** Asserts the failure shape every command shares; returns the message. */
    static String oneLineError(Cowfs.Result r, String... mentions) {
        assertNotEquals(0, r.rc(), () -> "expected a failure; stdout:\n" + r.out() + "\nstderr:\n" + r.err());
        String err = r.err().strip();
        assertTrue(err.startsWith("cowfs: "), "stderr must start with 'cowfs: ': " + r.err());
        assertEquals(1, err.lines().count(), "one line on stderr: " + r.err());
        for (String m : mentions) {
            assertTrue(err.contains(m), "stderr should mention '" + m + "': " + r.err());
        }
        return err;
    }

    static String oneLineError(Cowfs.Result r, int code, String... mentions) {
        String err = oneLineError(r, mentions);
        assertEquals(code, r.rc(), "exit code; stderr: " + r.err());
        return err;
    }

    /** list, stats and the pack files, which a failed command must not change. */
    private String storeState() throws IOException {
        Map<String, Long> packs = new TreeMap<>();
        try (Stream<Path> s = Files.list(c.store.resolve("packs"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                packs.put(p.getFileName().toString(), Files.size(p));
            }
        }
        // indexBytes is the size of LMDB's file, which any write transaction (a lease) may grow
        String stats = c.run("stats", "--json").ok().out().replaceAll("(?m)^.*\"indexBytes\".*$", "");
        return c.run("list", "--json").ok().out() + stats + packs;
    }

    // ------------------------------------------------------------------ import

    @Test
    void importOfAMissingSourceFails() throws Exception {
        c.run("import", src.toString(), "--name", "first").ok();
        String before = storeState();
        Path missing = tmp.resolve("missing");
        oneLineError(c.run("import", missing.toString(), "--name", "x"), Main.EXIT_NOT_FOUND, missing.toString());
        assertEquals(before, storeState());
    }

    @Test
    void importOfAFileFails() throws Exception {
        String before = storeState();
        oneLineError(c.run("import", src.resolve("file").toString(), "--name", "x"), "not a directory");
        assertEquals(before, storeState());
    }

    @Test
    void importUnderATakenNameFailsAndChangesNothing() throws Exception {
        c.run("import", src.toString(), "--name", "taken").ok();
        Path other = Files.createDirectories(tmp.resolve("other"));
        Files.write(other.resolve("big"), new byte[300_000]);
        Files.writeString(other.resolve("text"), "different content\n".repeat(1000));
        String before = storeState();
        oneLineError(c.run("import", other.toString(), "--name", "taken"), "'taken'", "taken");
        assertEquals(before, storeState());
        assertTrue(c.run("show", "taken").ok().out().contains(src.toString()), "the old snapshot keeps the name");
    }

    @Test
    void importUnderAnInvalidNameFails() throws Exception {
        String before = storeState();
        for (String bad : new String[] {"bad/name", "", ".hidden", "a b", "x".repeat(129), "tab\tname", "naïve"}) {
            oneLineError(c.run("import", src.toString(), "--name", bad), "invalid name");
        }
        assertEquals(before, storeState());
    }

    // ------------------------------------------------------------------ unknown names

    @Test
    void unknownNamesAreNotFound() throws Exception {
        Path mp = Files.createDirectories(tmp.resolve("mp"));
        Path dest = tmp.resolve("dest");
        String[][] commands = {
            {"show", "ghost"}, {"show", "ghost", "--json"}, {"mount", "ghost", mp.toString()},
            {"fork", "ghost", "--name", "newview"}, {"export", "ghost", dest.toString()}, {"snapshot", "ghost", "--name", "s"},
        };
        for (String[] cmd : commands) {
            oneLineError(c.run(cmd), Main.EXIT_NOT_FOUND, "'ghost'", "cowfs list");
        }
        assertFalse(Cowfs.isMounted(mp));
        assertTrue(Files.notExists(dest));
        assertEquals("[ ]", c.run("list", "--json").ok().out().strip(), "fork of an unknown name created nothing");
    }

    // ------------------------------------------------------------------ --store

    @Test
    void missingStoreDirectory() {
        Path none = tmp.resolve("no-store");
        for (String cmd : new String[] {"list", "stats", "verify"}) {
            oneLineError(Cowfs.runRaw(cmd, "--store", none.toString()), Main.EXIT_NOT_FOUND, none.toString(), "cowfs init");
        }
        oneLineError(Cowfs.runRaw("import", "--store", none.toString(), src.toString(), "--name", "x"), Main.EXIT_NOT_FOUND, "cowfs init");
        assertTrue(Files.notExists(none), "a command other than init does not create a store");
    }

    @Test
    void directoryThatIsNotAStore() throws Exception {
        Path plain = Files.createDirectories(tmp.resolve("plain"));
        Files.writeString(plain.resolve("notes.txt"), "x");
        oneLineError(Cowfs.runRaw("list", "--store", plain.toString()), "not a cowfs store");
        oneLineError(Cowfs.runRaw("show", "--store", plain.toString(), "x"), "not a cowfs store");
        try (Stream<Path> s = Files.list(plain)) {
            assertEquals(1, s.count(), "nothing is created in a directory that is not a store");
        }
    }

    @Test
    void storeOfANewerFormat() throws Exception {
        c.run("import", src.toString(), "--name", "snap").ok();
        Path props = c.store.resolve("cowfs-store.properties");
        String newer = Files.readString(props).replaceAll("(?m)^format=\\d+$", "format=99");
        assertTrue(newer.contains("format=99"), newer);
        Files.writeString(props, newer);
        for (String[] cmd : new String[][] {{"list"}, {"show", "snap"}, {"stats"}, {"verify"}, {"export", "snap", tmp.resolve("e").toString()}}) {
            oneLineError(c.run(cmd), "newer", "99", "upgrade");
        }
        assertEquals(newer, Files.readString(props), "an unreadable store is left as it is");
        assertTrue(Files.notExists(tmp.resolve("e")));
    }

    // ------------------------------------------------------------------ mount points (refused before any mount)

    @Test
    void mountOntoAMissingOrNonEmptyDirectoryOrAFile() throws Exception {
        c.run("import", src.toString(), "--name", "snap").ok();
        Path missing = tmp.resolve("missing-mp");
        oneLineError(c.run("mount", "snap", missing.toString()), Main.EXIT_NOT_FOUND, "does not exist");
        Path full = Files.createDirectories(tmp.resolve("full-mp"));
        Files.writeString(full.resolve("x"), "x");
        oneLineError(c.run("mount", "snap", full.toString()), Main.EXIT_USAGE, "not empty");
        oneLineError(c.run("mount", "snap", src.resolve("file").toString()), Main.EXIT_USAGE, "not a directory");
        for (Path p : new Path[] {missing, full, src.resolve("file")}) {
            assertFalse(Cowfs.isMounted(p), p + " was mounted");
        }
        assertTrue(Files.notExists(missing));
    }

    /**
     * The container hint ("--device /dev/fuse --cap-add SYS_ADMIN") ends a failed mount only when
     * the mount process said FUSE was out of reach; it ended every failure of a mount process in a
     * container (checked here, where /.dockerenv exists: a mount process that cannot start its JVM).
     */
    @Test
    void theContainerHintComesOnlyWithFailuresToReachFuse() throws Exception {
        for (String said : new String[] {
            "cowfs: the kernel FUSE adapter cannot mount here (cannot open /dev/fuse: errno 13); using libfuse2",
            "cowfs: the kernel FUSE adapter cannot mount here (/dev/fuse is missing); using libfuse2",
            "cowfs: the kernel FUSE adapter cannot mount here (mount(2) of /mnt/x failed: errno 1); using libfuse2",
            "cowfs: the kernel FUSE adapter cannot mount here (fusermount3 is not installed (apt-get install -y fuse3)); using libfuse2",
            "fusermount3: mount failed: Operation not permitted",
            "fuse: failed to open /dev/fuse: Permission denied",
            "fuse: device not found, try 'modprobe fuse' first",
        }) {
            assertTrue(MountCommand.containerHint("mounting\n" + said + "\ncowfs: mount failed: libfuse exited\n", true)
                    .contains("--device /dev/fuse"), said);
        }
        for (String said : new String[] {
            "cowfs: view 'v' is already mounted at /mnt/v (pid 12); unmount it first (cowfs umount) or fork it",
            "cowfs: no snapshot or view named 'v' (see: cowfs list)",
            "cowfs: /mnt/x is already a mountpoint of view 'w' (pid 13); unmount it first (cowfs umount /mnt/x) or mount on another directory",
            "cowfs: the kernel FUSE adapter cannot mount here (mount(2) of /mnt/x failed: errno 16); using libfuse2",
            "fusermount3: user has no write access to mountpoint /mnt/x",
            "Initial heap size set to a larger value than the maximum heap size",
        }) {
            assertEquals("", MountCommand.containerHint(said + "\n", true), said);
        }
        assertTrue(MountCommand.containerHint("anything\n", false).contains("no /dev/fuse"), "without /dev/fuse, always");

        c.run("import", src.toString(), "--name", "snap").ok();
        Path mp = Files.createDirectories(tmp.resolve("mp"));
        ProcessBuilder pb = new ProcessBuilder(Fx.javaCommand(java.util.List.of(), "mount", "--store=" + c.store, "snap", mp.toString()))
                .redirectOutput(tmp.resolve("mount.out").toFile()).redirectError(tmp.resolve("mount.err").toFile());
        pb.environment().put("COWFS_MOUNT_JAVA_OPTS", "-Xmx1k"); // the mount process cannot start: nothing to do with FUSE
        Process p = pb.start();
        assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "cowfs mount returns");
        String err = Files.readString(tmp.resolve("mount.err"));
        oneLineError(new Cowfs.Result(p.exitValue(), "", err), Main.EXIT_FAILED, "heap");
        assertFalse(err.contains("container") || err.contains("/dev/fuse"), err);
        assertFalse(Cowfs.isMounted(mp));
    }

    /** A mount the mount process refused exits with that process's code (a view mounted meanwhile: busy, 4; it gave 1). */
    @Test
    void aMountRefusedByTheMountProcessKeepsItsExitCode() {
        for (int rc : new int[] {Main.EXIT_FAILED, Main.EXIT_USAGE, Main.EXIT_NOT_FOUND, Main.EXIT_BUSY, Main.EXIT_DAMAGED}) {
            assertEquals(rc, Main.exitCode(MountCommand.failed(rc, "refused")));
        }
        assertEquals(Main.EXIT_FAILED, Main.exitCode(MountCommand.failed(134, "killed")));
    }

    @Test
    void umountOfSomethingNotMounted() throws Exception {
        Path mp = Files.createDirectories(tmp.resolve("mp"));
        oneLineError(c.run("umount", mp.toString()), Main.EXIT_NOT_FOUND, "not mounted");
    }

    // ------------------------------------------------------------------ init

    @Test
    void initOnANonEmptyDirectoryOrAnExistingStore() throws Exception {
        Path full = Files.createDirectories(tmp.resolve("full"));
        Files.writeString(full.resolve("mine"), "x");
        oneLineError(Cowfs.runRaw("init", "--store", full.toString()), "not empty");
        try (Stream<Path> s = Files.list(full)) {
            assertEquals(1, s.count());
        }
        c.run("import", src.toString(), "--name", "snap").ok();
        String before = storeState();
        oneLineError(c.run("init"), "already a cowfs store");
        assertEquals(before, storeState());
        oneLineError(Cowfs.runRaw("init", "--store", src.resolve("file").toString()), "not a directory");
    }

    @Test
    void initWithABadBlockSize() {
        Path s = tmp.resolve("s");
        oneLineError(Cowfs.runRaw("init", "--store", s.toString(), "--block-size", "3"), Main.EXIT_USAGE, "block size");
        oneLineError(Cowfs.runRaw("init", "--store", s.toString(), "--block-size", "lots"), Main.EXIT_USAGE);
        assertTrue(Files.notExists(s));
    }

    // ------------------------------------------------------------------ usage

    @Test
    void missingArgumentsAreUsageErrors() {
        String[][] commands = {
            {"import"}, {"import", src.toString()}, {"import", "--name", "x"}, {"export", "snap"}, {"export"},
            {"mount", "snap"}, {"mount"}, {"fork", "snap"}, {"show"}, {"umount"}, {"snapshot", "v"},
        };
        for (String[] cmd : commands) {
            oneLineError(c.run(cmd), Main.EXIT_USAGE);
        }
        oneLineError(c.run("list", "--bogus"), Main.EXIT_USAGE, "--bogus");
        oneLineError(Cowfs.runRaw("frobnicate"), Main.EXIT_USAGE, "frobnicate");
        oneLineError(c.run("mount", "snap", tmp.toString(), "--ro", "--rw"), Main.EXIT_USAGE);
    }

    @Test
    void helpWorksEverywhere() {
        for (String cmd : new String[] {"init", "import", "fork", "mount", "umount", "snapshot", "list", "show", "export", "verify", "stats"}) {
            Cowfs.Result r = Cowfs.runRaw(cmd, "--help").ok();
            assertTrue(r.out().contains("Usage:"), cmd + ": " + r.out());
        }
        assertTrue(Cowfs.runRaw("--help").ok().out().contains("Exit codes"));
    }

    /** 'cowfs --help' lists each command with its description's first line: a whole sentence, not a cut one. */
    @Test
    void everyCommandIsSummedUpInOneSentence() {
        for (var e : Main.commandLine().getSubcommands().entrySet()) {
            String[] d = e.getValue().getCommandSpec().usageMessage().description();
            String first = d.length == 0 ? "" : d[0];
            assertTrue(first.endsWith("."), e.getKey() + ": '" + first + "'");
        }
    }
}
