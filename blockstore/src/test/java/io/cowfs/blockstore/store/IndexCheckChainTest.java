package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * commits breaks the chain, and the record is left as it was (the next open walks). Real LMDB.
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
        assertEquals(before, checkedTxn(dir), "not recorded: the file was written by something else between the commits");
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
        long recorded = checkedTxn(dir);
        assertTrue(newest(dir) > recorded, "a mount's commits leave the record behind: " + recorded);
    }
}
