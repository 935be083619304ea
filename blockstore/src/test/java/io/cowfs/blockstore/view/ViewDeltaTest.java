package io.cowfs.blockstore.view;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.FileType;
import io.cowfs.blockstore.tree.Inode;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Range operations on view deltas with key bytes on both sides of 0x80 (LMDB orders unsigned). */
class ViewDeltaTest {
    @TempDir
    Path tmp;

    private static Inode file(long ino) {
        Inode n = new Inode();
        n.ino = ino;
        n.type = FileType.REGULAR;
        n.nlink = 1;
        n.perm = 0644;
        return n;
    }

    @Test
    void rangesStayWithinTheirViewAndFile() {
        List<Long> views = List.of(1L, 127L, 128L, 255L, 256L, 0x80L << 8);
        List<Long> inos = List.of(2L, 127L, 128L, 200L, 255L, 256L, 383L, 384L, 0x8000L, 0x80_0000L);
        try (Store store = Store.init(tmp.resolve("s"), Store.DEFAULT_BLOCK_SIZE)) {
            ViewDelta d = new ViewDelta(store.index());
            ChunkId id = store.put(new byte[] {1, 2, 3});
            store.commit(txn -> {
                for (long v : views) {
                    for (long ino : inos) {
                        d.putInode(txn, v, file(ino));
                        d.putDirent(txn, v, ino, "n" + ino, new DirObject.Entry(ino + 1, FileType.REGULAR));
                        for (long b : List.of(0L, 127L, 128L, 255L, 256L)) {
                            d.putBlock(txn, v, ino, b, id);
                        }
                    }
                }
                return null;
            });
            for (long v : views) {
                ViewDelta.State s = store.index().read(txn -> d.load(txn, v));
                assertEquals(inos.size(), s.inodes.size(), "inodes of view " + v);
                assertEquals(inos.size(), s.dirents.size(), "dirents of view " + v);
                assertEquals(inos.size(), s.blocks.size(), "files with blocks in view " + v);
                s.blocks.values().forEach(m -> assertEquals(5, m.size()));
            }
            // truncating one file drops only its blocks at or past the index
            store.index().write(txn -> {
                d.deleteBlocksFrom(txn, 128, 128, 128);
                d.dropDir(txn, 128, 127);
                return null;
            });
            ViewDelta.State s = store.index().read(txn -> d.load(txn, 128));
            assertEquals(List.of(0L, 127L), List.copyOf(s.blocks.get(128L).keySet()));
            for (long ino : inos) {
                if (ino != 128) {
                    assertEquals(5, s.blocks.get(ino).size(), "blocks of inode " + ino);
                }
            }
            assertNull(s.dirents.get(127L));
            assertEquals(inos.size() - 1, s.dirents.size());
            // dropping a view leaves the others whole
            store.index().write(txn -> {
                d.drop(txn, 127);
                return null;
            });
            assertTrue(store.index().read(txn -> d.load(txn, 127)).inodes.isEmpty());
            assertEquals(inos.size(), store.index().read(txn -> d.load(txn, 128)).inodes.size());
            assertEquals(inos.size(), store.index().read(txn -> d.load(txn, 255)).inodes.size());
        }
    }
}
