package io.cowfs.cli;

import io.cowfs.blockstore.store.StoreException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The cowfs command line: one class per subcommand, exit code = return value. */
@Command(name = "cowfs", mixinStandardHelpOptions = true, version = "cowfs 0.1.0",
        description = "Copy-on-write views of directory trees, backed by a deduplicating, compressed chunk store.",
        subcommands = {InitCommand.class, ImportCommand.class, ForkCommand.class, MountCommand.class,
                UmountCommand.class, SnapshotCommand.class, ListCommand.class, ShowCommand.class,
                ExportCommand.class, VerifyCommand.class, StatsCommand.class, RmCommand.class, GcCommand.class, DiffCommand.class, DuCommand.class, FsckCommand.class,
                CommandLine.HelpCommand.class},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:success", "1:the operation failed (the message says why)", "2:bad arguments",
                "3:not found (name, store, directory)", "4:busy (mounted, locked)", "5:integrity problem found (verify)"})
public final class Main implements Runnable {
    public static final int EXIT_FAILED = 1;
    public static final int EXIT_USAGE = 2;
    public static final int EXIT_NOT_FOUND = 3;
    public static final int EXIT_BUSY = 4;
    public static final int EXIT_DAMAGED = 5;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("cowfs: " + message(ex));
            if (io.cowfs.blockstore.Config.fromSystemProperties().debug()) {
                ex.printStackTrace(cmd.getErr());
            }
            return exitCode(ex);
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine c = ex.getCommandLine();
            c.getErr().println("cowfs: " + ex.getMessage() + " (see: " + c.getCommandSpec().qualifiedName() + " --help)");
            return EXIT_USAGE;
        });
        return cl;
    }

    static String message(Throwable ex) {
        String m = ex.getMessage();
        if (m == null || m.isBlank()) {
            m = ex.getClass().getSimpleName();
        }
        return m.lines().findFirst().orElse(m);
    }

    static int exitCode(Throwable ex) {
        if (ex instanceof StoreException.NotFoundException || ex instanceof java.nio.file.NoSuchFileException) {
            return EXIT_NOT_FOUND;
        }
        if (ex instanceof StoreException.IndexDamagedException) {
            return EXIT_DAMAGED;
        }
        if (ex instanceof StoreException.BusyException) {
            return EXIT_BUSY;
        }
        if (ex instanceof StoreException.InvalidRequestException || ex instanceof IllegalArgumentException) {
            return EXIT_USAGE;
        }
        return EXIT_FAILED;
    }

    public static void main(String[] args) {
        int rc = commandLine().execute(args);
        System.exit(rc);
    }
}
