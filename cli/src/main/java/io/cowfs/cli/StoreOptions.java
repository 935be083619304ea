package io.cowfs.cli;

import io.cowfs.blockstore.store.Store;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The store rule, the same for every command: --store DIR, else $COWFS_STORE, else
 * $XDG_DATA_HOME/cowfs, else ~/.local/share/cowfs.
 */
public class StoreOptions {
    @Option(names = "--store", paramLabel = "DIR", description = "store directory (default: $COWFS_STORE, else ~/.local/share/cowfs)")
    Path store;

    public Path storeDir() {
        if (store != null) {
            return store.toAbsolutePath();
        }
        String env = System.getenv("COWFS_STORE");
        if (env != null && !env.isBlank()) {
            return Path.of(env).toAbsolutePath();
        }
        String xdg = System.getenv("XDG_DATA_HOME");
        if (xdg != null && !xdg.isBlank()) {
            return Path.of(xdg, "cowfs");
        }
        return Path.of(System.getProperty("user.home"), ".local", "share", "cowfs");
    }

    /** Opens the store; chunks of lazily pulled snapshots are fetched from their remotes when read. */
    public Store open() {
        Store s = Store.open(storeDir());
        io.cowfs.blockstore.remote.LazySource.attach(s);
        return s;
    }
}
