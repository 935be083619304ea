package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * index/checked carried across a process's own commits (StoreIndex's own-commit chain): a store
 * that committed and closed leaves the record naming its last commit and the file as it left it,
 * so the next open skips the walk; a write to the file by anything else between two of its
 * commits breaks the chain, and the record is left as it was (the next open walks). index/live
 * does the same for processes that record nothing at close (mounts), at every commit, for this
 * boot only; index/checked outlives the boot only if it was synced. Real LMDB.
 */
class IndexCheckChainTest {
    @TempDir
    Path tmp;

    private static long newest(Path dir) throws Exception {
        try (LmdbPages p = LmdbPages.open(dir.resolve("index").resolve("data.mdb"))) {
            return p.newest().txnid();
        }
    }

    private static long checkedTxn(Path dir) throws Exception {
        return Long.parseLong(Files.readString(dir.resolve("index").resolve("checked")).strip().split(" ")[0]);
    }

    private static void commit(Store s) {
        s.index().write(txn -> s.nextId(txn));
    }

    @org.junit.jupiter.api.BeforeEach
    @org.junit.jupiter.api.AfterEach
    void noDamageSeen() {
        StoreIndex.forgetDamageSeen(); // other tests in this JVM damage indexes on purpose
    }

    private Path storeWithRecord() throws Exception {
        Path dir = tmp.resolve("store");
        Store.init(dir, Store.DEFAULT_BLOCK_SIZE).close();
        try (Store s = Store.open(dir)) {
            s.index().trustOwnCommits();
            commit(s);
        }
        assertEquals(newest(dir), checkedTxn(dir));
        return dir;
    }

    @Test
    void aProcessThatSawDamageDropsTheRecord() throws Exception {
        Path dir = storeWithRecord();
        long before = checkedTxn(dir);
        try (Store s = Store.open(dir)) {
            s.index().trustOwnCommits();
            commit(s);
            new StoreException.IndexDamagedException("a page this process read failed its check");
            commit(s);
        }
        assertTrue(newest(dir) > before);
        assertTrue(Files.notExists(dir.resolve("index").resolve("checked")),
                "a process that saw damage drops the record (the damage may have come without a write)");
        try (Store s = Store.open(dir)) { // walks, records the file as it is
            assertEquals(newest(dir), checkedTxn(dir));
        }
    }


    @Test
    void ownCommitsLeaveTheIndexCheckedAsTheyLeftIt() throws Exception {
        Path dir = tmp.resolve("store");
        Store.init(dir, Store.DEFAULT_BLOCK_SIZE).close();
        for (int round = 0; round < 3; round++) {
            try (Store s = Store.open(dir)) {
                s.index().trustOwnCommits();
                commit(s);
                commit(s);
            }
            assertEquals(newest(dir), checkedTxn(dir), "round " + round + ": the record names the last commit");
        }
    }

    @Test
    void aWriteBySomethingElseBetweenTwoCommitsLeavesTheRecordBehind() throws Exception {
        Path dir = tmp.resolve("store");
        Store.init(dir, Store.DEFAULT_BLOCK_SIZE).close();
        try (Store s = Store.open(dir)) { // walks, records
            s.index().trustOwnCommits();
        }
        long before = checkedTxn(dir);
        Path data = dir.resolve("index").resolve("data.mdb");
        try (Store s = Store.open(dir)) {
            s.index().trustOwnCommits();
            commit(s);
            Files.setLastModifiedTime(data, FileTime.fromMillis(Files.getLastModifiedTime(data).toMillis() + 5_000)); // "something else"
            commit(s);
        }
        assertTrue(newest(dir) > before);
        assertTrue(Files.notExists(dir.resolve("index").resolve("checked")),
                "not recorded: the file was written by something else between the commits (and the first commit dropped the old record)");
        try (Store s = Store.open(dir)) { // walks again, records the file as it is
            assertEquals(newest(dir), checkedTxn(dir));
        }
    }

    @Test
    void withoutTrustNoRecordIsWrittenAtClose() throws Exception {
        Path dir = tmp.resolve("store");
        Store.init(dir, Store.DEFAULT_BLOCK_SIZE).close();
        try (Store s = Store.open(dir)) {
            commit(s);
        }
        assertTrue(Files.notExists(dir.resolve("index").resolve("checked")),
                "a mount's commits record nothing at close, and drop the record of the state before them");
    }

    private static String[] checkedFields(Path dir) throws Exception {
        return Files.readString(dir.resolve("index").resolve("checked")).strip().split(" ");
    }

