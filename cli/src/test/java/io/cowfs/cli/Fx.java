package io.cowfs.cli;

import io.cowfs.blockstore.run.MountRecord;
import io.cowfs.blockstore.run.MountRegistry;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.Packs;
import io.cowfs.blockstore.store.Store;
import io.cowfs.fusefs.vfs.FsException;
import io.cowfs.fusefs.vfs.ViewFs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;

/** Helpers shared by the lifecycle and fault tests (no mocks: real stores, real files). */
final class Fx {
    static final ObjectMapper JSON = new ObjectMapper();

    private Fx() {
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (var s = Files.walk(p)) {
            for (Path f : (Iterable<Path>) s.sorted(java.util.Comparator.reverseOrder())::iterator) {
                Files.delete(f);
            }
        }
    }

    static byte[] random(long seed, int len) {
        byte[] b = new byte[len];
        new Random(seed).nextBytes(b);
        return b;
    }

    static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    static JsonNode json(Cowfs.Result r) {
        try {
            return JSON.readTree(r.out());
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + r.out(), e);
        }
    }

    /** du --json as name -> row. */
    static Map<String, JsonNode> du(Cowfs c) {
        Map<String, JsonNode> m = new LinkedHashMap<>();
        for (JsonNode n : json(c.run("du", "--json").ok())) {
            m.put(n.get("name").asText(), n);
        }
        return m;
    }

    static long packBytes(Path store) throws IOException {
        long n = 0;
        try (Stream<Path> s = Files.list(store.resolve("packs"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                n += Files.size(p);
            }
        }
        return n;
    }

    static List<Path> packs(Path store) throws IOException {
        try (Stream<Path> s = Files.list(store.resolve("packs"))) {
            return s.filter(p -> p.getFileName().toString().endsWith(".pack")).sorted().toList();
        }
    }

    static long indexBytes(Path store) throws IOException {
        return Files.size(store.resolve("index").resolve("data.mdb"));
    }

    /** Every file below root (relative path -> sha256), symlinks as "link:" + target. */
    static Map<String, String> hashTree(Path root) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String rel = root.relativize(p).toString();
                if (rel.isEmpty()) {
                    continue;
                }
                if (Files.isSymbolicLink(p)) {
                    m.put(rel, "link:" + Files.readSymbolicLink(p));
                } else if (Files.isDirectory(p)) {
                    m.put(rel + "/", "dir");
                } else {
                    m.put(rel, sha256(Files.readAllBytes(p)));
                }
            }
        }
        return m;
    }

    /** Exports name to a fresh directory and returns its tree hashes. */
    static Map<String, String> exported(Cowfs c, String name) throws IOException {
        Path d = Files.createTempDirectory(c.root, "export-" + name + "-");
        Files.delete(d);
        c.run("export", name, d.toString()).ok();
        return hashTree(d);
    }

    /** Writes files into a host directory (paths relative, parents created). */
    static void writeTree(Path root, Map<String, byte[]> files) throws IOException {
        for (var e : files.entrySet()) {
            Path p = root.resolve(e.getKey());
            Files.createDirectories(p.getParent());
            Files.write(p, e.getValue());
        }
    }

    // ------------------------------------------------------------ writing a view without FUSE

    /**
     * Changes an unmounted view through the real VFS (the same code a mount runs), in this process.
     * No CLI command may run meanwhile (one LMDB environment per process at a time).
     */
    static void inView(Path storeDir, String view, java.util.function.Consumer<Vfs> work) {
        try (Store s = Store.open(storeDir)) {
            CatalogEntry e = new Catalog(s).get(view);
            try (ViewFs fs = ViewFs.view(s, e.root(), e.viewId(), false)) {
                work.accept(new Vfs(fs));
            }
        }
    }

    /** Path-level operations on a ViewFs. */
    static final class Vfs {
        final ViewFs fs;

        Vfs(ViewFs fs) {
            this.fs = fs;
        }

        long mkdirs(String dir) {
            long ino = 1;
            for (String part : dir.split("/")) {
                if (part.isEmpty()) {
                    continue;
                }
                try {
                    ino = fs.lookup(ino, part);
                } catch (FsException ex) {
                    ino = fs.mkdir(ino, part, 0755, 0, 0);
                }
            }
            return ino;
        }

        /** Creates or truncates path and writes data. */
        Vfs put(String path, byte[] data) {
            int k = path.lastIndexOf('/');
            long dir = k < 0 ? 1 : mkdirs(path.substring(0, k));
            String name = path.substring(k + 1);
            long ino;
            try {
                ino = fs.lookup(dir, name);
                fs.open(ino, true);
                fs.truncate(ino, 0);
            } catch (FsException ex) {
                ino = fs.create(dir, name, 0644, 0, 0);
            }
            fs.write(ino, 0, data, data.length);
            fs.flush(ino);
            fs.release(ino);
            return this;
        }

        /** Overwrites data at off in an existing file. */
        Vfs patch(String path, long off, byte[] data) {
            long ino = fs.resolve("/" + path);
            fs.open(ino, true);
            fs.write(ino, off, data, data.length);
            fs.flush(ino);
            fs.release(ino);
            return this;
        }

        Vfs rm(String path) {
            ViewFs.Parent p = fs.parent("/" + path);
            fs.unlink(p.dir(), p.name());
            return this;
        }

        Vfs rmdir(String path) {
            ViewFs.Parent p = fs.parent("/" + path);
            fs.rmdir(p.dir(), p.name());
            return this;
        }

        Vfs mkdir(String path) {
            mkdirs(path);
            return this;
        }

        Vfs symlink(String path, String target) {
            ViewFs.Parent p = fs.parent("/" + path);
            fs.symlink(target.getBytes(java.nio.charset.StandardCharsets.UTF_8), p.dir(), p.name(), 0, 0);
            return this;
        }

        Vfs chmod(String path, int mode) {
            fs.chmod(fs.resolve("/" + path), mode);
            return this;
        }

        Vfs mtime(String path, long epochSeconds) {
            fs.utimens(fs.resolve("/" + path), ViewFs.OMIT, epochSeconds * 1_000_000_000L);
            return this;
        }
    }

    // ------------------------------------------------------------ packs

    /** Where a chunk's record lies in the packs (scan of the record headers). */
    record Record(Path pack, long offset, int storedLen) {
        long payload() {
            return offset + PackRecord.HEADER;
        }
    }

    static Map<ChunkId, Record> scanPacks(Path store) throws IOException {
        Map<ChunkId, Record> out = new HashMap<>();
        for (Path p : packs(store)) {
            Packs.scan(p, r -> out.putIfAbsent(r.id(), new Record(p, r.offset(), r.storedLen())));
        }
        return out;
    }

    /** The record of the block-sized chunk at block index idx of content. */
    static Record recordOf(Path store, byte[] content, int idx) throws IOException {
        int bs = Store.DEFAULT_BLOCK_SIZE;
        int from = idx * bs;
        ChunkId id = ChunkId.hash(content, from, Math.min(bs, content.length - from));
        Record r = scanPacks(store).get(id);
        assertNotNull(r, "no record for block " + idx);
        return r;
    }

    static void flipByte(Path file, long at) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            assertEquals(1, ch.read(b, at));
            b.flip();
            byte v = b.get(0);
            b.put(0, (byte) (v ^ 0x5A));
            ch.write(b, at);
        }
    }

    // ------------------------------------------------------------ mounts

    /** The pid of the process serving mountpoint mp (from STORE/run/*.mount). */
    static long mountPid(Path store, Path mp) throws IOException {
        String want = mp.toAbsolutePath().normalize().toString();
        for (MountRecord m : new MountRegistry(store).records()) {
            if (m.mountpoint().equals(want)) {
                return m.pid();
            }
        }
        Long pid = UmountCommand.daemonPid(mp.toAbsolutePath().normalize());
        assertNotNull(pid, "no mount process for " + mp);
        return pid;
    }

    /**
     * True if the filesystem holding dir takes fallocate's FALLOC_FL_ZERO_RANGE, which tests that
     * compare a view's fallocate with the host's need (tmpfs refuses it; a view takes it).
     */
    static boolean hostZeroRange(Path dir) throws Exception {
        return Cowfs.shRc(dir, "f=$(mktemp -p .) && fallocate -z -l 4096 \"$f\"; rc=$?; rm -f \"$f\"; exit $rc").rc() == 0;
    }

    /** kill -9 of the mount process serving mp; waits until it is gone. */
    static void killMount(Path store, Path mp) throws Exception {
        long pid = mountPid(store, mp);
        ProcessHandle h = ProcessHandle.of(pid).orElseThrow();
        new ProcessBuilder("kill", "-9", Long.toString(pid)).inheritIO().start().waitFor();
        h.onExit().get(30, java.util.concurrent.TimeUnit.SECONDS);
    }

    /** The command line of cowfs in a fresh JVM (so that a crash in native code cannot take the test JVM down). */
    static List<String> javaCommand(List<String> jvmArgs, String... args) {
        List<String> cmd = new java.util.ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.add("--add-opens=java.base/java.nio=ALL-UNNAMED");
        cmd.add("--add-opens=java.base/sun.nio.ch=ALL-UNNAMED");
        cmd.add("-XX:TieredStopAtLevel=1");
        cmd.add("-XX:-CreateCoredumpOnCrash");
        cmd.add("-XX:ErrorFile=/dev/null");
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Runs cowfs in a fresh JVM and waits for it (at most 120 s: rc 124 then). */
    static Cowfs.Result javaMain(List<String> jvmArgs, String... args) throws Exception {
        return javaMain(Map.of(), jvmArgs, args);
    }

    /** {@link #javaMain(List, String...)} with env added to this JVM's environment. */
    static Cowfs.Result javaMain(Map<String, String> env, List<String> jvmArgs, String... args) throws Exception {
        Path out = Files.createTempFile("cowfs-out", ".txt");
        Path err = Files.createTempFile("cowfs-err", ".txt");
        try {
            ProcessBuilder pb = new ProcessBuilder(javaCommand(jvmArgs, args)).redirectOutput(out.toFile()).redirectError(err.toFile());
            pb.environment().putAll(env);
            Process p = pb.start();
            if (!p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                return new Cowfs.Result(124, Files.readString(out), Files.readString(err));
            }
            return new Cowfs.Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    static Cowfs.Result javaMain(String... args) throws Exception {
        return javaMain(List.of(), args);
    }
}
