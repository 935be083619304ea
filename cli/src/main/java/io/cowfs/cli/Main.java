package io.cowfs.cli;

import io.cowfs.blockstore.store.StoreException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The cowfs command line: one class per subcommand, exit code = return value. */
@Command(name = "cowfs", mixinStandardHelpOptions = true, version = "cowfs 0.1.0",
        description = "Copy-on-write views of directory trees, backed by a deduplicating, compressed chunk store.",
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:success", "1:the operation failed (the message says why)", "2:bad arguments",
                "3:not found (name, store, directory)", "4:busy (mounted, locked)", "5:integrity problem found (verify, fsck)"})
public final class Main implements Runnable {
    public static final int EXIT_FAILED = 1;
    public static final int EXIT_USAGE = 2;
    public static final int EXIT_NOT_FOUND = 3;
    public static final int EXIT_BUSY = 4;
    public static final int EXIT_DAMAGED = 5;

    /**
     * The subcommands by name, in the order help lists them. They are not in the annotation:
     * picocli reflects over every class it is given, and a command line that names one
     * subcommand builds only that one ({@link #commandLineFor}), which saves a good part of each
     * command's start-up. Named here as strings, not read from each class's annotation: that
     * loaded all 25 classes and made a proxy for each annotation, ~30 ms of a JVM's start
     * (`-Xlog:class+load`, 2026-12-07); MainTest checks the names against the annotations.
     */
    static final java.util.Map<String, String> SUBCOMMANDS = subcommands();

    private static java.util.Map<String, String> subcommands() {
        java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
        String[] named = {"init", "InitCommand", "import", "ImportCommand", "fork", "ForkCommand", "mount", "MountCommand",
            "umount", "UmountCommand", "snapshot", "SnapshotCommand", "list", "ListCommand", "show", "ShowCommand",
            "export", "ExportCommand", "verify", "VerifyCommand", "stats", "StatsCommand", "rm", "RmCommand", "gc", "GcCommand",
            "diff", "DiffCommand", "du", "DuCommand", "fsck", "FsckCommand", "upgrade", "UpgradeCommand", "remote", "RemoteCommand",
            "push", "PushCommand", "pull", "PullCommand", "shared-dir", "SharedDirCommand", "completion", "CompletionCommand",
            "install-helpers", "InstallHelpersCommand", "agent", "AgentCommand"};
        for (int i = 0; i < named.length; i += 2) {
            m.put(named[i], "io.cowfs.cli." + named[i + 1]);
        }
        m.put("help", CommandLine.HelpCommand.class.getName());
        return java.util.Collections.unmodifiableMap(m);
    }

    /** The class of a subcommand named in {@link #SUBCOMMANDS}. */
    static Class<?> subcommand(String className) {
        try {
            return Class.forName(className);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("cowfs is built without " + className, e);
        }
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
    }

    /** The whole command line, every subcommand registered. */
    public static CommandLine commandLine() {
        return commandLine(SUBCOMMANDS.values().stream().map(Main::subcommand).toList());
    }

    /**
     * The command line for these arguments: when the first one names a subcommand (and is not
     * help), only that subcommand is built; anything else gets the whole command line, so
     * usage, suggestions and errors read the same as ever.
     */
    static CommandLine commandLineFor(String[] args) {
        String only = args.length > 0 && !"help".equals(args[0]) ? SUBCOMMANDS.get(args[0]) : null;
        return only == null ? commandLine() : commandLine(java.util.List.of(subcommand(only)));
    }

    private static CommandLine commandLine(java.util.Collection<Class<?>> subcommands) {
        CommandLine cl = new CommandLine(new Main());
        for (Class<?> c : subcommands) {
            cl.addSubcommand(c);
        }
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

    /**
     * Whether this process binds its native libraries (liblmdb, libc, libcrypto, ...) through
     * jnr-ffi's reflective invoker instead of native stubs it generates with ASM at start-up:
     * every command does but the mount process ({@code mount --foreground}, and {@code mount}
     * started by the launcher, which serves the mount itself: LauncherHandshake). Generating the stubs
     * costs ~0.1-0.2 s of a JVM's start on this machine kind; a reflective call costs ~0.15-0.3 us
     * more (docs/STARTUP.md). Measured 2026-12-07: every command the CLI runs is as fast or faster
     * so (snapshot, show, diff 0.09 s less each; import of 20,000 files or of 1 GiB, gc and
     * verify the same or faster), but a mount process is not: random 4 KiB writes into a view
     * took 8 % more wall and 17 % more CPU of a fresh mount process. A mount keeps the stubs
     * and loads their classes from the CDS archive ({@link CdsTraining#bindLikeAMount}).
     * -Djnr.ffi.asm.enabled set by the caller (COWFS_JAVA_OPTS, COWFS_MOUNT_JAVA_OPTS) wins.
     */
    static boolean bindsByReflection(String[] args) {
        return bindsByReflection(args, LauncherHandshake.readyFd() >= 0, () -> MountCommand.spareListens(args));
    }

    /**
     * bindsByReflection for a JVM the launcher started for cowfs mount (launcherMount) or not,
     * where spareListens says whether a spare mount process listens for this mount.
     */
    static boolean bindsByReflection(String[] args, boolean launcherMount, java.util.function.BooleanSupplier spareListens) {
        if (args.length == 0 || !args[0].equals("mount")) {
            return true;
        }
        if (java.util.Arrays.asList(args).contains("--foreground")) {
            return false; // the mount process
        }
        // the launcher's cowfs mount serves the mount itself, unless a spare listens and it is that spare's client
        return !launcherMount || spareListens.getAsBoolean();
    }

    public static void main(String[] args) {
        if (!bindsByReflection(args)) {
            if (!"false".equals(System.getProperty("cowfs.bindAhead"))) {
                BindAhead.start();
            }
        } else if (System.getProperty("jnr.ffi.asm.enabled") == null) {
            System.setProperty("jnr.ffi.asm.enabled", "false");
        }
        int rc = commandLineFor(args).execute(args);
        if (MountSpare.mayStay(args, rc)) {
            rc = MountSpare.stay(); // a mount process whose mount ended cleanly waits for the next one
        }
        System.exit(rc);
    }
}
