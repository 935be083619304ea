package io.cowfs.cli;

import io.cowfs.fusefs.kernel.LibC;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

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
 * <p>Everything that can fail for a reason of the store's (the log cannot be made, /dev/null
 * cannot be opened) is done by {@link #prepare}, before the mount; {@link #detach}, which runs
 * once the mount is up, only moves descriptors and writes the pipe.
 *
 * <p>Threads: the command's thread makes it; {@link #detach} runs once, on the thread that
 * calls the mount's "mounted" callback, before the mount serves anything. What is said on
 * standard error meanwhile is kept ({@link #said}: a ByteArrayOutputStream, whose methods are
 * synchronized) so that the
 * mount's log gets it too and a failure can be explained.
 */
final class LauncherHandshake implements AutoCloseable {
    /** The descriptor of the launcher's pipe; set by the launcher only. */
    static final String READY_FD_PROP = "cowfs.launcher.readyFd";

    private final int devNull;
    private final int log;
    private final PrintStream callerErr;
    private final ByteArrayOutputStream said = new ByteArrayOutputStream();
    private boolean detached;

    private LauncherHandshake(int devNull, int log) {
        this.devNull = devNull;
        this.log = log;
        this.callerErr = System.err;
        PrintStream both = new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                callerErr.write(b);
                said.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                callerErr.write(b, off, len);
                said.write(b, off, len);
            }

            @Override
            public void flush() {
                callerErr.flush();
            }
        }, true, StandardCharsets.UTF_8);
        System.setErr(both);
    }

    /** The launcher's pipe, or -1 when this JVM was not started by the launcher for a mount. */
    static int readyFd() {
        Integer fd = Integer.getInteger(READY_FD_PROP);
        return fd == null || fd <= 2 ? -1 : fd;
    }

    /**
     * Opens what detaching needs: /dev/null, and logFile (appended to; the caller made it with
     * the store's mode), and keeps what is said on standard error from here on.
     */
    static LauncherHandshake prepare(Path logFile) throws IOException {
        LibC c = LibC.get();
        int in = c.open("/dev/null", LibC.O_RDONLY | LibC.O_CLOEXEC);
        int out = c.open(logFile.toString(), LibC.O_WRONLY | LibC.O_APPEND | LibC.O_CLOEXEC);
        if (in < 0 || out < 0) {
            int errno = LibC.errno();
            c.close(in);
            c.close(out);
            throw new IOException("cannot open the mount's log " + logFile + ": errno " + errno);
        }
        return new LauncherHandshake(in, out);
    }

    /** What was said on standard error since prepare (the mount's own words: why a mount failed). */
    String said() {
        return said.toString(StandardCharsets.UTF_8); // ByteArrayOutputStream's methods are synchronized
    }

    /**
     * Leaves the caller: descriptor 0 from /dev/null, 1 and 2 to the log (which then gets what
     * was said on standard error so far), a session of its own, / as the working directory, then
     * "ready" on the launcher's pipe, which it closes. After it the caller holds nothing of this
     * process and this process nothing of the caller's.
     */
    void detach() {
        System.out.flush();
        System.err.flush();
        LibC c = LibC.get();
        boolean moved = c.dup2(devNull, 0) == 0 && c.dup2(log, 1) == 1 && c.dup2(log, 2) == 2;
        int errno = LibC.errno();
        System.setErr(callerErr); // fd 2 is the log now
        detached = true;
        if (!moved) {
            System.err.println("cowfs: could not point descriptors 0-2 at /dev/null and the log (errno " + errno + ")");
        }
        // the log of a process cowfs mount started had these lines (the adapter's fallback, warnings)
        said().lines().filter(l -> l.startsWith("cowfs: ")).forEach(System.err::println);
        c.setsid(); // fails only for a process group leader, which the launcher's child is not
        if (c.chdir("/") != 0) {
            System.err.println("cowfs: could not move the mount process to / (errno " + LibC.errno() + ")");
        }
        int fd = readyFd();
        System.clearProperty(READY_FD_PROP); // the mounts this process serves as a spare are not the launcher's
        byte[] ready = "ready\n".getBytes(StandardCharsets.US_ASCII);
        jnr.ffi.Pointer buf = jnr.ffi.Memory.allocateDirect(jnr.ffi.Runtime.getSystemRuntime(), ready.length);
        buf.put(0, ready, 0, ready.length);
        long n = c.write(fd, buf.address(), ready.length);
        if (n != ready.length) {
            // the launcher is gone (its caller interrupted it): nobody to tell; the mount serves on
            System.err.println("cowfs: the launcher did not hear that the mount is up (errno " + LibC.errno() + ")");
        }
        c.close(fd);
    }

    /** Closes the descriptors detach would have used; standard error is the caller's again if it did not run. */
    @Override
    public void close() {
        if (!detached) {
            System.setErr(callerErr);
        }
        LibC.get().close(devNull);
        LibC.get().close(log);
    }
}
