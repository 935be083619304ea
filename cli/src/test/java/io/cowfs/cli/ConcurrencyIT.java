package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three mounted views written at the same time, a reader hashing a read-only snapshot mount,
 * and snapshot / fork / rm / gc / du / fsck running in a loop meanwhile. Afterwards every file
 * has exactly the bytes its writer wrote (checked by hash, also after a remount) and the store
 * is clean.
 */
class ConcurrencyIT {
    @TempDir
    Path tmp;

    static final long SECONDS = Long.getLong("cowfs.test.concurrencySeconds", 20);
    static final int KB = 1024;

    /** Writes, rewrites, appends, renames and deletes files in one view; remembers what each holds. */
    static final class Writer extends Thread {
        final Path dir;
        final Random rnd;
        final Map<String, byte[]> files = new TreeMap<>(); // only touched by this thread until joined
        volatile boolean stop;
        volatile Throwable failure;
        final AtomicLong ops = new AtomicLong();

        Writer(String name, Path dir, long seed) {
            super("writer-" + name);
            this.dir = dir;
            this.rnd = new Random(seed);
        }

        @Override
        public void run() {
            try {
                Files.createDirectories(dir.resolve("w"));
                int n = 0;
                while (!stop) {
                    List<String> names = new ArrayList<>(files.keySet());
                    int op = names.size() < 5 ? 0 : rnd.nextInt(10);
                    if (op <= 3 || names.size() < 5) { // new file
                        String f = "w/f" + (n++) + (rnd.nextBoolean() ? "" : ".txt");
                        byte[] data = Fx.random(rnd.nextLong(), rnd.nextInt(300 * KB));
                        write(dir.resolve(f), data, 0, true, rnd.nextBoolean());
                        files.put(f, data);
                    } else if (op <= 6) { // overwrite part in place (copy-on-write of some blocks)
                        String f = names.get(rnd.nextInt(names.size()));
                        byte[] old = files.get(f);
                        int off = old.length == 0 ? 0 : rnd.nextInt(old.length);
                        byte[] patch = Fx.random(rnd.nextLong(), 1 + rnd.nextInt(100 * KB));
                        write(dir.resolve(f), patch, off, false, rnd.nextBoolean());
                        byte[] now = java.util.Arrays.copyOf(old, Math.max(old.length, off + patch.length));
                        System.arraycopy(patch, 0, now, off, patch.length);
                        files.put(f, now);
                    } else if (op == 7) { // delete
                        String f = names.get(rnd.nextInt(names.size()));
                        Files.delete(dir.resolve(f));
                        files.remove(f);
                    } else if (op == 8) { // rename over another file
                        String a = names.get(rnd.nextInt(names.size()));
                        String b = names.get(rnd.nextInt(names.size()));
                        if (!a.equals(b)) {
                            Files.move(dir.resolve(a), dir.resolve(b), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                            files.put(b, files.remove(a));
                        }
                    } else { // truncate
                        String f = names.get(rnd.nextInt(names.size()));
                        byte[] old = files.get(f);
                        int len = old.length == 0 ? 0 : rnd.nextInt(old.length);
                        try (FileChannel ch = FileChannel.open(dir.resolve(f), StandardOpenOption.WRITE)) {
                            ch.truncate(len);
                        }
                        files.put(f, java.util.Arrays.copyOf(old, len));
                    }
                    ops.incrementAndGet();
                    if (files.size() > 60) { // bound memory: drop the oldest
                        String f = files.keySet().iterator().next();
                        Files.delete(dir.resolve(f));
                        files.remove(f);
                    }
                }
            } catch (Throwable t) {
                failure = t;
            }
        }

        static void write(Path p, byte[] data, long off, boolean create, boolean fsync) throws IOException {
            try (FileChannel ch = create
                    ? FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)
                    : FileChannel.open(p, StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(data);
                long pos = off;
                while (b.hasRemaining()) {
                    pos += ch.write(b, pos);
                }
                if (fsync) {
                    ch.force(true);
                }
            }
        }
    }

    /** Hashes the files of a read-only snapshot mount over and over. */
    static final class Reader extends Thread {
        final Path dir;
        final Map<String, String> want;
        volatile boolean stop;
        volatile Throwable failure;
        final AtomicLong reads = new AtomicLong();

        Reader(Path dir, Map<String, String> want) {
            super("reader");
            this.dir = dir;
            this.want = want;
        }

        @Override
        public void run() {
            try {
                while (!stop) {
                    for (var e : want.entrySet()) {
                        if (e.getKey().endsWith("/")) {
                            continue;
                        }
                        String got = Fx.sha256(Files.readAllBytes(dir.resolve(e.getKey())));
                        if (!got.equals(e.getValue())) {
                            throw new AssertionError("snapshot mount served wrong bytes for " + e.getKey());
                        }
                        reads.incrementAndGet();
                    }
                }
            } catch (Throwable t) {
                failure = t;
            }
        }
    }

