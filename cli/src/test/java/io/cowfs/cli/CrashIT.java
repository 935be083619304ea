package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 of a mount process at random moments while a writer works in the view: every write
 * that fsync (or close) acknowledged is there after the view is mounted again, a write in flight
 * is either wholly old or wholly new per byte, and the store stays clean.
 */
class CrashIT {
    @TempDir
    Path tmp;

    static final int ROUNDS = 5;

    /** What the writer was told is durable. */
    static final class Acked {
        final Map<String, byte[]> files = new ConcurrentHashMap<>();
        volatile int logLines;
        /** An in-place overwrite not yet acknowledged: path, offset, new bytes. */
        volatile String inflightPath;
        volatile long inflightOff;
        volatile byte[] inflightData;
        volatile int ops;
    }

    /** Writes through the mount until the mount dies (IOException); never throws otherwise. */
    static final class Writer extends Thread {
        final Path dir;
        final int round;
        final Acked acked;
        volatile Throwable unexpected;

        Writer(Path dir, int round, Acked acked) {
            super("crash-writer-" + round);
            this.dir = dir;
            this.round = round;
            this.acked = acked;
        }

        @Override
        public void run() {
            Random rnd = new Random(round * 7919L);
            try (FileChannel log = FileChannel.open(dir.resolve("log"), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.APPEND)) {
                for (int i = 0; ; i++) {
                    String name = "r" + round + "-" + i;
                    switch (i % 3) {
                        case 0, 1 -> { // a new file: fsync'd, or only closed
                            byte[] data = Fx.random(round * 100_000L + i, 1 + rnd.nextInt(200 * 1024));
                            try (FileChannel ch = FileChannel.open(dir.resolve(name), StandardOpenOption.CREATE_NEW,
                                    StandardOpenOption.WRITE)) {
                                writeFully(ch, data, 0);
                                if (i % 3 == 0) {
                                    ch.force(true);
                                }
                            }
                            acked.files.put(name, data);
                        }
                        default -> { // overwrite part of an acknowledged file in place, then fsync
                            String[] keys = acked.files.keySet().toArray(new String[0]);
                            if (keys.length == 0) {
                                continue;
                            }
                            Arrays.sort(keys);
                            String victim = keys[rnd.nextInt(keys.length)];
                            byte[] old = acked.files.get(victim);
                            int off = rnd.nextInt(old.length);
                            byte[] patch = Fx.random(rnd.nextLong(), Math.min(old.length - off, 1 + rnd.nextInt(100 * 1024)));
                            acked.inflightOff = off;
                            acked.inflightData = patch;
                            acked.inflightPath = victim;
                            try (FileChannel ch = FileChannel.open(dir.resolve(victim), StandardOpenOption.WRITE)) {
                                writeFully(ch, patch, off);
                                ch.force(true);
                            }
                            byte[] now = old.clone();
                            System.arraycopy(patch, 0, now, off, patch.length);
                            acked.files.put(victim, now);
                            acked.inflightPath = null;
                        }
                    }
                    writeFully(log, ("op " + round + " " + i + "\n").getBytes(StandardCharsets.US_ASCII), -1);
                    log.force(true);
                    acked.logLines++;
                    acked.ops++;
                }
            } catch (IOException expected) {
                // the mount was killed
            } catch (Throwable t) {
                unexpected = t;
            }
        }

        static void writeFully(FileChannel ch, byte[] data, long off) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(data);
            long pos = off;
            while (b.hasRemaining()) {
                pos += off < 0 ? ch.write(b) : ch.write(b, pos);
            }
        }
    }

    @Test
    void killDashNineNeverLosesAnAcknowledgedWrite() throws Exception {
        Cowfs.assumeFuse();
        Path src = tmp.resolve("src");
        Fx.writeTree(src, Map.of("base.bin", Fx.random(5, 300 * 1024), "base.txt", "base\n".getBytes()));
        Random rnd = new Random(42);
        Acked acked = new Acked();
        List<String> logs = new java.util.ArrayList<>();
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();
            for (int round = 1; round <= ROUNDS + 1; round++) {
                Cowfs.Mounted m = c.mount("v");
                try {
                    check(m.dir, acked, round);
                    acked.inflightPath = null; // what it holds now is what there is
                    if (round > ROUNDS) {
                        break;
                    }
                    Writer w = new Writer(m.dir, round, acked);
                    int opsBefore = acked.ops;
                    w.start();
                    long delay = 300 + rnd.nextInt(1500);
                    Thread.sleep(delay);
                    Fx.killMount(c.store, m.dir);
                    w.join(30_000);
                    assertFalse(w.isAlive(), "the writer hangs on a dead mount");
                    assertEquals(null, w.unexpected);
                    logs.add("round " + round + ": killed after " + delay + " ms, " + (acked.ops - opsBefore) + " acknowledged ops");
                    // the dead mount: cowfs umount clears it
                    c.run("umount", m.dir.toString()).ok();
                    assertFalse(Cowfs.isMounted(m.dir));
                    // a crash leaves a mount record of a dead process: noted, not damage
                    Cowfs.Result f = c.run("fsck").ok();
                    assertTrue(f.out().contains("stale mount record"), f.out());
                } finally {
                    m.close();
                }
                c.run("fsck").ok();
            }
            System.out.println(String.join("\n", logs));
            assertTrue(acked.ops > ROUNDS * 2, "the writer did some work: " + acked.ops);
            JsonNode before = Fx.json(c.run("fsck", "--json").ok());
            JsonNode gc = Fx.json(c.run("gc", "--json").ok());
            JsonNode after = Fx.json(c.run("fsck", "--json").ok());
            System.out.println("orphans before gc: " + before.get("orphanRecords") + " records, " + before.get("orphanBytes")
                    + " bytes; gc: " + gc + "; after: " + after.get("orphanRecords") + " records, " + after.get("orphanBytes") + " bytes");
            c.run("verify").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                check(m.dir, acked, ROUNDS + 2);
            }
            c.run("fsck").ok();
        }
    }

    /** Every acknowledged file exactly; the in-flight overwrite old or new per byte; the log's acked prefix. */
    private static void check(Path dir, Acked acked, int round) throws IOException {
        for (var e : acked.files.entrySet()) {
            Path p = dir.resolve(e.getKey());
            assertTrue(Files.exists(p), "round " + round + ": acknowledged file " + e.getKey() + " is gone");
            byte[] got = Files.readAllBytes(p);
            byte[] want = e.getValue();
            if (e.getKey().equals(acked.inflightPath)) {
                assertEquals(want.length, got.length, e.getKey());
                long off = acked.inflightOff;
                byte[] patch = acked.inflightData;
                for (int i = 0; i < got.length; i++) {
                    boolean inPatch = i >= off && i < off + patch.length;
                    boolean ok = got[i] == want[i] || (inPatch && got[i] == patch[(int) (i - off)]);
                    if (!ok) {
                        throw new AssertionError("round " + round + ": " + e.getKey() + " byte " + i + " is neither old nor new");
                    }
                }
                acked.files.put(e.getKey(), got);
            } else if (!Arrays.equals(want, got)) {
                throw new AssertionError("round " + round + ": acknowledged content of " + e.getKey() + " differs ("
                        + got.length + " bytes, want " + want.length + ")");
            }
        }
        if (acked.logLines > 0) {
            List<String> lines = Files.readAllLines(dir.resolve("log"));
            assertTrue(lines.size() >= acked.logLines, "round " + round + ": log has " + lines.size() + " lines, "
                    + acked.logLines + " were fsync'd");
        }
    }
}