    private static void noLiveRecord(Path dir) throws Exception {
        Files.write(dir.resolve("index").resolve("live"), new byte[64]);
    }

    @Test
    void commitsOfAProcessThatRecordsNothingAtCloseLeaveIndexLiveNamingThem() throws Exception {
        Path dir = tmp.resolve("store");
        Store.init(dir, Store.DEFAULT_BLOCK_SIZE).close();
        try (Store s = Store.open(dir)) { // as a mount: no trustOwnCommits, so no index/checked at close
            commit(s);
            commit(s);
            commit(s);
        }
        assertTrue(Files.notExists(dir.resolve("index").resolve("checked")), "index/checked dropped by the first commit");
        try (Store s = Store.open(dir)) {
            assertFalse(s.index().walkedAtOpen(), "index/live names the file as the commits left it");
        }
    }

    @Test
    void commitsFromManyThreadsKeepIndexLiveUpToDate() throws Exception {
        Path dir = tmp.resolve("store");
        Store.init(dir, Store.DEFAULT_BLOCK_SIZE).close();
        try (Store s = Store.open(dir)) {
            var pool = java.util.concurrent.Executors.newFixedThreadPool(4);
            try {
                var done = new java.util.ArrayList<java.util.concurrent.Future<?>>();
                for (int t = 0; t < 4; t++) {
                    done.add(pool.submit(() -> {
                        for (int i = 0; i < 150; i++) {
                            commit(s);
                        }
                    }));
                }
                for (var f : done) {
                    f.get();
                }
            } finally {
                pool.shutdown();
            }
        }
        try (Store s = Store.open(dir)) {
            assertFalse(s.index().walkedAtOpen(), "each commit followed the last one's record: the chain never ended");
        }
    }

    @Test
    void aWriteBySomethingElseAfterTheLastCommitMakesTheNextOpenWalk() throws Exception {
        Path dir = tmp.resolve("store");
        Store.init(dir, Store.DEFAULT_BLOCK_SIZE).close();
        try (Store s = Store.open(dir)) {
            commit(s);
        }
        Path data = dir.resolve("index").resolve("data.mdb");
        Files.setLastModifiedTime(data, FileTime.fromMillis(Files.getLastModifiedTime(data).toMillis() + 5_000)); // "something else"
        try (Store s = Store.open(dir)) {
            assertTrue(s.index().walkedAtOpen(), "no record names the file as it is now");
        }
        try (Store s = Store.open(dir)) {
            assertFalse(s.index().walkedAtOpen(), "the walk recorded the file");
        }
    }

    @Test
    void aRecordOfAnotherBootIsTrustedOnlyIfTheFileWasSyncedWhenItWasWritten() throws Exception {
        Path dir = storeWithRecord();
        String[] f = checkedFields(dir);
        assertEquals(5, f.length, String.join(" ", f));
        assertEquals("synced", f[4], "a command's close syncs, then records");
        Path checked = dir.resolve("index").resolve("checked");
        String same = f[0] + " " + f[1] + " " + f[2] + " ";
        String[][] cases = {{"0-1", "unsynced", "walks"}, {"0-1", "synced", "trusts"}, {f[3], "unsynced", "trusts"}};
        for (String[] c : cases) {
            noLiveRecord(dir);
            Files.writeString(checked, same + c[0] + " " + c[1] + "\n");
            try (Store s = Store.open(dir)) {
                assertEquals(c[2].equals("walks"), s.index().walkedAtOpen(), "boot " + c[0] + ", " + c[1]);
            }
            assertEquals(newest(dir), checkedTxn(dir));
            String[] after = checkedFields(dir);
            assertEquals(c[2].equals("walks") ? f[3] : c[0], after[3], "a walk records this boot; a trusted record stays");
        }
    }

    @Test
    void aRecordClearedByAnotherProcessIsNotPublishedAgainFromMemory() throws Exception {
        Path dir = tmp.resolve("store");
        Store.init(dir, Store.DEFAULT_BLOCK_SIZE).close();
        try (Store s = Store.open(dir)) { // as a mount
            commit(s);
            LiveRecord other = LiveRecord.open(dir.resolve("index"), StoreAccess.PRIVATE); // the same words, as another process maps them
            other.clear(); // that process met damage
            commit(s);
            commit(s);
        }
        try (Store s = Store.open(dir)) {
            assertTrue(s.index().walkedAtOpen(), "the mount's memory of a clean file did not outlive the other process's clear");
        }
    }

