package io.cowfs.cli;

import io.cowfs.blockstore.store.Store;
import picocli.CommandLine.Command;

/** {@code cowfs upgrade}: raises an older store's format to this build's (docs/FORMAT.md). */
@Command(name = "upgrade", mixinStandardHelpOptions = true,
        description = {"Raise the store's format to this build's.",
                "Then views store small rewrites as sub-block deltas (format 3), snapshots can be pulled lazily",
                "(format 4), a block rewritten again stores only its newest pages (chained deltas, format 5),",
                "small files keep their block list in their inode (format 6) and a view's deltas are indexed in",
                "the order they are written (sequenced ids, format 7). Needs the store to itself (exit 4 while a",
                "mount, import or other command has it open). Older cowfs builds refuse the store afterwards;",
                "nothing else in it changes."})
final class UpgradeCommand extends Base {
    @Override
    public Integer call() {
        try (Store store = storeOptions.open()) {
            int was = store.upgrade();
            if (was >= Store.FORMAT) {
                out().println("store " + store.dir() + " is at format " + was + " already (this build's)");
            } else {
                out().println("store " + store.dir() + ": format " + was + " -> " + Store.FORMAT
                        + " (views now store small rewrites as chained sub-block deltas, indexed in the order they are written;"
                        + " cowfs builds older than format "
                        + Store.FORMAT + " refuse this store)");
            }
            return 0;
        }
    }
}
