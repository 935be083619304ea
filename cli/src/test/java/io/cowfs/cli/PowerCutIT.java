package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariant 4 at the device: what an fsync in a view returned is on the disk at that moment.
 * The store lives on ext4 on a loop device; right after the fsync, while everything is still
 * mounted, the loop device's backing file is copied: that copy is the disk after a power cut
 * (what ext4 and the mount process held only in memory is not in it). The copy is then mounted
 * (ext4 replays its journal) and the store in it must pass fsck and verify and hold the file.
 * The view writes more than two packs' worth (64 MiB each) before its fsync.
 */
@org.junit.jupiter.api.extension.ExtendWith(MachineWide.Held.class) // it syncs or drops the machine's caches, or a test that does would disturb it
class PowerCutIT {
    @TempDir
    Path tmp;

    private static final int MB = 1 << 20;
    /** Loop devices and mount points to undo, last first. */
    private final List<String> undo = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (int i = undo.size() - 1; i >= 0; i--) {
            Cowfs.shRc(tmp, undo.get(i));
        }
    }

    /** Attaches img to a loop device and mounts it at dir (mkfs first if fresh); skips where that cannot be done. */
    private void mountImage(Path img, Path dir, boolean fresh) throws Exception {
        Cowfs.Result loop = Cowfs.shRc(tmp, "losetup -f --show '" + img + "'");
        assumeTrue(loop.rc() == 0, "no loop device here: " + loop.out());
        String dev = loop.out().trim();
        undo.add("losetup -d " + dev);
        if (fresh) {
            Cowfs.Result mk = Cowfs.shRc(tmp, "mkfs.ext4 -q -F " + dev);
            assumeTrue(mk.rc() == 0, "cannot make ext4 here: " + mk.out());
        }
        Files.createDirectories(dir);
        Cowfs.Result m = Cowfs.shRc(tmp, "mount " + dev + " '" + dir + "'");
        assumeTrue(m.rc() == 0, "cannot mount ext4 here: " + m.out());
        undo.add("umount '" + dir + "' || umount -l '" + dir + "'");
    }

    /** Writes size random bytes (seeded) to p in 1 MiB writes and fsyncs; returns their SHA-256. */
    private static String writeAndFsync(Path p, long size, long seed) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        Random r = new Random(seed);
        byte[] buf = new byte[MB];
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long done = 0; done < size; done += MB) {
                r.nextBytes(buf);
                sha.update(buf);
                ByteBuffer b = ByteBuffer.wrap(buf);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
            }
            ch.force(true);
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static Cowfs.Result cli(Path store, String... args) {
        List<String> a = new ArrayList<>(List.of(args));
        a.add(1, "--store=" + store);
        return Cowfs.runRaw(a.toArray(new String[0]));
    }

    /** A fresh ext4 of size on a loop device, mounted; returns its mount point. */
    private Path freshDisk(String size) throws Exception {
        Cowfs.sh(tmp, "truncate -s " + size + " '" + tmp.resolve("disk.img") + "'");
        Path disk = tmp.resolve("disk");
        mountImage(tmp.resolve("disk.img"), disk, true);
        return disk;
    }

    /** The power cut: copies the disk as it is now, with the mount and ext4 still up. */
    private void cut() throws Exception {
        Cowfs.sh(tmp, "cp --sparse=always '" + tmp.resolve("disk.img") + "' '" + tmp.resolve("cut.img") + "'");
    }

    /** Mounts the copy (ext4 replays its journal), checks its store (fsck, verify) and exports name from it. */
    private Path exportAfterTheCut(String name) throws Exception {
        Path after = tmp.resolve("after");
        mountImage(tmp.resolve("cut.img"), after, false);
        Path store = after.resolve("store");
        cli(store, "fsck").ok();
        cli(store, "verify").ok();
        Path out = tmp.resolve("out");
        cli(store, "export", name, out.toString()).ok();
        return out;
    }

    @Test
    void whatAnFsyncInAViewReturnedIsOnTheDiskAtThatMoment() throws Exception {
        Cowfs.assumeFuse();
        Path disk = freshDisk("768M");
        Path base = tmp.resolve("base");
        byte[] small = Fx.random(1, 3 * MB);
        Fx.writeTree(base, Map.of("small.bin", small, "t.txt", "text\n".repeat(100).getBytes()));
        String want;
        try (Cowfs c = new Cowfs(disk)) {
            c.run("import", base.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                want = writeAndFsync(m.dir.resolve("big.bin"), 160L * MB, 7);
                cut();
            }
        }
        Path out = exportAfterTheCut("v");
        assertEquals(want, sha256(out.resolve("big.bin")), "the fsync'd file, whole");
        assertEquals(Fx.sha256(small), sha256(out.resolve("small.bin")), "the imported file under it");
    }

    @Test
    void aSnapshotOfAMountedViewIsOnTheDiskWhenTheCommandReturns() throws Exception {
        Cowfs.assumeFuse();
        Path disk = freshDisk("512M");
        Path base = tmp.resolve("base");
        Fx.writeTree(base, Map.of("t.txt", "text\n".repeat(100).getBytes()));
        byte[] data = Fx.random(9, 24 * MB);
        try (Cowfs c = new Cowfs(disk)) {
            c.run("import", base.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                Files.write(m.dir.resolve("closed.bin"), data); // closed, never fsynced
                c.run("snapshot", "v", "--name", "s").ok();
                cut();
            }
        }
        Path out = exportAfterTheCut("s");
        assertEquals(Fx.sha256(data), sha256(out.resolve("closed.bin")), "the snapshot's file, whole");
    }

    /**
     * A database's pattern: 4 KiB writes into a file, each followed by fsync. The mount prepares
     * zeros past its pack's records after such an fsync, so the next ones append over blocks
     * already on disk (docs/DURABILITY.md); at the cut those zeros are the pack's tail. The file
     * must hold every byte of the last fsync, and fsck and verify must be clean.
     */
    @Test
    void smallFsyncsInAViewAreOnTheDiskAtThatMoment() throws Exception {
        Cowfs.assumeFuse();
        Path disk = freshDisk("256M");
        Path base = tmp.resolve("base");
        Fx.writeTree(base, Map.of("t.txt", "text\n".repeat(100).getBytes()));
        byte[] model = new byte[MB];
        Random r = new Random(11);
        Path mountsPack;
        try (Cowfs c = new Cowfs(disk)) {
            c.run("import", base.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                try (FileChannel ch = FileChannel.open(m.dir.resolve("db"), StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE)) {
                    byte[] page = new byte[4096];
                    for (int i = 0; i < 300; i++) {
                        r.nextBytes(page);
                        int at = r.nextInt(model.length / page.length) * page.length;
                        System.arraycopy(page, 0, model, at, page.length);
                        ByteBuffer b = ByteBuffer.wrap(page);
                        for (long pos = at; b.hasRemaining(); ) {
                            pos += ch.write(b, pos);
                        }
                        if (i == 0) {
                            ByteBuffer end = ByteBuffer.wrap(model, model.length - 1, 1); // the file's whole size from the start
                            ch.write(end, model.length - 1);
                        }
                        ch.force(false);
                    }
                    cut();
                    try (var packs = Files.list(disk.resolve("store/packs"))) { // the mount's pack: the one written last
                        mountsPack = packs.max(java.util.Comparator.comparing(f -> f.toFile().lastModified())).orElseThrow().getFileName();
                    }
                }
            }
        }
        Path out = exportAfterTheCut("v");
        assertEquals(Fx.sha256(model), sha256(out.resolve("db")), "every page of the last fsync");
        Path pack = tmp.resolve("after/store/packs").resolve(mountsPack);
        long end = io.cowfs.blockstore.store.Packs.scan(pack, rec -> { });
        assertTrue(end < Files.size(pack) && io.cowfs.blockstore.store.Packs.zerosFrom(pack, end),
                "the mount's pack ends in the zeros prepared for the next fsyncs: " + pack);
    }

    private static String sha256(Path p) throws IOException {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[MB];
            try (var in = Files.newInputStream(p)) {
                for (int n; (n = in.read(buf)) > 0; ) {
                    sha.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
