package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The read path through a real mount whose block cache is far smaller than what is read: many
 * readers at once (sequential, strided, small files) make the direct-memory cache evict and
 * reuse its slots while read-ahead loads into it, and every byte must still be right.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ReadPathIT {
    @Test
    void parallelReadersThroughATinyBlockCacheReadTheSourceBytes(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        Cowfs.sh(tmp, "mkdir -p src/small && head -c 25165824 /dev/urandom > src/big"
                + " && head -c 3000000 /dev/zero >> src/big && head -c 1000000 /dev/urandom >> src/big"
                + " && for i in $(seq 1 300); do head -c $((i * 97)) /dev/urandom > src/small/f$i; done");
        try (Cowfs cowfs = new Cowfs(tmp)) {
            cowfs.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
            cowfs.run("fork", "snap", "--name", "v").ok();
            for (String name : List.of("snap", "v")) {
                Path mp = Files.createDirectory(tmp.resolve("mp-" + name));
                // 8 slots of 64 KiB for two workers and two read-ahead threads
                Process mount = foregroundMount(cowfs, name, mp, "-Dcowfs.blockCacheBytes=524288");
                try {
                    waitMounted(mount, mp);
                    String src = tmp.resolve("src").toString();
                    String s = tmp.resolve("src").toString();
                    Cowfs.sh(mp, "set -e; cmp " + s + "/big big & p1=$!; "
                            + "(dd if=big bs=7777 skip=1000 count=1500 status=none | cmp - <(dd if=" + s + "/big bs=7777 skip=1000 count=1500 status=none)) & p2=$!; "
                            + "(tac big | md5sum > /dev/null) & p3=$!; "
                            + "diff -r " + s + "/small small & p4=$!; "
                            + "cmp " + s + "/big big & p5=$!; "
                            + "for p in $p1 $p2 $p3 $p4 $p5; do wait $p; done");
                    Cowfs.sh(mp, "set -e; for p in 1 2 3 4; do cmp " + s + "/big big & pids=\"$pids $!\"; done; for p in $pids; do wait $p; done");
                } finally {
                    Cowfs.unmountHard(mp);
                    mount.waitFor(30, TimeUnit.SECONDS);
                    mount.destroyForcibly();
                }
                assertEquals(0, mount.exitValue(), "the mount process ends cleanly");
            }
        }
    }

    /** Serves name at mp in a child JVM of its own with extra JVM options (as `cowfs mount --foreground`). */
    static Process foregroundMount(Cowfs cowfs, String name, Path mp, String... jvmOpts) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(MountCommand.DAEMON_JVM);
        cmd.addAll(List.of(jvmOpts));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "mount", "--foreground", "--store=" + cowfs.store, name, mp.toString()));
        return new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(cowfs.root.resolve("mount-" + name + ".log").toFile()).start();
    }

    static void waitMounted(Process mount, Path mp) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Cowfs.isMounted(mp)) {
            assertTrue(mount.isAlive(), "the mount process ended before mounting");
            assertTrue(System.nanoTime() < deadline, "not mounted after 60 s");
            Thread.sleep(20);
        }
    }
}
