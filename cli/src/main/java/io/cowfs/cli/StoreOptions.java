package io.cowfs.cli;

import io.cowfs.blockstore.store.Store;
import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

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
            return Path.of(xdg, "cowfs").toAbsolutePath(); // a mount process runs in /: never a relative path
        }
        return Path.of(System.getProperty("user.home"), ".local", "share", "cowfs");
    }

    /** The command this is the store option of (null when made by hand). */
    @Spec(Spec.Target.MIXEE)
    CommandSpec command;

    /**
     * Opens the store for a command that may write to it; chunks of lazily pulled snapshots are
     * fetched from their remotes when read. A store on a read-only filesystem is refused with one
     * line naming the command (ReadOnlyStoreException).
     */
    public Store open() {
        Store s = openToRead();
        if (s.readOnly()) {
            try {
                s.requireWritable(command == null ? "this command" : "'" + command.qualifiedName() + "'");
            } finally {
                s.close();
            }
        }
        // a command's own commits leave index/checked current, so the next command on an
        // unchanged index skips its walk (StoreIndex, "own-commit chain"); a mount opens with
        // openToRead and does not
        s.index().trustOwnCommits();
        return s;
    }

    /** Opens the store for a command that only reads it: a store on a read-only filesystem too. */
    public Store openToRead() {
        Store s = Store.open(storeDir());
        if (!s.readOnly()) { // a lazy snapshot's fetched chunks are appended to the store
            io.cowfs.blockstore.remote.LazySource.attach(s);
        }
        return s;
    }
}
