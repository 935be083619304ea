package io.cowfs.cli;

import io.cowfs.fusefs.kernel.LibC;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One JVM for a fresh mount (docs/STARTUP.md, "One JVM for a fresh mount"): the launcher runs
 * {@code cowfs mount} (not {@code --foreground}) with the mount process's JVM settings and a pipe
 * on the descriptor named by {@value #READY_FD_PROP}. When no spare mount process takes the
 * mount, this JVM serves it itself instead of starting a second JVM, and once the mount answers
 * it {@linkplain #detach detaches} from its caller: its own session, / as its working directory,
 * standard input from /dev/null, output and errors to the mount's log, and "ready" on the pipe,
 * on which the launcher exits 0. Any other end (an error, a mount handed to a spare) is this
 * process's exit, whose code the launcher passes on. A second JVM cost a fresh mount ~0.5 s
 * (1.08-1.22 s against 0.54-0.65 s for the mount process alone, measured 2026-12-07).
 *
 * <p>Threads: the command's thread only; {@link #detach} runs once, in the mount's "mounted"
 * callback, before the mount serves anything that could print.
 */
final class LauncherHandshake {
    /** The descriptor of the launcher's pipe; set by the launcher only. */
    static final String READY_FD_PROP = "cowfs.launcher.readyFd";

    private LauncherHandshake() {
    }

    /** The launcher's pipe, or -1 when this JVM was not started by the launcher for a mount. */
    static int readyFd() {
        Integer fd = Integer.getInteger(READY_FD_PROP);
        return fd == null || fd <= 2 ? -1 : fd;
    }

    /** Whether this JVM runs {@code cowfs mount} for the launcher and so may serve the mount itself. */
    static boolean serveHere(String[] args) {
        return readyFd() >= 0 && args.length > 0 && args[0].equals("mount") && !java.util.Arrays.asList(args).contains("--foreground");
    }

    /**
     * Leaves the caller: points descriptors 0 at /dev/null and 1 and 2 at log (appended to; made
     * with the store's mode if new), starts a session of its own, moves to /, then says "ready"
     * on the launcher's pipe and closes it. After it the caller holds nothing of this process and
     * this process nothing of the caller's. Fails (IOException) before saying "ready" if a step
     * does: the caller then sees this process's exit.
     */
    static void detach(Path storeDir, Path log) throws IOException {
        System.out.flush();
        System.err.flush();
        io.cowfs.blockstore.store.Store.accessOf(storeDir).open(log, StandardOpenOption.CREATE, StandardOpenOption.APPEND).close();
        LibC c = LibC.get();
        int in = c.open("/dev/null", LibC.O_RDONLY | LibC.O_CLOEXEC);
        int out = c.open(log.toString(), LibC.O_WRONLY | LibC.O_APPEND | LibC.O_CLOEXEC);
        try {
            if (in < 0 || out < 0 || c.dup2(in, 0) != 0 || c.dup2(out, 1) != 1 || c.dup2(out, 2) != 2) {
                throw new IOException("cannot point the mount's output at " + log + ": errno " + LibC.errno());
            }
        } finally {
            c.close(in);
            c.close(out);
        }
        c.setsid(); // fails only for a process group leader, which the launcher's child is not
        if (c.chdir("/") != 0) {
            throw new IOException("cannot move the mount process to /: errno " + LibC.errno());
        }
        int fd = readyFd();
        System.clearProperty(READY_FD_PROP); // the mounts this process serves as a spare are not the launcher's
        try {
            // the pipe reopened through /proc (a pipe's open file is the pipe itself): plain Java I/O
            java.nio.file.Files.write(Path.of("/proc/self/fd/" + fd), "ready\n".getBytes(StandardCharsets.US_ASCII),
                    StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            // the launcher is gone (its caller interrupted it): nobody to tell; the mount serves on
            System.err.println("cowfs: the launcher did not hear that the mount is up: " + e.getMessage());
        } finally {
            c.close(fd);
        }
    }
}
