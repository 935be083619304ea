package io.cowfs.blockstore.tree;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import org.junit.jupiter.api.Test;

/** Times as a record holds them: nanoseconds in an i64, clamped at the ends rather than wrapped. */
class InodeTimeTest {
    private static long of(String iso) {
        Instant i = Instant.parse(iso);
        return Inode.timeNs(i.getEpochSecond(), i.getNano());
    }

    @Test
    void timesInRangeAreExact() {
        assertEquals(0, Inode.timeNs(0, 0));
        assertEquals(-1, Inode.timeNs(-1, 999_999_999), "just before the epoch");
        assertEquals(1_500_000_000_123_456_789L, Inode.timeNs(1_500_000_000L, 123_456_789));
        assertEquals(Long.MAX_VALUE, of("2262-04-11T23:47:16.854775807Z"), "the last time a record holds");
        assertEquals(Long.MIN_VALUE + 2, of("1677-09-21T00:12:43.145224194Z"), "the first");
    }

    @Test
    void timesOutOfRangeAreClampedToTheNearestEnd() {
        assertEquals(Inode.MAX_TIME_NS, of("2262-04-11T23:47:16.854775808Z"), "one nanosecond past the end");
        assertEquals(Inode.MAX_TIME_NS, of("2446-05-10T22:38:55Z"), "ext4's last time");
        assertEquals(Inode.MAX_TIME_NS, Inode.timeNs(Long.MAX_VALUE, 999_999_999));
        assertEquals(Inode.MIN_TIME_NS, of("1677-09-21T00:12:43.145224193Z"), "the vfs's 'now' marker is not a time");
        assertEquals(Inode.MIN_TIME_NS, of("1677-09-21T00:12:43.145224192Z"), "nor is its 'omit' marker");
        assertEquals(Inode.MIN_TIME_NS, of("1600-01-01T00:00:00Z"));
        assertEquals(Inode.MIN_TIME_NS, Inode.timeNs(Long.MIN_VALUE, 0));
    }
}
