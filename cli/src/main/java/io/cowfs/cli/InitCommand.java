package io.cowfs.cli;

import io.cowfs.blockstore.store.Store;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "init", mixinStandardHelpOptions = true, description = "Create a store.")
final class InitCommand extends Base {
    @Option(names = "--block-size", paramLabel = "KIB", defaultValue = "64",
            description = "block size in KiB, a power of two from 4 to 4096 (default: ${DEFAULT-VALUE})")
    int blockKib;

    @Override
    public Integer call() {
        try (Store s = Store.init(storeOptions.storeDir(), blockKib * 1024)) {
            out().println("created store " + s.dir() + " (block size " + blockKib + " KiB)");
        }
        return 0;
    }
}
