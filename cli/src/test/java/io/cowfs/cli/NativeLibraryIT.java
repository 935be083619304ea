package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Nothing left behind: a mount process killed with kill -9 leaves no copy of liblmdb in its
 * java.io.tmpdir (lmdbjava used to extract one there per process and delete it only at a normal
 * exit); the library is copied once into the user's cache directory and reused
 * (blockstore LmdbLibrary).
 */
class NativeLibraryIT {
    @TempDir
    Path tmp;

    private static List<Path> list(Path dir) throws Exception {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (var s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    /**
     * Without libcrypto a mount hashes with the JDK's SHA-256: it says so once (cowfs mount passes
     * the line on), and still verifies and stores every block.
     */
    @Test
    void withoutLibcryptoAMountSaysSoAndStillVerifiesWhatItReads() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            byte[] data = new byte[300_000];
            new java.util.Random(3).nextBytes(data);
            Files.createDirectories(tmp.resolve("src"));
            Files.write(tmp.resolve("src/f"), data);
            c.run("import", tmp.resolve("src").toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "job").ok();
            Path mp = Files.createDirectories(tmp.resolve("mp-nossl"));
            ProcessBuilder pb = new ProcessBuilder(Fx.javaCommand(List.of(), "mount", "--store=" + c.store, "job", mp.toString()))
                    .redirectOutput(tmp.resolve("mount.out").toFile()).redirectError(tmp.resolve("mount.err").toFile());
            pb.environment().put("COWFS_MOUNT_JAVA_OPTS", "-Dcowfs.sha.libraries=/nonexistent/libcrypto.so.3");
            Process p = pb.start();
            try {
                assertTrue(p.waitFor(120, TimeUnit.SECONDS), "cowfs mount returns");
                assertEquals(0, p.exitValue(), () -> read(tmp.resolve("mount.err")));
                String err = read(tmp.resolve("mount.err"));
                assertTrue(err.contains("libcrypto (OpenSSL 3) not found"), err);
                assertEquals(1, err.lines().count(), err);
                assertTrue(java.util.Arrays.equals(data, Files.readAllBytes(mp.resolve("f"))), "read from the packs and verified");
                Files.write(mp.resolve("g"), data); // hashed and stored with the JDK's digest
            } finally {
                c.run("umount", mp.toString());
            }
            c.run("snapshot", "job", "--name", "after").ok();
            c.run("verify").ok();
            c.run("fork", "after", "--name", "check").ok();
            Path mp2 = Files.createDirectories(tmp.resolve("mp-check"));
            c.run("mount", "check", mp2.toString()).ok();
            try {
                assertTrue(java.util.Arrays.equals(data, Files.readAllBytes(mp2.resolve("g"))), "the same chunk id either way");
            } finally {
                c.run("umount", mp2.toString());
            }
        }
    }

    @Test
    void aKilledMountLeavesNoLibraryInTmp() throws Exception {
        Cowfs.assumeFuse();
        Path javaTmp = Files.createDirectories(tmp.resolve("java-tmp"));
        Path cache = tmp.resolve("cache");
        try (Cowfs c = new Cowfs(tmp)) {
            Files.createDirectories(tmp.resolve("src"));
            Files.writeString(tmp.resolve("src/f"), "x");
            c.run("import", tmp.resolve("src").toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "job").ok();
            Path mp = Files.createDirectories(tmp.resolve("mp"));
            for (int round = 0; round < 2; round++) {
                List<String> cmd = Fx.javaCommand(List.of("-Djava.io.tmpdir=" + javaTmp),
                        "mount", "--store=" + c.store, "job", mp.toString(), "--foreground");
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("mount.log").toFile());
                pb.environment().put("XDG_CACHE_HOME", cache.toString());
                Process p = pb.start();
                try {
                    for (int i = 0; i < 600 && !Cowfs.isMounted(mp); i++) {
                        assertTrue(p.isAlive(), () -> "the mount exited: " + read(tmp.resolve("mount.log")));
                        Thread.sleep(100);
                    }
                    assertTrue(Cowfs.isMounted(mp), () -> read(tmp.resolve("mount.log")));
                    assertEquals("x", Files.readString(mp.resolve("f")));
                    Files.writeString(mp.resolve("round" + round), "r");
                    p.destroyForcibly(); // SIGKILL
                    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
                } finally {
                    p.destroyForcibly();
                    Cowfs.unmountHard(mp); // cowfs umount clears the dead mount
                }
                assertEquals(List.of(), list(javaTmp), "nothing left in java.io.tmpdir (liblmdb, jffi and zstd-jni included)");
                List<Path> libs = list(cache.resolve("cowfs/lib"));
                assertEquals(1, libs.size(), "one copy of liblmdb in the cache, reused: " + libs);
                assertTrue(libs.get(0).getFileName().toString().matches("liblmdb-[0-9a-f]{16}\\.so"), libs.toString());
            }
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
