package io.cowfs.fusefs.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.DirEntries;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.FileType;
import io.cowfs.blockstore.tree.Importer;
import io.cowfs.fusefs.vfs.Dirents;
import io.cowfs.fusefs.vfs.ViewFs;
import io.cowfs.blockstore.view.Views;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Read-ahead across directories: its guess of the directory a depth-first walk lists next, and a
 * walk through the adapter's READDIRPLUS over a real snapshot (real LMDB, real zstd) with the
 * read-ahead running, whose entries and attributes must be those of the tree, whoever read them.
 */
class DirAheadTest {
    @TempDir
    Path tmp;

    private static Dirents dirents(Map<String, Long> dirs, Map<String, Long> files) {
        TreeMap<String, DirObject.Entry> m = new TreeMap<>();
        dirs.forEach((n, ino) -> m.put(n, new DirObject.Entry(ino, FileType.DIRECTORY)));
        files.forEach((n, ino) -> m.put(n, new DirObject.Entry(ino, FileType.REGULAR)));
        return new Dirents(DirEntries.of(m), null);
    }

    @Test
    void guessesTheDirectoryADepthFirstWalkListsNext() throws Exception {
        Store store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE);
        Path src = Files.createDirectories(tmp.resolve("src"));
        ChunkId root = new Importer(store, false, Importer.Progress.NONE, w -> { }).run(src).root();
        try (ViewFs vfs = ViewFs.snapshot(store, root)) {
            DirAhead ahead = new DirAhead(new Listings(vfs), true);
            try {
                // 1: a (10: a1, a2), b (20), f; a1 and a2 and b have no subdirectories
                Dirents top = dirents(Map.of("a", 10L, "b", 20L), Map.of("f", 30L));
                Dirents a = dirents(Map.of("a1", 11L, "a2", 12L), Map.of());
                Dirents leaf = dirents(Map.of(), Map.of("x", 40L));
                ahead.listed(1, top);
                ahead.listed(10, a);
                assertEquals(10, ahead.guess(1, top), "a directory's first subdirectory");
                assertEquals(11, ahead.guess(10, a));
                assertEquals(12, ahead.guess(11, leaf), "then its next sibling");
                assertEquals(20, ahead.guess(12, leaf), "then the parent's next sibling");
                assertEquals(0, ahead.guess(20, leaf), "the walk's end");
                assertEquals(0, ahead.guess(99, leaf), "a directory never listed: no guess");
            } finally {
                ahead.close();
            }
        } finally {
            store.close();
        }
    }

    /** A READDIRPLUS stream of dir (open handle fh; 0 on a read-only tree) to its end: name -> {node id, st_mode, st_size}. */
    private static Map<String, long[]> plusStream(KernelFs fs, long dir, long fh) {
        Reply out = new Reply(Kernel.MAX_WRITE + 4096);
        KernelFs.Worker worker = new KernelFs.Worker();
        Map<String, long[]> got = new TreeMap<>();
        long off = 0;
        while (true) {
            Request rq = new Request(Kernel.MAX_WRITE + 4096);
            int len = Proto.IN_HEADER + 40;
            rq.buf.putInt(0, len).putInt(4, Proto.READDIRPLUS).putLong(8, 42).putLong(16, dir).putInt(24, 0).putInt(28, 0).putInt(32, 1);
            ByteBuffer arg = ByteBuffer.allocate(40).order(ByteOrder.nativeOrder()).putLong(0, fh).putLong(8, off).putInt(16, 2048);
            rq.buf.put(Proto.IN_HEADER, arg.array());
            assertTrue(rq.decode(len));
            assertEquals(0, fs.handle(rq, out, worker));
            int end = out.seal(42, 0);
            if (end == Proto.OUT_HEADER) {
                return got;
            }
            for (int p = Proto.OUT_HEADER; p < end; ) {
                long node = out.buf.getLong(p);
                long size = out.buf.getLong(p + 40 + 8);
                int mode = out.buf.getInt(p + 40 + 60);
                int q = p + Proto.ENTRY_OUT;
                off = out.buf.getLong(q + 8);
                int n = out.buf.getInt(q + 16);
                byte[] name = new byte[n];
                out.buf.get(q + 24, name);
                got.put(new String(name, StandardCharsets.UTF_8), new long[] {node, mode, size});
                p = q + ((Proto.DIRENT + n + 7) & ~7);
            }
        }
    }

    @Test
    void aWalkWithTheReadAheadListsTheTreeAsItIs() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        for (int d = 0; d < 6; d++) {
            Path sub = Files.createDirectories(src.resolve("d" + d).resolve("sub"));
            for (int f = 0; f < 40 + d; f++) {
                Files.writeString(sub.resolve("f" + f), "x".repeat(f + d));
            }
        }
        Store store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE);
        ChunkId root = new Importer(store, false, Importer.Progress.NONE, w -> { }).run(src).root();
        try (ViewFs vfs = ViewFs.snapshot(store, root)) {
            KernelFs fs = new KernelFs(vfs, 60, 60, 60);
            DirAhead ahead = fs.startDirAhead();
            try {
                // depth first, as find walks: each directory's entries against the tree's
                List<Path> hostDirs = new ArrayList<>(List.of(src));
                List<Long> nodes = new ArrayList<>(List.of(1L));
                int listed = 0;
                while (!hostDirs.isEmpty()) {
                    Path host = hostDirs.remove(hostDirs.size() - 1);
                    long node = nodes.remove(nodes.size() - 1);
                    Map<String, long[]> got = plusStream(fs, node, 0);
                    listed++;
                    got.remove(".");
                    got.remove("..");
                    List<String> want;
                    try (Stream<Path> s = Files.list(host)) {
                        want = s.map(p -> p.getFileName().toString()).sorted().toList();
                    }
                    assertEquals(want, new ArrayList<>(got.keySet()), "entries of " + host);
                    List<String> subdirs = new ArrayList<>();
                    for (String name : want) {
                        long[] e = got.get(name);
                        Path p = host.resolve(name);
                        assertEquals(vfs.lookup(node, name), e[0], "node of " + p);
                        if (Files.isDirectory(p)) {
                            assertEquals(040000, e[1] & 0170000, "mode of " + p);
                            subdirs.add(name);
                        } else {
                            assertEquals(0100000, e[1] & 0170000, "mode of " + p);
                            assertEquals(Files.size(p), e[2], "size of " + p);
                        }
                    }
                    for (int i = subdirs.size() - 1; i >= 0; i--) { // popped in listing order
                        hostDirs.add(host.resolve(subdirs.get(i)));
                        nodes.add(got.get(subdirs.get(i))[0]);
                    }
                    // the root's stream started the read-ahead of the twelve directories below it (fewer
                    // than 2,048 entries and 16 directories): wait for it, as the kernel's work on a
                    // listing gives it time, so that every later stream finds its listing made
                    long until = System.nanoTime() + 10_000_000_000L;
                    while (listed == 1 && ahead.prepared.get() < 12 && System.nanoTime() < until) {
                        Thread.sleep(5);
                    }
                }
                assertEquals(13, listed);
                assertEquals(12, ahead.prepared.get(), "every directory but the root read ahead of its stream");
            } finally {
                ahead.close();
            }
        } finally {
            store.close();
        }
    }

    /** OPENDIR of a view's directory: its handle. */
    private static long opendir(KernelFs fs, long dir) {
        Reply out = new Reply(4096);
        Request rq = new Request(4096);
        int len = Proto.IN_HEADER + 8;
        rq.buf.putInt(0, len).putInt(4, Proto.OPENDIR).putLong(8, 43).putLong(16, dir).putInt(24, 0).putInt(28, 0).putInt(32, 1);
        assertTrue(rq.decode(len));
        assertEquals(0, fs.handle(rq, out, new KernelFs.Worker()));
        return out.buf.getLong(Proto.OUT_HEADER);
    }

    /**
     * A view changed after the read-ahead read its directories (a file created, one written
     * longer, one removed): the streams list the names and sizes the view has now, not those read
     * ahead; unchanged, they use what was read ahead.
     */
    @Test
    void aViewChangedAfterTheReadAheadListsWhatItHasNow() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        for (int d = 0; d < 3; d++) {
            Path dir = Files.createDirectories(src.resolve("d" + d));
            for (int f = 0; f < 30; f++) {
                Files.writeString(dir.resolve("f" + f), "y".repeat(f));
            }
        }
        Store store = Store.init(tmp.resolve("store"), Store.DEFAULT_BLOCK_SIZE);
        CatalogEntry view;
        try (Store.Lease lease = store.lease()) {
            Catalog catalog = new Catalog(store);
            ChunkId root = new Importer(store, false, Importer.Progress.NONE, w -> { }).run(src).root();
            catalog.addSnapshot("base", root, "", src.toString());
            view = Views.create(store, catalog, "v", root, "base");
        }
        try (ViewFs vfs = ViewFs.view(store, view.root(), view.viewId(), false)) {
            KernelFs fs = new KernelFs(vfs, 60, 60, 60);
            DirAhead ahead = fs.startDirAhead();
            try {
                Map<String, long[]> top = plusStream(fs, 1, opendir(fs, 1));
                long until = System.nanoTime() + 10_000_000_000L;
                while (ahead.prepared.get() < 3 && System.nanoTime() < until) {
                    Thread.sleep(5);
                }
                assertEquals(3, ahead.prepared.get(), "d0, d1, d2 read ahead");
                long d0 = top.get("d0")[0];
                long d1 = top.get("d1")[0];
                // d0 as read ahead: nothing changed
                Map<String, long[]> l0 = plusStream(fs, d0, opendir(fs, d0));
                assertEquals(32, l0.size());
                assertEquals(7, l0.get("f7")[2]);
                // now change d1: a new file, a longer one, one gone
                long f3 = vfs.lookup(d1, "f3");
                vfs.open(f3, true);
                vfs.write(f3, 0, "z".repeat(100).getBytes(StandardCharsets.UTF_8), 100);
                vfs.release(f3);
                long created = vfs.create(d1, "new", 0644, 0, 0);
                vfs.release(created);
                vfs.unlink(d1, "f5");
                Map<String, long[]> l1 = plusStream(fs, d1, opendir(fs, d1));
                assertEquals(32, l1.size(), "30 - 1 + 1 and . and ..");
                assertEquals(100, l1.get("f3")[2], "the size written after the read-ahead");
                assertEquals(created, l1.get("new")[0]);
                assertFalse(l1.containsKey("f5"));
            } finally {
                ahead.close();
            }
        } finally {
            store.close();
        }
    }
}