    @Test
    void aFailedSyncEndsEverythingTheProcessWouldRecord() throws Exception {
        Path dir = storeWithRecord();
        try (Store s = Store.open(dir)) {
            s.index().trustOwnCommits();
            commit(s);
            s.index().breakChain(); // what a sync that failed does
            assertTrue(Files.notExists(dir.resolve("index").resolve("checked")), "index/checked dropped at once");
            commit(s);
            commit(s);
        }
        assertTrue(Files.notExists(dir.resolve("index").resolve("checked")), "nothing recorded at close");
        try (Store s = Store.open(dir)) {
            assertTrue(s.index().walkedAtOpen(), "and nothing published: the next open walks");
        }
    }

    @Test
    void aCommitByAnotherProcessDropsTheRecordOfTheStateBeforeIt() throws Exception {
        Path dir = storeWithRecord(); // a command's record, synced
        try (Store s = Store.open(dir)) { // as a mount: its first commit makes that record stale
            commit(s);
            assertTrue(Files.notExists(dir.resolve("index").resolve("checked")),
                    "a synced record of an older state would be trusted after a crash that tore the newer one");
        }
    }

    @Test
    void damageFoundByAWalkDropsBothRecords() throws Exception {
        Path dir = tmp.resolve("store");
        Store.init(dir, Store.DEFAULT_BLOCK_SIZE).close();
        try (Store s = Store.open(dir)) {
            s.index().trustOwnCommits();
            for (int i = 0; i < 3; i++) {
                commit(s);
            }
        }
        Path data = dir.resolve("index").resolve("data.mdb");
        long page;
        try (LmdbPages p = LmdbPages.open(data)) {
            LmdbPages.Walk w = p.walk(p.newest(), false, true);
            page = w.leafPages.values().stream().flatMap(java.util.List::stream).findFirst().orElseThrow();
        }
        var mtime = Files.getLastModifiedTime(data);
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(data.toFile(), "rw")) { // a page gone bad without a write
            byte[] junk = new byte[4096];
            new java.util.Random(9).nextBytes(junk);
            f.seek(page * 4096);
            f.write(junk);
        }
        Files.setLastModifiedTime(data, mtime);
        try (Store s = IndexCheck.walking(() -> Store.open(dir))) { // fsck's open
            assertTrue(s.index().damage() != null, "the walk finds it");
        }
        assertTrue(Files.notExists(dir.resolve("index").resolve("checked")), "index/checked dropped");
        assertEquals(-1, LiveRecord.open(dir.resolve("index"), StoreAccess.PRIVATE).txn(), "index/live cleared");
        StoreIndex.forgetDamageSeen();
    }

    @Test
    void damageMetInOneStoreLeavesAStoreOpenedLaterToItself() throws Exception {
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        Store.init(a, Store.DEFAULT_BLOCK_SIZE).close();
        Store.init(b, Store.DEFAULT_BLOCK_SIZE).close();
        try (Store s = Store.open(a)) {
            new StoreException.IndexDamagedException("a page of a's index failed its check");
            try (Store t = Store.open(b)) { // a spare mount process, or the agent, serving another store next
                commit(t);
                commit(t);
            }
        }
        try (Store t = Store.open(b)) {
            assertFalse(t.index().walkedAtOpen(), "b's commits were published: the damage was met before b was opened");
        }
        try (Store s = Store.open(a)) {
            assertTrue(s.index().walkedAtOpen(), "a, open when the damage was met, lost its records");
        }
    }

    @Test
    void aCommandRecordsNothingAtCloseIfAnotherProcessClearedIndexLive() throws Exception {
        Path dir = storeWithRecord();
        try (Store s = Store.open(dir)) {
            s.index().trustOwnCommits();
            commit(s);
            LiveRecord.open(dir.resolve("index"), StoreAccess.PRIVATE).clear(); // another process met damage before our close
        }
        assertTrue(Files.notExists(dir.resolve("index").resolve("checked")), "our memory of a clean file does not outlive the clear");
    }

    @Test
    void withoutIndexLiveAProcessThatRecordsNothingStillDropsTheRecordBeforeIt() throws Exception {
        Path dir = storeWithRecord(); // a command's record, synced
        Files.delete(dir.resolve("index").resolve("live"));
        Files.createDirectory(dir.resolve("index").resolve("live")); // index/live cannot be mapped
        try (Store s = Store.open(dir)) { // as a mount
            commit(s);
        }
        assertTrue(Files.notExists(dir.resolve("index").resolve("checked")));
        Files.delete(dir.resolve("index").resolve("live"));
    }
}
