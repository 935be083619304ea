package io.cowfs.cli;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The machine's page cache and dirty data, held by one test at a time across test JVMs (surefire
 * runs two at once): tests that drop the caches or sync every filesystem take it, and so do the
 * tests those would disturb (a check that pages are resident, a power cut that must find only
 * what was fsynced on its disk). Everything else runs beside them.
 */
final class MachineWide implements AutoCloseable {
    private static final Path LOCK = Path.of(System.getProperty("java.io.tmpdir"), "cowfs-test-machine-caches.lock");
    /** One holder per JVM at a time (a FileLock is per process, and a second lock() in it throws). */
    private static final ReentrantLock IN_JVM = new ReentrantLock();

    private final FileChannel channel;
    private final FileLock lock;

    private MachineWide(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Waits until no other test on the machine holds the caches, and holds them until close(). */
    static MachineWide caches() throws IOException {
        IN_JVM.lock();
        FileChannel ch = null;
        try {
            ch = FileChannel.open(LOCK, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            return new MachineWide(ch, ch.lock());
        } catch (IOException | RuntimeException e) {
            if (ch != null) {
                ch.close();
            }
            IN_JVM.unlock();
            throw e;
        }
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
            channel.close();
        } finally {
            IN_JVM.unlock();
        }
    }
}
