package io.cowfs.cli;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The machine's page cache and dirty data, held by one test at a time across test JVMs (surefire
 * runs two at once): tests that drop the caches or sync every filesystem take it, and so do the
 * tests those would disturb (a check that pages are resident, a power cut that must find only
 * what was fsynced on its disk). Everything else runs beside them. A test class takes it for
 * each of its tests with {@code @ExtendWith(MachineWide.Held.class)}.
 */
final class MachineWide implements AutoCloseable {
    private static final Path LOCK = Path.of(System.getProperty("java.io.tmpdir"), "cowfs-test-machine-caches.lock");
    /** One holder per JVM at a time (a FileLock is per process, and a second lock() in it throws). */
    private static final ReentrantLock IN_JVM = new ReentrantLock();

    private final FileChannel channel; // its FileLock goes with it

    private MachineWide(FileChannel channel) {
        this.channel = channel;
    }

    /** Waits until no other test on the machine holds the caches, and holds them until close(). */
    static MachineWide caches() throws IOException {
        if (IN_JVM.isHeldByCurrentThread()) {
            // a second lock() of the file in this process throws, and closing that channel would
            // drop the first one's lock (POSIX locks are per process and file)
            throw new IllegalStateException("MachineWide.caches() taken twice by one test");
        }
        IN_JVM.lock();
        FileChannel ch = null;
        try {
            ch = FileChannel.open(LOCK, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            ch.lock();
            return new MachineWide(ch);
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
            channel.close(); // releases the lock with it
        } finally {
            IN_JVM.unlock();
        }
    }

    /** Holds the caches through each test of the class it extends. */
    static final class Held implements BeforeEachCallback, AfterEachCallback {
        private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(MachineWide.class);

        @Override
        public void beforeEach(ExtensionContext context) throws IOException {
            context.getStore(NS).put("held", caches());
        }

        @Override
        public void afterEach(ExtensionContext context) throws IOException {
            MachineWide held = context.getStore(NS).remove("held", MachineWide.class);
            if (held != null) {
                held.close();
            }
        }
    }
}