    @Test
    void viewsWrittenWhileSnapshotRmAndGcRun() throws Exception {
        Cowfs.assumeFuse();
        Path src = tmp.resolve("src");
        Map<String, byte[]> base = new LinkedHashMap<>();
        for (int i = 0; i < 10; i++) {
            base.put("base/b" + i + ".bin", Fx.random(i, 100 * KB + i));
        }
        Fx.writeTree(src, base);
        Path refSrc = tmp.resolve("ref");
        Map<String, byte[]> ref = new LinkedHashMap<>();
        for (int i = 0; i < 20; i++) {
            ref.put("r" + i + ".bin", Fx.random(500 + i, 200 * KB));
        }
        Fx.writeTree(refSrc, ref);
        List<String> views = List.of("a", "b", "c");
        List<String> log = new ArrayList<>();
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "base").ok();
            c.run("import", refSrc.toString(), "--name", "ref").ok();
            for (String v : views) {
                c.run("fork", "base", "--name", v).ok();
            }
            Map<String, Writer> writers = new LinkedHashMap<>();
            Map<String, Cowfs.Mounted> mounts = new LinkedHashMap<>();
            for (String v : views) {
                mounts.put(v, c.mount(v));
            }
            Cowfs.Mounted refMount = c.mount("ref");
            Reader reader = new Reader(refMount.dir, Fx.hashTree(refSrc));
            for (String v : views) {
                writers.put(v, new Writer(v, mounts.get(v).dir, v.hashCode()));
            }
            writers.values().forEach(Thread::start);
            reader.start();

            Deque<String> made = new ArrayDeque<>();
            Map<String, Integer> fsckRc = new ConcurrentHashMap<>();
            long deadline = System.nanoTime() + SECONDS * 1_000_000_000L;
            int i = 0;
            try {
                while (System.nanoTime() < deadline) {
                    String v = views.get(i % views.size());
                    String s = "s" + i;
                    c.run("snapshot", v, "--name", s).ok();
                    made.add(s);
                    if (i % 3 == 0) {
                        c.run("fork", s, "--name", "f" + i).ok();
                        made.add("f" + i);
                    }
                    while (made.size() > 4) {
                        c.run("rm", made.poll()).ok();
                    }
                    c.run("gc").ok();
                    if (i % 4 == 0) {
                        c.run("du", "--json").ok();
                    }
                    if (i % 5 == 0) {
                        Cowfs.Result f = c.run("fsck");
                        fsckRc.merge(f.rc() == 0 ? "clean" : f.out().strip(), 1, Integer::sum);
                    }
                    i++;
                    for (Writer w : writers.values()) {
                        assertTrue(w.failure == null && w.isAlive(), () -> "writer failed: " + w.failure);
                    }
                    assertTrue(reader.failure == null && reader.isAlive(), () -> "reader failed: " + reader.failure);
                }
            } finally {
                writers.values().forEach(w -> w.stop = true);
                reader.stop = true;
                for (Writer w : writers.values()) {
                    w.join(60_000);
                }
                reader.join(60_000);
            }
            for (var w : writers.entrySet()) {
                if (w.getValue().failure != null) {
                    throw new AssertionError("writer " + w.getKey() + " failed", w.getValue().failure);
                }
            }
            if (reader.failure != null) {
                throw new AssertionError("reader failed", reader.failure);
            }
            log.add(i + " admin rounds; writer ops " + writers.values().stream().map(w -> w.ops.get()).toList()
                    + "; reader hashed " + reader.reads.get() + " files; fsck during the run: " + fsckRc);

            // every file as its writer wrote it, through the live mounts
            for (String v : views) {
                check(mounts.get(v).dir, writers.get(v).files, base, v + " (live)");
                c.run("snapshot", v, "--name", "final-" + v).ok();
            }
            for (Cowfs.Mounted m : mounts.values()) {
                m.close();
            }
            refMount.close();
            c.run("fsck").ok();
            c.run("gc").ok();
            c.run("fsck").ok();
            c.run("verify").ok();
            for (String v : views) {
                try (Cowfs.Mounted m = c.mount(v)) {
                    check(m.dir, writers.get(v).files, base, v + " (remounted)");
                }
                Map<String, String> want = new TreeMap<>();
                writers.get(v).files.forEach((k, b) -> want.put(k, Fx.sha256(b)));
                base.forEach((k, b) -> want.put(k, Fx.sha256(b)));
                want.put("w/", "dir");
                want.put("base/", "dir");
                assertEquals(want, Fx.exported(c, "final-" + v), "snapshot final-" + v);
            }
            System.out.println(String.join("\n", log));
            assertTrue(fsckRc.keySet().stream().allMatch(k -> k.equals("clean")), "fsck on the live store: " + fsckRc);
        }
    }

    private static void check(Path dir, Map<String, byte[]> files, Map<String, byte[]> base, String what) throws IOException {
        for (var e : base.entrySet()) {
            assertEquals(Fx.sha256(e.getValue()), Fx.sha256(Files.readAllBytes(dir.resolve(e.getKey()))), what + ": " + e.getKey());
        }
        List<String> present;
        try (var s = Files.list(dir.resolve("w"))) {
            present = s.map(p -> "w/" + p.getFileName()).sorted().toList();
        }
        assertEquals(new ArrayList<>(files.keySet()), present, what + ": the names in w/");
        for (var e : files.entrySet()) {
            assertEquals(Fx.sha256(e.getValue()), Fx.sha256(Files.readAllBytes(dir.resolve(e.getKey()))), what + ": " + e.getKey());
        }
    }
}
