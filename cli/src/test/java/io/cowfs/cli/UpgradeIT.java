package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.view.ViewDelta;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cowfs upgrade} of a format-2 store (what every store made before sub-block deltas is):
 * refused while a mount has the store open, then this build's format, after which a view's small rewrites
 * are stored as deltas and the store checks clean; a second run says there is nothing to do.
 */
class UpgradeIT {
    static final int SIZE = 4 << 20;

    @TempDir
    Path tmp;

    private static String format(Path store) throws Exception {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(store.resolve(Store.FORMAT_FILE))) {
            p.load(in);
        }
        return p.getProperty("format");
    }

    /** Makes the store a format-2 one, as an older build wrote it (only the format file says so). */
    private static void setFormat2(Path store) throws Exception {
        Properties p = new Properties();
        Path f = store.resolve(Store.FORMAT_FILE);
        try (InputStream in = Files.newInputStream(f)) {
            p.load(in);
        }
        p.setProperty("format", "2");
        try (OutputStream out = Files.newOutputStream(f)) {
            p.store(out, "cowfs store: do not edit (docs/FORMAT.md)");
        }
    }

    private static void rewritePages(Path file, byte[] expected, long seed, int count) throws Exception {
        Random rnd = new Random(seed);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            for (int i = 0; i < count; i++) {
                byte[] page = new byte[4096];
                rnd.nextBytes(page);
                long off = (long) rnd.nextInt(SIZE / 4096) * 4096;
                ch.write(ByteBuffer.wrap(page), off);
                System.arraycopy(page, 0, expected, (int) off, page.length);
            }
            ch.force(true);
        }
    }

    private static int deltas(Path store, String view) {
        try (Store s = Store.open(store)) {
            CatalogEntry v = new Catalog(s).get(view);
            return s.index().read(txn -> new ViewDelta(s.index()).load(txn, v.viewId())).deltaBases.size();
        }
    }

    @Test
    void upgradesAFormat2StoreThatIsNotInUse() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            setFormat2(c.store);
            byte[] expected = Fx.random(5, SIZE);
            Fx.writeTree(tmp.resolve("src"), Map.of("big.bin", expected));
            c.run("import", tmp.resolve("src").toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "v").ok();

            try (Cowfs.Mounted m = c.mount("v")) {
                rewritePages(m.dir.resolve("big.bin"), expected, 1, 64); // format 2: whole blocks
                Cowfs.Result busy = c.run("upgrade").fails(Main.EXIT_BUSY);
                assertTrue(busy.err().contains("in use by another process"), busy.err());
                assertEquals(1, busy.err().lines().count(), busy.err());
            }
            assertEquals("2", format(c.store), "a refused upgrade changes nothing");
            assertEquals(0, deltas(c.store, "v"), "format 2 stores no deltas");

            Cowfs.Result up = c.run("upgrade").ok();
            assertTrue(up.out().contains("format 2 -> " + Store.FORMAT), up.out());
            assertEquals(Integer.toString(Store.FORMAT), format(c.store));
            assertTrue(c.run("upgrade").ok().out().contains("already"), "a second upgrade has nothing to do");

            try (Cowfs.Mounted m = c.mount("v")) {
                assertArrayEquals(expected, Files.readAllBytes(m.dir.resolve("big.bin")));
                rewritePages(m.dir.resolve("big.bin"), expected, 2, 64);
                assertArrayEquals(expected, Files.readAllBytes(m.dir.resolve("big.bin")));
            }
            assertTrue(deltas(c.store, "v") > 0, "after the upgrade small rewrites are deltas");
            c.run("verify").ok();
            c.run("fsck").ok();
            c.run("snapshot", "v", "--name", "s").ok();
            assertEquals(Map.of("big.bin", Fx.sha256(expected)), Fx.exported(c, "s"));
        }
        Cowfs.Result none = Cowfs.runRaw("upgrade", "--store=" + tmp.resolve("nothing-here"));
        assertEquals(Main.EXIT_NOT_FOUND, none.rc(), none.err());
        assertEquals(1, none.err().lines().count(), none.err());
    }
}
