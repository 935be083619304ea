package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.Importer;
import io.cowfs.blockstore.view.Views;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * A real store in a temp directory (real LMDB, real zstd) holding one imported snapshot "base"
 * of {@link #writeBase} and one view "v" forked from it, made as the CLI's import and fork make
 * them. The store stays open until {@link #close}; open views with {@link #view}.
 */
final class BaseFixture implements AutoCloseable {
    /** Small blocks, so that block-level cases stay small. */
    static final int BS = 4096;
    static final byte[] HELLO = "hello\n".getBytes(StandardCharsets.UTF_8);

    final Store store;
    final CatalogEntry snapshot;
    final CatalogEntry view;

    BaseFixture(Path tmp) throws IOException {
        this(tmp, src -> {
        });
    }

    /** Files that more writes into the source tree, after {@link #writeBase}, before the import. */
    interface More {
        void write(Path src) throws IOException;
    }

    BaseFixture(Path tmp, More more) throws IOException {
        Path src = Files.createDirectories(tmp.resolve("src"));
        writeBase(src);
        more.write(src);
        store = Store.init(tmp.resolve("store"), BS);
        Catalog catalog = new Catalog(store);
        try (Store.Lease lease = store.lease()) {
            Importer.Result r = new Importer(store, false, Importer.Progress.NONE, w -> {
            }).run(src);
            snapshot = catalog.addSnapshot("base", r.root(), "", src.toString());
            view = Views.create(store, catalog, "v", r.root(), "base");
        }
    }

    /** The base tree: base/hello, base/big (3 blocks + 100 bytes), base/dir/x. */
    static void writeBase(Path root) throws IOException {
        Path b = Files.createDirectories(root.resolve("base"));
        Files.write(b.resolve("hello"), HELLO);
        Files.write(b.resolve("big"), big());
        Files.createDirectories(b.resolve("dir"));
        Files.write(b.resolve("dir/x"), "x".getBytes(StandardCharsets.UTF_8));
    }

    static byte[] big() {
        return random(1, 3 * BS + 100);
    }

    static byte[] random(long seed, int len) {
        byte[] b = new byte[len];
        new Random(seed).nextBytes(b);
        return b;
    }

    ViewFs view() {
        return ViewFs.view(store, view.root(), view.viewId(), false);
    }

    ViewFs snapshot() {
        return ViewFs.snapshot(store, snapshot.root());
    }

    @Override
    public void close() {
        store.close();
    }
}
