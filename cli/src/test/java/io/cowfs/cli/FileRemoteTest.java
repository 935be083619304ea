package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A directory as remote (file:///DIR): push, lazy pull and export through the CLI in-process (no
 * credentials are involved), the store's format raised to 4 by the lazy pull, and a pack lost on
 * the remote found again in the packs of a later push (the lazy reader relocates it).
 */
class FileRemoteTest {
    @TempDir
    Path tmp;

    /**
     * A snapshot whose small files keep their block lists in their inodes (format 6), pulled into
     * a store of format 5: the pull raises the store to 6, so that an older build refuses it
     * instead of misreading those inodes; the files export whole.
     */
    @Test
    void aPullOfInodesWithInlineListsRaisesAFormat5Store() throws Exception {
        Path src = SourceTree.build(tmp.resolve("src"));
        Path remote = tmp.resolve("remote");
        try (Cowfs a = new Cowfs(tmp.resolve("a")); Cowfs b = new Cowfs(tmp.resolve("b"))) {
            importAndPush(a, src, remote);
            Path props = b.store.resolve("cowfs-store.properties");
            Files.writeString(props, Files.readString(props).replace("format=" + io.cowfs.blockstore.store.Store.FORMAT, "format=5"));
            b.run("remote", "add", "r", "file://" + remote).ok();
            b.run("pull", "s").ok();
            assertTrue(Files.readString(props).contains("format=" + io.cowfs.blockstore.store.Store.FORMAT_INLINE_LISTS), Files.readString(props));
            fsckAndExport(b, src);
        }
    }

    /** Imports src into a as snapshot s and pushes it to the directory remote (as remote r). */
    private static void importAndPush(Cowfs a, Path src, Path remote) throws Exception {
        a.run("import", src.toString(), "--name", "s").ok();
        a.run("remote", "add", "r", "file://" + remote).ok();
        a.run("push", "s").ok();
    }

    /** b passes fsck and its snapshot s exports as src. */
    private void fsckAndExport(Cowfs b, Path src) throws Exception {
        b.run("fsck").ok();
        Path out = tmp.resolve("out");
        b.run("export", "s", out.toString()).ok();
        assertEquals(SourceTree.hashes(src), SourceTree.hashes(out));
    }

    @Test
    void pushLazyPullAndExportThroughADirectory() throws Exception {
        Path src = SourceTree.build(tmp.resolve("src"));
        Path remote = tmp.resolve("remote");
        try (Cowfs a = new Cowfs(tmp.resolve("a")); Cowfs b = new Cowfs(tmp.resolve("b"))) {
            importAndPush(a, src, remote);
            assertTrue(Files.exists(remote.resolve("snapshots/s")) && Files.exists(remote.resolve("sindex/s")));
            try (Stream<Path> tmps = Files.walk(remote)) {
                assertFalse(tmps.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary file is left");
            }

            // a second snapshot of a slightly changed tree: its sindex builds on the first one's
            Cowfs.sh(src, "echo more >> numbers");
            a.run("import", src.toString(), "--name", "s2").ok();
            a.run("push", "s2").ok();
            assertTrue(Files.readString(remote.resolve("snapshots/s2")).contains("sindex-base s\n"));
            assertTrue(Files.size(remote.resolve("sindex/s2")) < Files.size(remote.resolve("sindex/s")));
            Cowfs.sh(src, "sed -i '$ d' numbers");

            b.run("remote", "add", "r", "file://" + remote).ok();
            b.run("pull", "s", "--lazy").ok();
            assertTrue(Files.readString(b.store.resolve("cowfs-store.properties")).contains("format=" + io.cowfs.blockstore.store.Store.FORMAT));
            fsckAndExport(b, src);
            assertFalse(b.run("verify").ok().out().contains("still on their remotes"), "everything exported is local now");
            b.run("pull", "s2", "--lazy").ok();
            Path out2 = tmp.resolve("out2");
            b.run("export", "s2", out2.toString()).ok();
            assertTrue(Files.readString(out2.resolve("numbers")).endsWith("more\n"));
            // everything is local now: removing the remote is allowed
            b.run("remote", "remove", "r").ok();
        }
    }

    @Test
    void aLazyReaderFindsChunksWhoseRepairingPushMovedThem() throws Exception {
        Path src = tmp.resolve("src");
        Cowfs.sh(tmp, "mkdir -p src && head -c 300000 /dev/urandom > src/a.bin && echo hi > src/b.txt");
        Path remote = tmp.resolve("remote");
        try (Cowfs a = new Cowfs(tmp.resolve("a")); Cowfs b = new Cowfs(tmp.resolve("b"))) {
            a.run("import", src.toString(), "--name", "s").ok();
            a.run("remote", "add", "r", "file://" + remote).ok();
            a.run("push", "s").ok();
            b.run("remote", "add", "r", "file://" + remote).ok();
            b.run("pull", "s", "--lazy").ok();
            // every data pack is lost on the remote; a push repairs it (new packs, new names)
            try (Stream<Path> packs = Files.list(remote.resolve("packs"))) {
                for (Path p : packs.toList()) {
                    if (Files.size(p) > 200_000) {
                        Files.delete(p);
                    }
                }
            }
            a.run("verify", "--remote", "r").fails(Main.EXIT_DAMAGED);
            a.run("push", "s").ok();
            a.run("verify", "--remote", "r", "--deep").ok();
            // b's entries name the lost pack: its reads find the chunks in the new one
            Path out = tmp.resolve("out");
            b.run("export", "s", out.toString()).ok();
            assertEquals(SourceTree.hashes(src), SourceTree.hashes(out));
        }
    }

    /**
     * A push killed while it writes an object leaves that object's temporary file in a file://
     * remote; gc --remote deletes it once it is older than the grace period (a running push's
     * are younger), and never a finished object.
     */
    @Test
    void gcOfARemoteDeletesWhatAKilledPushLeftHalfWritten() throws Exception {
        Path src = tmp.resolve("src");
        Cowfs.sh(tmp, "mkdir -p src && head -c 100000000 /dev/urandom > src/big.bin && echo hi > src/b.txt");
        Path remote = tmp.resolve("remote");
        try (Cowfs a = new Cowfs(tmp.resolve("a"))) {
            a.run("import", src.toString(), "--name", "s").ok();
            a.run("remote", "add", "r", "file://" + remote).ok();
            Process push = new ProcessBuilder(Fx.javaCommand(List.of(), "push", "--store=" + a.store, "s"))
                    .redirectErrorStream(true).redirectOutput(tmp.resolve("push.out").toFile()).start();
            List<Path> left;
            try {
                long until = System.nanoTime() + 120_000_000_000L;
                // a pack object's: the marker, written first, is then whole (gc --remote needs it)
                while ((left = unfinished(remote.resolve("packs"))).isEmpty() && push.isAlive() && System.nanoTime() < until) {
                    Thread.sleep(2);
                }
            } finally {
                push.destroyForcibly().waitFor();
            }
            left = unfinished(remote);
            assertFalse(left.isEmpty(), "the push was killed while no object was half-written; its output: "
                    + Files.readString(tmp.resolve("push.out")));
            // young: maybe a running push's
            Cowfs.Result young = a.run("gc", "--remote", "r", "--grace", "1h").ok();
            assertFalse(young.out().contains("half-written"), young.out());
            assertEquals(left, unfinished(remote));
            for (Path f : left) {
                Files.setLastModifiedTime(f, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() - 7_200_000));
            }
            Cowfs.Result old = a.run("gc", "--remote", "r", "--grace", "1h").ok();
            assertTrue(old.out().contains("gc r: " + left.size() + " half-written objects of interrupted pushes deleted"), old.out());
            assertEquals(List.of(), unfinished(remote));
            // the push, run again, finishes; what it had written before the kill is whole
            a.run("push", "s").ok();
            a.run("verify", "--remote", "r", "--deep").ok();
        }
    }

