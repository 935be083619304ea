package io.cowfs.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Makes a directory a shared mount point, so that containers that bind it with {@code rslave}
 * see the mounts made below it later (a container started before a mount sees nothing of it
 * otherwise: its bind copied the directory's mounts of that moment). The recipe it runs:
 * {@code mount --bind DIR DIR} (only if DIR is not a mount point yet) and
 * {@code mount --make-rshared DIR}. docs/CONTAINERS.md, "Propagation".
 */
@Command(name = "shared-dir", mixinStandardHelpOptions = true,
        description = {"Make DIR a shared mount point for containers. Needs root.",
                "It runs mount --bind DIR DIR; mount --make-rshared DIR, so that containers binding it with",
                "-v DIR:PATH:rslave see views mounted below it later, and a mount recovered after a crash",
                "(cowfs umount + mount) reaches them again."})
final class SharedDirCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DIR", description = "an existing directory (mountpoints go below it)")
    Path dir;

    @Option(names = "--undo", description = "unmount the bind that made DIR shared (views below it must be unmounted first)")
    boolean undo;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException, InterruptedException {
        Path d = dir.toAbsolutePath().normalize();
        if (!Files.isDirectory(d)) {
            throw new java.nio.file.NoSuchFileException(d + " (no such directory)");
        }
        d = d.toRealPath();
        if (undo) {
            run(List.of("umount", d.toString()));
            spec.commandLine().getOut().println("unmounted the shared bind at " + d);
            return 0;
        }
        if (!isMountPoint(d)) {
            run(List.of("mount", "--bind", d.toString(), d.toString()));
        }
        run(List.of("mount", "--make-rshared", d.toString()));
        spec.commandLine().getOut().println(d + " is a shared mount: bind it into containers with -v " + d + ":PATH:rslave");
        spec.commandLine().getOut().flush();
        return 0;
    }

    /** Whether d (a real path) is a mount point. */
    static boolean isMountPoint(Path d) {
        return io.cowfs.fusefs.kernel.MountPoints.at(io.cowfs.fusefs.kernel.MountPoints.table(), d) != null;
    }

    private static void run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + (out.isEmpty() ? "exit " + p.exitValue() : out)
                    + (out.contains("permission") || out.contains("must be superuser") ? " (run as root)" : ""));
        }
    }
}
