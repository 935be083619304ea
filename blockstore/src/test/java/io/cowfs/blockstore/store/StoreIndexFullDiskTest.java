package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An index commit on a disk with room for part of its pages: liblmdb's page flush then gets a
 * short write, which it reports as EIO, not ENOSPC ("short write, filesystem full?" in mdb.c).
 * The store must call that what it is, a full disk (StoreFullException: ENOSPC in a view, room
 * made by the space reserve), and the index must take the same transaction once there is room.
 * Real LMDB on a real 4 MiB tmpfs (root only; skipped elsewhere).
 */
class StoreIndexFullDiskTest {
    @TempDir
    Path tmp;

    private Path fs;

    @BeforeEach
    void tmpfs() throws Exception {
        fs = Files.createDirectory(tmp.resolve("small"));
        Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", fs.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assumeTrue(p.waitFor() == 0, "cannot mount a tmpfs here: " + out);
    }

    @AfterEach
    void untmpfs() throws Exception {
        // the index's reader maps data.mdb until the GC unmaps it: a lazy umount detaches it now
        Process p = new ProcessBuilder("sh", "-c", "umount \"$0\" || umount -l \"$0\"", fs.toString())
                .redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        assertEquals(0, p.waitFor(), "tmpfs left mounted at " + fs);
    }

    private static byte[] key(int i) {
        return ByteBuffer.allocate(32).putInt(i).putLong(i * 0x9E3779B97F4A7C15L).array();
    }

    /** Writes zeros into filler until the disk is full; then frees room bytes of it. */
    private static void fillLeaving(Path filler, long room) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocate(1 << 16);
        long size = 0;
        try (FileChannel ch = FileChannel.open(filler, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            while (true) {
                zeros.clear();
                size += ch.write(zeros, size);
            }
        } catch (IOException e) {
            if (!StoreException.isNoSpace(e)) {
                throw e;
            }
        }
        try (RandomAccessFile f = new RandomAccessFile(filler.toFile(), "rw")) {
            f.setLength(f.length() / 4096 * 4096 - room);
        }
    }

    @Test
    void aCommitWhosePagesFitOnlyInPartIsAFullDisk() throws Exception {
        Path dir = fs.resolve("index");
        Path filler = fs.resolve("filler");
        try (StoreIndex index = new StoreIndex(dir, true, false, 1 << 20)) {
            index.write(txn -> { // the tree exists: the next commit's pages go past the file's end
                index.meta.putLong(txn, MetaTable.FORMAT, 1);
                return null;
            });
            fillLeaving(filler, 4096); // room for one page of the many the commit below writes
            java.util.function.Function<org.lmdbjava.Txn<byte[]>, Void> many = txn -> {
                for (int i = 0; i < 2000; i++) {
                    index.chunks.put(txn, ChunkId.hash(key(i)), new ChunkLocation(1, i * 100L, 90, 100, 7));
                }
                return null;
            };
            StoreException full = assertThrows(StoreException.StoreFullException.class, () -> index.write(many));
            System.out.println("commit on a full disk: " + full.getMessage());
            Files.delete(filler);
            index.write(many); // the same transaction once there is room: the index took no harm
            for (int i = 0; i < 2000; i++) {
                ChunkId id = ChunkId.hash(key(i));
                ChunkLocation loc = index.read(txn -> index.chunks.location(txn, id));
                assertNotNull(loc, "entry " + i);
                assertEquals(i * 100L, loc.offset());
            }
        }
    }
}