    /**
     * A pull killed in the middle (its packs half fetched) leaves the store clean, without the
     * snapshot or with all of it; the pull run again finishes, and the snapshot exports as the
     * source. Found nothing when a hand-run hunt killed 40 pushes and pulls (full and lazy) at
     * random moments; this is its fixed case.
     */
    @Test
    void aPullKilledMidWayLeavesTheStoreCleanAndARerunFinishes() throws Exception {
        Path src = tmp.resolve("src");
        Cowfs.sh(tmp, "mkdir -p src && head -c 100000000 /dev/urandom > src/big.bin && echo hi > src/b.txt");
        Path remote = tmp.resolve("remote");
        try (Cowfs a = new Cowfs(tmp.resolve("a")); Cowfs b = new Cowfs(tmp.resolve("b"))) {
            importAndPush(a, src, remote);
            b.run("remote", "add", "r", "file://" + remote).ok();
            Process pull = new ProcessBuilder(Fx.javaCommand(List.of(), "pull", "--store=" + b.store, "s"))
                    .redirectErrorStream(true).redirectOutput(tmp.resolve("pull.out").toFile()).start();
            boolean midWay;
            try {
                long until = System.nanoTime() + 120_000_000_000L;
                while (packBytes(b.store) < 20_000_000 && pull.isAlive() && System.nanoTime() < until) {
                    Thread.sleep(2);
                }
                midWay = pull.isAlive();
            } finally {
                pull.destroyForcibly().waitFor();
            }
            assertTrue(midWay, "the pull ended before 20 MB of packs arrived: " + Files.readString(tmp.resolve("pull.out")));
            Cowfs.Result fsck = b.run("fsck").ok();
            assertTrue(fsck.out().contains("clean"), fsck.out());
            if (b.run("list").ok().out().lines().anyMatch(l -> l.startsWith("s "))) {
                fsckAndExport(b, src); // committed before the kill: then whole
                Fx.deleteTree(tmp.resolve("out"));
            }
            b.run("pull", "s").ok();
            fsckAndExport(b, src);
            b.run("verify").ok();
        }
    }

    private static long packBytes(Path store) throws java.io.IOException {
        Path packs = store.resolve("packs");
        if (!Files.isDirectory(packs)) {
            return 0;
        }
        // the pull renames pack.new files as it goes: list without reading attributes (Files.walk
        // reads each entry's and threw NoSuchFileException for one renamed meanwhile), and a
        // file gone meanwhile has length 0
        try (Stream<Path> all = Files.list(packs)) {
            return all.mapToLong(p -> p.toFile().length()).sum();
        }
    }

    private static List<Path> unfinished(Path remote) throws java.io.IOException {
        if (!Files.isDirectory(remote)) {
            return List.of();
        }
        try (Stream<Path> all = Files.walk(remote)) {
            return all.filter(p -> p.getFileName().toString().endsWith(".tmp") && p.getFileName().toString().startsWith(".")).sorted().toList();
        } catch (java.io.UncheckedIOException e) {
            return List.of(); // a file renamed while walked: look again
        }
    }
}
