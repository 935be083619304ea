package io.cowfs.blockstore.view;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.FileType;
import io.cowfs.blockstore.tree.Importer;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotReader;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Freezing a view that holds a large sparse file costs its pages, not its blocks. */
class FreezerLargeFileTest {
    @TempDir
    Path tmp;

    @Test
    void aSparseFileWithDataAtItsEndFreezesWithoutAnArrayOfAllItsBlocks() throws Exception {
        // a 16 TiB VM image written in the view at its start and its end (a GPT backup header):
        // the freeze built an array of all 268M blocks (1 GiB; the agent's 256 MB heap ran out at 3 TiB)
        try (Store store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE)) {
            Path src = Files.createDirectories(tmp.resolve("src"));
            ChunkId root0 = new Importer(store, false, Importer.Progress.NONE, w -> { }).run(src).root();
            SnapshotReader base = new SnapshotReader(store, root0);
            int bs = store.blockSize();
            long size = (16L << 40) - 4096;
            long last = (size - 1) / bs;
            ChunkId head = store.put(new byte[] {1, 2, 3});
            ChunkId tail = store.put(new byte[] {4, 5, 6});
            ViewDelta.State st = new ViewDelta.State();
            long ino = base.root().maxIno() + 1;
            Inode n = new Inode();
            n.ino = ino;
            n.type = FileType.REGULAR;
            n.perm = 0644;
            n.nlink = 1;
            n.size = size;
            n.blockPages = new ArrayList<>();
            st.inodes.put(ino, n);
            TreeMap<String, DirObject.Entry> names = new TreeMap<>();
            names.put("disk.img", new DirObject.Entry(ino, FileType.REGULAR));
            st.dirents.put(1L, names);
            TreeMap<Long, ChunkId> blocks = new TreeMap<>();
            blocks.put(0L, head);
            blocks.put(last, tail);
            st.blocks.put(ino, blocks);
            com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long t = Thread.currentThread().getId();
            long before = mx.getThreadAllocatedBytes(t);
            ChunkId root = Freezer.freeze(store, base, st);
            long allocated = mx.getThreadAllocatedBytes(t) - before;
            assertTrue(allocated < 256L << 20, "allocated " + allocated + " bytes to freeze a file of 2 blocks");
            SnapshotReader snap = new SnapshotReader(store, root);
            Inode f = snap.inode(ino);
            assertEquals(size, f.size);
            assertEquals(head, snap.block(f, 0));
            assertNull(snap.block(f, 1));
            assertNull(snap.block(f, last / 2));
            assertNull(snap.block(f, last - 1));
            assertEquals(tail, snap.block(f, last));
            assertEquals(last / 2048 + 1, f.blockPages.size());
        }
    }
}
