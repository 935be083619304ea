package io.cowfs.cli;

import picocli.CommandLine;

/** Running one cowfs command from another, with the same store and output streams. */
final class Cli {
    private Cli() {
    }

    static int run(CommandLine.Model.CommandSpec caller, String... args) {
        CommandLine root = caller.root().commandLine();
        String[] all = new String[args.length + 1];
        all[0] = args[0];
        StoreOptions so = null;
        Object user = caller.userObject();
        if (user instanceof Base b) {
            so = b.storeOptions;
        }
        CommandLine cl = Main.commandLine().setOut(root.getOut()).setErr(root.getErr());
        java.util.List<String> a = new java.util.ArrayList<>(java.util.List.of(args));
        if (so != null) {
            a.add(1, "--store=" + so.storeDir());
        }
        return cl.execute(a.toArray(new String[0]));
    }
}
