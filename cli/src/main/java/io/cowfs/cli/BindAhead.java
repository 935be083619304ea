package io.cowfs.cli;

/**
 * A mount process's first native binding, made on a thread of its own while the main thread
 * parses the command line and opens the store. jnr-ffi's first binding in a process pays for
 * jffi's start and for running its stub generator (ASM) for the first time, ~0.1 s here; made
 * ahead on the second core, the mount's own bindings (liblmdb, libc, the kernel adapter's)
 * find it done. It binds one libc function through an interface of its own, so a failure here
 * changes nothing: the mount's own binding meets it again and says why.
 */
final class BindAhead {
    private BindAhead() {
    }

    /** The interface bound ahead; nothing else uses it. */
    public interface Pid {
        int getpid();
    }

    static void start() {
        Thread t = new Thread(() -> {
            try {
                jnr.ffi.LibraryLoader.create(Pid.class).load("c").getpid();
            } catch (RuntimeException | LinkageError e) {
                // the mount's own binding meets this again and says why
            }
        }, "cowfs-bind-ahead");
        t.setDaemon(true);
        t.start();
    }
}
