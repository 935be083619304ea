package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** index/live: what a reader believes of it, in one process and across two opens of the file. */
class LiveRecordTest {
    @TempDir
    Path dir;

    @Test
    void aRecordIsBelievedWholeOrNotAtAll() throws Exception {
        LiveRecord a = LiveRecord.open(dir, StoreAccess.PRIVATE);
        assertNotNull(a, "this machine has a boot id and the directory is writable");
        assertEquals(-1, a.txn(), "a new file of zeros is no record");
        IndexCheck.Stamp s = new IndexCheck.Stamp(1_000_000_123L, 8192);
        a.publish(7, s, false);
        LiveRecord b = LiveRecord.open(dir, StoreAccess.PRIVATE); // another opener maps the same words
        assertEquals(7, b.txn());
        assertTrue(b.matches(7, s));
        assertFalse(b.matches(7, new IndexCheck.Stamp(1_000_000_124L, 8192)), "another mtime");
        assertFalse(b.matches(8, s), "another txn");

        b.publish(6, new IndexCheck.Stamp(5, 5), false); // a slow walk's older state
        assertTrue(a.matches(7, s), "an older state never replaces a newer one");
        b.publish(6, new IndexCheck.Stamp(5, 5), true); // a walk of a file restored with lower ids
        assertTrue(a.matches(6, new IndexCheck.Stamp(5, 5)), "unless told to");
        a.publish(7, s, false);

        byte[] raw = Files.readAllBytes(dir.resolve("live"));
        ByteBuffer.wrap(raw).order(ByteOrder.nativeOrder()).putLong(16, 4096); // one word changed, check word not
        Files.write(dir.resolve("live"), raw);
        assertEquals(-1, a.txn(), "a torn record (one word of another publish) is no record");

        a.publish(9, s, false);
        raw = Files.readAllBytes(dir.resolve("live"));
        ByteBuffer.wrap(raw).order(ByteOrder.nativeOrder()).putLong(24, 42); // another boot's id
        Files.write(dir.resolve("live"), raw);
        assertEquals(-1, b.txn(), "a record of another boot is no record");

        a.publish(10, s, false);
        b.clear();
        assertEquals(-1, a.txn(), "cleared by a process that met damage");
    }

    @Test
    void aCommitPublishesOnlyInPlaceOfTheRecordThatVouchedForItsStart() throws Exception {
        LiveRecord a = LiveRecord.open(dir, StoreAccess.PRIVATE);
        LiveRecord other = LiveRecord.open(dir, StoreAccess.PRIVATE);
        IndexCheck.Stamp s1 = new IndexCheck.Stamp(100, 4096);
        IndexCheck.Stamp s2 = new IndexCheck.Stamp(200, 4096);
        a.publish(1, s1, false);
        long vouched = a.vouches(1, s1);
        assertTrue(vouched != 0);
        assertEquals(0, a.vouches(1, s2), "another stamp: no word");
        other.clear(); // another process met damage while our commit ran
        assertFalse(a.publishAfter(vouched, 2, s2), "the clear wins");
        assertEquals(-1, a.txn());

        a.publish(1, s1, false);
        vouched = a.vouches(1, s1);
        other.publish(5, s2, false); // another's record since
        assertFalse(a.publishAfter(vouched, 2, s2), "so does another publish");
        assertEquals(5, a.txn());

        a.publish(1, s1, true);
        assertTrue(a.publishAfter(a.vouches(1, s1), 2, s2), "in place of the record that vouched");
        assertTrue(other.matches(2, s2));
    }
}
