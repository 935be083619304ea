package io.cowfs.cli;

import io.cowfs.blockstore.Config;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreAccess;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "init", mixinStandardHelpOptions = true, description = "Create a store.")
final class InitCommand extends Base {
    @Option(names = "--block-size", paramLabel = "KIB", defaultValue = "64",
            description = "block size in KiB, a power of two from 4 to 4096 (default: ${DEFAULT-VALUE})")
    int blockKib;

    @Option(names = "--shared-group", paramLabel = "GROUP",
            description = {"let members of GROUP use the store too (directories 2770, files 660, group GROUP),",
                    "e.g. a CI runner pool running jobs under several uids; default: the owner alone (700/600)"})
    String sharedGroup;

    @Override
    public Integer call() {
        StoreAccess access = sharedGroup == null ? StoreAccess.PRIVATE : new StoreAccess(sharedGroup);
        try (Store s = Store.init(storeOptions.storeDir(), blockKib * 1024, access, Config.fromSystemProperties())) {
            out().println("created store " + s.dir() + " (block size " + blockKib + " KiB, "
                    + (access.shared() ? "shared with group " + sharedGroup : "private to its owner") + ")");
        }
        return 0;
    }
}
