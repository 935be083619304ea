package io.cowfs.fusefs.vfs;

/** What the mount's helper threads share when they end (PushAhead, DirAhead, MetadataWarmer). */
public final class Threads {
    private Threads() {
    }

    /**
     * Waits until t has ended, an interrupt meanwhile kept for the caller: a helper that reads the
     * store must have ended before its caller closes the device, the vfs and the store.
     */
    public static void joinUninterruptibly(Thread t) {
        boolean interrupted = false;
        while (t.isAlive()) {
            try {
                t.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
