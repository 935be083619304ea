package io.cowfs.fusefs.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * What a snapshot's drain waits for, reader by reader (the real mount's case, a WRITE taken and
 * not yet counted, is SnapshotDrainIT in the cli module): the states are driven by hand here, as
 * a worker's loop drives them (Kernel.loop), and the drain runs on a thread of its own.
 */
class WriteDrainTest {
    private static final long SECOND = 1_000_000_000L;

    /** Runs awaitTaken (deadline in ns from now) on a thread; its result lands in the latch's holder. */
    private static final class Drain {
        final CountDownLatch done = new CountDownLatch(1);
        volatile boolean result;

        Drain(WriteDrain d, long deadlineNs, Runnable poke) {
            long deadline = System.nanoTime() + deadlineNs;
            Thread t = new Thread(() -> {
                try {
                    result = d.awaitTaken(deadline, poke);
                } catch (InterruptedException e) {
                    result = false;
                } finally {
                    done.countDown();
                }
            });
            t.setDaemon(true);
            t.start();
        }

        boolean finishedWithin(long ms) throws InterruptedException {
            return done.await(ms, TimeUnit.MILLISECONDS);
        }
    }

    @Test
    void aWriteBeingServedIsWaitedForUntilItIsDone() throws Exception {
        WriteDrain d = new WriteDrain();
        WriteDrain.Reader r = d.join();
        r.serving(true);
        Drain drain = new Drain(d, 10 * SECOND, () -> { });
        assertFalse(drain.finishedWithin(200), "the WRITE is still being applied");
        r.reading(); // answered, back at the device
        assertTrue(drain.finishedWithin(5_000));
        assertTrue(drain.result);
    }

    @Test
    void otherRequestsAndFinishedReadersAreNotWaitedFor() throws Exception {
        WriteDrain d = new WriteDrain();
        WriteDrain.Reader lookup = d.join();
        lookup.serving(false);
        WriteDrain.Reader gone = d.join();
        gone.serving(true);
        d.leave(gone);
        AtomicInteger pokes = new AtomicInteger();
        assertTrue(d.awaitTaken(System.nanoTime() + SECOND, pokes::incrementAndGet));
        assertEquals(0, pokes.get(), "nobody was in a read");
    }

    @Test
    void aReaderInItsReadIsPokedAndWhatItTookIsWaitedForIfAWrite() throws Exception {
        WriteDrain d = new WriteDrain();
        WriteDrain.Reader r = d.join();
        r.reading();
        // the poke's request reaches this reader only the second time; meanwhile it counts the
        // WRITE it had taken before the drain began
        AtomicInteger pokes = new AtomicInteger();
        Drain drain = new Drain(d, 10 * SECOND, () -> {
            if (pokes.incrementAndGet() == 2) {
                r.serving(true);
            }
        });
        long until = System.nanoTime() + 10 * SECOND;
        while (pokes.get() < 2 && System.nanoTime() < until) {
            Thread.sleep(5);
        }
        assertTrue(pokes.get() >= 2, "poked until the reader took a request");
        assertFalse(drain.finishedWithin(300), "the WRITE it counted is not applied yet");
        int seen = pokes.get();
        Thread.sleep(100);
        assertEquals(seen, pokes.get(), "no more pokes once the reader is out of its read");
        r.reading();
        assertTrue(drain.finishedWithin(5_000));
        assertTrue(drain.result);
    }

    @Test
    void anIdleReaderIsSettledByThePokeItServes() throws Exception {
        WriteDrain d = new WriteDrain();
        WriteDrain.Reader r = d.join();
        AtomicInteger pokes = new AtomicInteger();
        assertTrue(d.awaitTaken(System.nanoTime() + 5 * SECOND, () -> {
            pokes.incrementAndGet();
            r.serving(false); // the STATFS
            r.reading();
        }));
        assertEquals(1, pokes.get());
    }

    @Test
    void laterRequestsOfAReaderDoNotHoldTheDrainUp() throws Exception {
        WriteDrain d = new WriteDrain();
        WriteDrain.Reader r = d.join();
        r.serving(true);
        Drain drain = new Drain(d, 10 * SECOND, () -> { });
        assertFalse(drain.finishedWithin(300), "the WRITE being served when the drain began");
        r.reading();
        r.serving(true); // a WRITE taken after the drain began: not waited for
        assertTrue(drain.finishedWithin(5_000), "only the WRITE being served at the start counts");
        assertTrue(drain.result);
    }

    @Test
    void aReaderThatNeverCountsWhatItTookFailsTheDrainAtItsDeadline() throws Exception {
        WriteDrain d = new WriteDrain();
        d.join().reading();
        AtomicInteger pokes = new AtomicInteger();
        long t = System.nanoTime();
        assertFalse(d.awaitTaken(t + SECOND / 5, pokes::incrementAndGet));
        assertTrue(System.nanoTime() - t >= SECOND / 5);
        assertTrue(pokes.get() > 0);
    }

    @Test
    void theMarkerIsTheRootsOpendirOfTheDrainingThreadOnly() throws Exception {
        WriteDrain d = new WriteDrain();
        CountDownLatch marker = d.arm(4242);
        d.opened(4243, Proto.ROOT_ID, 7); // another thread's
        d.opened(4242, 5, 8); // another directory
        d.opened(4242, Proto.ROOT_ID, 9);
        assertEquals(9, d.disarm());
        d.opened(4242, Proto.ROOT_ID, 10); // after the open returned: a poke's, not the marker's
        d.released(7);
        assertEquals(1, marker.getCount());
        d.released(9);
        assertTrue(WriteDrain.await(marker, System.nanoTime()));
        d.forget();
        CountDownLatch next = d.arm(4242);
        d.released(9); // the old marker's handle means nothing now
        assertEquals(1, next.getCount());
    }
}
