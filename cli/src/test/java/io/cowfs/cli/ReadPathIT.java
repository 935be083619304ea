package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.store.ChunkId;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The read path through real mounts: a block cache far smaller than what is read, with many
 * readers at once (sequential, strided, small files) evicting and reusing its slots while
 * read-ahead loads into it; and whole blocks read from the packs straight into the reply. Every
 * byte must still be right, and damage still an error.
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

    /**
     * Reads that hold whole blocks are read from the packs straight into the reply (raw records
     * with their header landing just before the block, compressed ones decompressed in place)
     * and hashed there: raw, compressed and zero blocks and a partial tail read exactly in every
     * request shape, so do a view's written pages and sub-block deltas among them, and a damaged
     * compressed chunk is still EIO for the reads that need it, and only for those.
     */
    @Test
    void wholeBlocksAreReadIntoTheReplyAndStillChecked(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        Path src = Files.createDirectories(tmp.resolve("src"));
        int block = 64 * 1024;
        java.util.Random rnd = new java.util.Random(7);
        byte[] mixed = new byte[40 * block + 12345];
        rnd.nextBytes(mixed); // raw (incompressible) blocks
        for (int b = 0; b < 40; b++) {
            if (b % 3 == 1) { // compressible: stored zstd
                byte[] text = ("block " + b + " is text that compresses well. ").repeat(2000).getBytes();
                System.arraycopy(text, 0, mixed, b * block, block);
            } else if (b % 7 == 6) {
                java.util.Arrays.fill(mixed, b * block, (b + 1) * block, (byte) 0);
            }
        }
        Files.write(src.resolve("mixed"), mixed);
        String s = src.toString();
        // whole blocks at 1 MiB, one block, blocks from an unaligned start, and no whole block at all
        String reads = "set -e; dd if=mixed bs=1M status=none | cmp - " + s + "/mixed; "
                + "dd if=mixed bs=64k skip=5 status=none | cmp - <(dd if=" + s + "/mixed bs=64k skip=5 status=none); "
                + "dd if=mixed bs=100000 skip=3 status=none | cmp - <(dd if=" + s + "/mixed bs=100000 skip=3 status=none); "
                + "dd if=mixed bs=1000 skip=70 count=30 status=none | cmp - <(dd if=" + s + "/mixed bs=1000 skip=70 count=30 status=none)";
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", s, "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("snap")) {
                Cowfs.sh(m.dir, reads);
            }
            // a view: a page written into block 5, block 9 written whole, then read among stored blocks
            byte[] page = new byte[4096];
            rnd.nextBytes(page);
            byte[] whole = new byte[block];
            rnd.nextBytes(whole);
            System.arraycopy(page, 0, mixed, 5 * block + 8192, page.length);
            System.arraycopy(whole, 0, mixed, 9 * block, block);
            Path expected = Files.write(tmp.resolve("expected"), mixed);
            Files.write(tmp.resolve("page"), page);
            Files.write(tmp.resolve("whole"), whole);
            String writes = "set -e; dd if=" + tmp.resolve("page") + " of=mixed bs=4096 seek=" + (5 * 16 + 2) + " conv=notrunc status=none; "
                    + "dd if=" + tmp.resolve("whole") + " of=mixed bs=64k seek=9 conv=notrunc status=none";
            try (Cowfs.Mounted m = c.mount("v")) {
                Cowfs.sh(m.dir, writes + "; dd if=mixed bs=1M status=none | cmp - " + expected);
            }
            try (Cowfs.Mounted m = c.mount("v")) { // now stored: block 5 as a sub-block delta over its base
                Cowfs.sh(m.dir, "dd if=mixed bs=1M status=none | cmp - " + expected);
            }
            c.run("fsck").ok();

            // a byte of block 1 (stored compressed) flipped on disk
            byte[] one = java.util.Arrays.copyOfRange(Files.readAllBytes(src.resolve("mixed")), block, 2 * block);
            CorruptionIT.flipPayloadByte(c.store.resolve("packs"), java.util.HexFormat.of().parseHex(CorruptionIT.sha256Hex(one)));
            try (Cowfs.Mounted m = c.mount("snap")) {
                assertOnlyBlockIsEio(m, "mixed", 1, src.resolve("mixed"));
            }
        }
    }

    /**
     * A view's blocks stored as sub-block deltas and chains of them (pages rewritten over three
     * mounts, a zero page, the short tail block rewritten and then grown) are made in place in the
     * reply when a read holds them whole: every request shape reads the bytes written, the chains'
     * deltas are checked as they are read, and a damaged delta is EIO for the reads that need its
     * block, and only for those.
     */
    @Test
    void deltaChainsAreMadeInTheReplyAndStillChecked(@TempDir Path tmp) throws Exception {
        Cowfs.assumeFuse();
        int block = 64 * 1024;
        Random rnd = new Random(11);
        byte[] data = new byte[24 * block + 40000];
        rnd.nextBytes(data);
        for (int b = 1; b < 24; b += 4) { // compressible bases: stored zstd, decompressed in place
            byte[] text = ("base block " + b + " compresses. ").repeat(4000).getBytes();
            System.arraycopy(text, 0, data, b * block, block);
        }
        Path src = Files.createDirectories(tmp.resolve("src"));
        Files.write(src.resolve("f"), data);
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", src.toString(), "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            for (int round = 0; round < 3; round++) {
                List<long[]> writes = new ArrayList<>(); // offset, length
                for (int b : new int[] {2, 3, 5, 13}) { // the same blocks each round: chains of three
                    writes.add(new long[] {(long) b * block + (long) ((round * 5 + b) % 16) * 4096, 4096});
                }
                writes.add(new long[] {24L * block + 500, 1000}); // inside the 40000-byte tail block
                if (round == 0) {
                    writes.add(new long[] {7L * block + 4096 * 3, 4096}); // zeros: a zero page
                }
                if (round == 2) {
                    writes.add(new long[] {data.length, 2000}); // the tail block grows
                }
                try (Cowfs.Mounted m = c.mount("v");
                        java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(m.dir.resolve("f"), java.nio.file.StandardOpenOption.WRITE)) {
                    for (long[] w : writes) {
                        byte[] bytes = new byte[(int) w[1]];
                        if (w[0] != 7L * block + 4096 * 3) {
                            rnd.nextBytes(bytes);
                        }
                        if (w[0] + w[1] > data.length) {
                            data = java.util.Arrays.copyOf(data, (int) (w[0] + w[1]));
                        }
                        System.arraycopy(bytes, 0, data, (int) w[0], bytes.length);
                        ch.write(java.nio.ByteBuffer.wrap(bytes), w[0]);
                    }
                }
            }
            Path expected = Files.write(tmp.resolve("expected"), data);
            ChunkId top; // the delta on top of block 2's chain
            try (io.cowfs.blockstore.store.Store s = io.cowfs.blockstore.store.Store.open(c.store)) {
                var v = new io.cowfs.blockstore.catalog.Catalog(s).get("v");
                var st = s.index().read(txn -> new io.cowfs.blockstore.view.ViewDelta(s.index()).load(txn, v.viewId()));
                java.util.TreeMap<Long, ChunkId> f = st.blocks.values().stream().filter(m -> m.containsKey(2L)).findFirst().orElseThrow();
                top = f.get(2L);
                int links = 0;
                for (ChunkId x = top; st.deltaBases.containsKey(x); x = st.deltaBases.get(x)) {
                    links++;
                }
                assertEquals(3, links, "block 2 is a chain of three deltas");
                for (long b : new long[] {3, 5, 7, 13, 24}) {
                    assertTrue(st.deltaBases.containsKey(f.get(b)), "block " + b + " is stored as a delta");
                }
            }
            String e = expected.toString();
            String reads = "set -e; dd if=f bs=1M status=none | cmp - " + e + "; "
                    + "dd if=f bs=64k skip=2 status=none | cmp - <(dd if=" + e + " bs=64k skip=2 status=none); "
                    + "dd if=f bs=100000 skip=1 status=none | cmp - <(dd if=" + e + " bs=100000 skip=1 status=none); "
                    + "dd if=f bs=1000 skip=130 count=70 status=none | cmp - <(dd if=" + e + " bs=1000 skip=130 count=70 status=none)";
            try (Cowfs.Mounted m = c.mount("v")) {
                Cowfs.sh(m.dir, reads);
            }
            // the same reads the way before (cowfs.readDirectDeltas=false: made in the block cache)
            Path mp = Files.createDirectory(tmp.resolve("mp-old-way"));
            Process mount = foregroundMount(c, "v", mp, "-Dcowfs.readDirectDeltas=false");
            try {
                waitMounted(mount, mp);
                Cowfs.sh(mp, reads);
            } finally {
                Cowfs.unmountHard(mp);
                mount.waitFor(30, TimeUnit.SECONDS);
                mount.destroyForcibly();
            }
            c.run("fsck").ok();

            try (io.cowfs.blockstore.store.Store s = io.cowfs.blockstore.store.Store.open(c.store)) {
                io.cowfs.blockstore.store.ChunkLocation loc = s.locate(top);
                Fx.flipByte(s.packs().path(loc.pack()), loc.offset() + io.cowfs.blockstore.store.PackRecord.HEADER + loc.storedLen() - 1);
            }
            try (Cowfs.Mounted m = c.mount("v")) {
                assertOnlyBlockIsEio(m, "f", 2, expected);
            }
        }
    }

    /**
     * Block b (64 KiB) of file in mount m is damaged: a 1 MiB read of the file and a read of that
     * block are EIO; the blocks before and after it read as expected holds; the mount stays up.
     */
    private static void assertOnlyBlockIsEio(Cowfs.Mounted m, String file, int b, Path expected) throws Exception {
        for (String read : List.of("dd if=" + file + " bs=1M status=none > /dev/null", "dd if=" + file + " bs=64k skip=" + b + " count=1 status=none > /dev/null")) {
            Cowfs.Result r = Cowfs.shRc(m.dir, read);
            assertTrue(r.rc() != 0 && r.out().contains("Input/output error"), read + ": " + r.out());
        }
        String e = expected.toString();
        Cowfs.sh(m.dir, "set -e; dd if=" + file + " bs=64k count=" + b + " status=none | cmp - <(dd if=" + e + " bs=64k count=" + b + " status=none); "
                + "dd if=" + file + " bs=64k skip=" + (b + 1) + " status=none | cmp - <(dd if=" + e + " bs=64k skip=" + (b + 1) + " status=none)");
        assertTrue(Cowfs.isMounted(m.dir), "the mount stays up");
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

    /** Unmounts a mount started by {@link #foregroundMount} and waits for its process to end. */
    static void stopForeground(Process mount, Path mp) throws Exception {
        Cowfs.unmountHard(mp);
        mount.waitFor(30, TimeUnit.SECONDS);
        mount.destroyForcibly();
    }

    /** The number in group 1 of the last line of a mount's log that matches count; -1 if none does. */
    static long lastCount(Path log, java.util.regex.Pattern count) throws Exception {
        java.util.regex.Matcher m = count.matcher(Files.readString(log));
        long n = -1;
        while (m.find()) {
            n = Long.parseLong(m.group(1));
        }
        return n;
    }
}
