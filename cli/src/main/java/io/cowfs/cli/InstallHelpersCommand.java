package io.cowfs.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Installs what lets the system call cowfs: the mount(8) helper (so {@code mount -t fuse.cowfs}
 * and /etc/fstab lines work; umount(8) needs none, the mount process exits when its mount goes)
 * and the bash and zsh completion scripts. The helpers call
 * the cowfs that ran this command (the launcher script, or java with this jar), unless --cowfs
 * names another. --root installs under a directory instead of / (packaging, tests).
 */
@Command(name = "install-helpers", mixinStandardHelpOptions = true,
        description = {"Install mount.cowfs (mount -t fuse.cowfs, /etc/fstab) and bash/zsh completion.",
                "As root into /usr/sbin and /usr/share; as another user completion only, into ~/.local/share."})
final class InstallHelpersCommand implements Callable<Integer> {
    @Option(names = "--root", paramLabel = "DIR", description = "install below DIR instead of / (like DESTDIR)")
    Path root;

    @Option(names = "--cowfs", paramLabel = "COMMAND",
            description = "the command the helpers run (default: the cowfs running now)")
    String cowfs;

    @Option(names = "--no-mount-helper", description = "completion scripts only")
    boolean noMountHelper;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        boolean system = root != null || (int) Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0;
        Path base = root == null ? Path.of("/") : root.toAbsolutePath();
        String command = cowfs != null ? cowfs : currentCommand();
        List<Path> written = new ArrayList<>();
        if (system) {
            if (!noMountHelper) {
                // mount(8) runs /sbin/mount.<fstype>: fuse.cowfs is the type the mounts carry, cowfs a short name
                Path sbin = base.resolve("usr/sbin");
                written.add(write(sbin.resolve("mount.cowfs"), resource("helpers/mount.cowfs").replace("@COWFS@", command), true));
                written.add(link(sbin.resolve("mount.fuse.cowfs"), "mount.cowfs"));
            }
            written.add(write(base.resolve("usr/share/bash-completion/completions/cowfs"), CompletionCommand.script("bash"), false));
            written.add(write(base.resolve("usr/local/share/zsh/site-functions/_cowfs"), CompletionCommand.script("zsh"), false));
        } else {
            Path home = Path.of(System.getProperty("user.home"));
            String xdg = System.getenv("XDG_DATA_HOME");
            Path data = xdg != null && xdg.startsWith("/") ? Path.of(xdg) : home.resolve(".local/share");
            written.add(write(data.resolve("bash-completion/completions/cowfs"), CompletionCommand.script("bash"), false));
            written.add(write(data.resolve("zsh/site-functions/_cowfs"), CompletionCommand.script("zsh"), false));
            spec.commandLine().getErr().println("cowfs: not root: installed completion only (mount helpers need root: sudo cowfs install-helpers);"
                    + " zsh: add " + data.resolve("zsh/site-functions") + " to fpath");
        }
        for (Path p : written) {
            spec.commandLine().getOut().println("installed " + p);
        }
        spec.commandLine().getOut().flush();
        return 0;
    }

    /** How this process was started, as a shell command: the launcher if it set COWFS_LAUNCHER. */
    static String currentCommand() {
        String launcher = System.getenv("COWFS_LAUNCHER");
        if (launcher != null && !launcher.isBlank() && Files.isExecutable(Path.of(launcher))) {
            return launcher;
        }
        String java = ProcessHandle.current().info().command().orElse("java");
        return java + " --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED -cp "
                + System.getProperty("java.class.path") + " " + Main.class.getName();
    }

    static String resource(String name) throws IOException {
        try (InputStream in = InstallHelpersCommand.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("missing resource " + name + " in the cowfs jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static Path write(Path p, String text, boolean executable) throws IOException {
        Files.createDirectories(p.getParent());
        Path tmp = p.resolveSibling("." + p.getFileName() + ".tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString(executable ? "rwxr-xr-x" : "rw-r--r--"));
        Files.move(tmp, p, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return p;
    }

    private static Path link(Path p, String target) throws IOException {
        Files.deleteIfExists(p);
        Files.createSymbolicLink(p, Path.of(target));
        return p;
    }
}
