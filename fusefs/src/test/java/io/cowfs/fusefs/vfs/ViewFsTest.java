package io.cowfs.fusefs.vfs;

import static io.cowfs.fusefs.vfs.PosixContractTest.assertErrno;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What only the vfs shows: inode-level behaviour a kernel-protocol adapter relies on (node id =
 * inode number), persistence across a remount, block sharing, and bounded per-inode state.
 */
class ViewFsTest {
    static final int BS = BaseFixture.BS;

    @TempDir
    Path tmp;

    BaseFixture fx;

    @BeforeEach
    void store() throws Exception {
        fx = new BaseFixture(tmp);
    }

    @AfterEach
    void close() {
        fx.close();
    }

    static long create(ViewFs fs, String name, byte[] data) {
        long ino = fs.create(1, name, 0644, 0, 0);
        fs.write(ino, 0, data, data.length);
        fs.flush(ino);
        fs.release(ino);
        return ino;
    }

    static byte[] read(ViewFs fs, long ino) {
        byte[] b = new byte[(int) fs.getattr(ino).size()];
        assertEquals(b.length, fs.read(ino, 0, b, b.length));
        return b;
    }

    /**
     * A write that takes the view's unstored data past the dirty limit stores it with only the
     * read lock held: while its store pass runs (the hook, on the writer's thread), another thread
     * reads the view. Before, that pass ran inside the write, under the write lock, and the hook
     * never ran for it. A write failing there (the hook throws) fails the write, and the data
     * written before stays readable.
     */
    @Test
    void aWritePastTheDirtyLimitStoresWhileReadersGoOn() throws Exception {
        java.util.concurrent.ExecutorService reader = java.util.concurrent.Executors.newSingleThreadExecutor();
        try (ViewFs fs = fx.view()) {
            long other = create(fs, "other", "other\n".getBytes());
            long big = fs.create(1, "big", 0644, 0, 0);
            int mib = 1 << 20;
            int n = (int) (ViewFs.DIRTY_LIMIT / mib) + 3;
            java.util.concurrent.atomic.AtomicInteger passes = new java.util.concurrent.atomic.AtomicInteger();
            fs.data().onStorePass = () -> {
                java.util.concurrent.Future<byte[]> f = reader.submit(() -> read(fs, other));
                try {
                    assertArrayEquals("other\n".getBytes(), f.get(60, java.util.concurrent.TimeUnit.SECONDS),
                            "another thread reads while the store pass runs");
                } catch (Exception e) {
                    throw new AssertionError("a reader waited for the store pass of a write", e);
                }
                passes.incrementAndGet();
            };
            byte[] chunk = new byte[mib];
            java.util.Random r = new java.util.Random(9);
            byte[] all = new byte[n * mib];
            for (int i = 0; i < n; i++) {
                r.nextBytes(chunk);
                System.arraycopy(chunk, 0, all, i * mib, mib);
                assertEquals(mib, fs.write(big, (long) i * mib, chunk, mib));
            }
            assertTrue(passes.get() >= 1, "the write past the limit stored outside the write lock");
            fs.data().onStorePass = () -> {
                throw new IllegalStateException("planted");
            };
            r.nextBytes(chunk);
            boolean failed = false;
            for (int i = n; i < 3 * n && !failed; i++) {
                try {
                    fs.write(big, (long) i * mib, chunk, mib);
                } catch (IllegalStateException e) {
                    failed = true; // the write that passed the limit again failed in its store pass
                }
            }
            assertTrue(failed, "a failing store pass fails the write that started it");
            fs.data().onStorePass = null;
            byte[] head = new byte[n * mib];
            assertEquals(head.length, fs.read(big, 0, head, head.length));
            assertArrayEquals(all, head, "what was written before reads back");
            // no lock left held: the view still takes writes and stores them
            fs.write(other, 0, "again\n".getBytes(), 6);
            fs.flush(other);
            assertArrayEquals("again\n".getBytes(), read(fs, other));
        } finally {
            reader.shutdownNow();
        }
    }

    @Test
    void unlinkedOpenInodeLivesByNumberUntilLastRelease() {
        try (ViewFs fs = fx.view()) {
            long ino = create(fs, "f", "abc".getBytes());
            fs.open(ino, false);
            fs.open(ino, true);
            fs.unlink(1, "f");
            assertErrno(Errno.ENOENT, () -> fs.lookup(1, "f"));
            assertEquals(0, fs.getattr(ino).nlink());
            fs.release(ino);
            assertArrayEquals("abc".getBytes(), read(fs, ino)); // one handle is left
            fs.release(ino);
            assertErrno(Errno.ENOENT, () -> fs.getattr(ino));
        }
    }

    /**
     * The last release of an unlinked file deletes it without a commit of its own (rm -rf through
     * the kernel adapter made one per file), and so do changes to its attributes while it has no
     * name (the kernel's ctime, another per file): the store keeps it as an orphan (nlink 0, which
     * a mount reclaims) until the next commit, here the aged-writes persist's.
     */
    @Test
    void anInodeDeletedAtItsLastReleaseGoesWithTheNextCommit() {
        try (ViewFs fs = fx.view()) {
            long ino = create(fs, "f", new byte[3 * BS]);
            fs.open(ino, false);
            fs.unlink(1, "f");
            assertEquals(0, persistedInode(ino).nlink, "the unlink commits the inode as an orphan");
            long committedMtime = persistedInode(ino).mtimeNs;
            fs.utimens(ino, ViewFs.OMIT, 1_000_000_000L, 2_000_000_000L); // the kernel's ctime at its FORGET
            assertEquals(1_000_000_000L, fs.getattr(ino).mtimeNs());
            assertEquals(committedMtime, persistedInode(ino).mtimeNs, "an orphan's new times wait for the next commit");
            fs.release(ino);
            assertErrno(Errno.ENOENT, () -> fs.getattr(ino));
            assertNotNull(persistedInode(ino), "the release commits nothing");
            assertFalse(fs.persistAged(), "the first look only notes what waits");
            assertTrue(fs.persistAged(), "the deletion waited a period");
            assertNull(persistedInode(ino), "the aged persist deleted it");
            assertFalse(fs.persistAged(), "nothing waits any more");
        }
    }

    /**
     * A removed directory's entries leave the delta with it (its whiteouts of base names and the
     * names made in the view), while a commit deleting files looks for no entries of theirs.
     */
    @Test
    void aRemovedDirectorysEntriesLeaveTheDelta() {
        long baseDir;
        long newDir;
        try (ViewFs fs = fx.view()) {
            baseDir = fs.resolve("/base/dir");
            newDir = fs.mkdir(1, "made", 0755, 0, 0);
            long f = fs.create(newDir, "f", 0644, 0, 0);
            fs.flush(f);
            fs.release(f);
            fs.unlink(baseDir, "x"); // a whiteout of a base name
            assertNotNull(persistedDirents(baseDir), "the whiteout is in the delta");
            assertNotNull(persistedDirents(newDir));
            fs.unlink(newDir, "f");
            fs.rmdir(fs.resolve("/base"), "dir");
            fs.rmdir(1, "made");
            assertNull(persistedDirents(baseDir), "a removed base directory's whiteouts are gone");
            assertNull(persistedDirents(newDir), "a removed view directory's entries are gone");
        }
        try (ViewFs fs = fx.view()) {
            assertErrno(Errno.ENOENT, () -> fs.resolve("/base/dir"));
            assertErrno(Errno.ENOENT, () -> fs.resolve("/made"));
        }
    }

    private java.util.TreeMap<String, io.cowfs.blockstore.tree.DirObject.Entry> persistedDirents(long dir) {
        io.cowfs.blockstore.view.ViewDelta d = new io.cowfs.blockstore.view.ViewDelta(fx.store.index());
        return fx.store.index().read(txn -> d.load(txn, fx.view.viewId())).dirents.get(dir);
    }

    @Test
    void manyNewFilesAndDeletedBaseFilesSurviveARemount() {
        try (ViewFs fs = fx.view()) {
            long dir = fs.mkdir(1, "new", 0755, 0, 0);
            for (int i = 1; i <= 300; i++) {
                byte[] d = ("data " + i + "\n").getBytes();
                long ino = fs.create(dir, Integer.toString(i), 0644, 0, 0);
                fs.write(ino, 0, d, d.length);
                fs.flush(ino);
                fs.release(ino);
            }
            fs.unlink(fs.resolve("/base/dir"), "x");
        }
        try (ViewFs fs = fx.view()) {
            long dir = fs.resolve("/new");
            assertEquals(300, fs.readdir(dir).size());
            for (int i = 1; i <= 300; i++) {
                assertArrayEquals(("data " + i + "\n").getBytes(), read(fs, fs.lookup(dir, Integer.toString(i))));
            }
            assertEquals(0, fs.readdir(fs.resolve("/base/dir")).size());
        }
    }

    /**
     * open(O_TMPFILE): a file with no name, nlink 0 and not listed; its close commits nothing (no one
     * could reach it after a crash), fsync does; a link names it and it stays (across a remount,
     * with its bytes); one never named is gone at its last release, and one a mount dies with is
     * reclaimed by the next, as an unlinked open file. ENOTDIR for a file; a read-only view refuses.
     */
    @Test
    void aFileMadeWithNoNameIsKeptOnlyOnceLinked() {
        long named;
        long lost;
        try (ViewFs fs = fx.view()) {
            List<String> before = fs.readdir(1).stream().map(ViewFs.DirEntry::name).toList();
            named = fs.tmpfile(1, 0640, 0, 0);
            assertEquals(0, fs.getattr(named).nlink());
            assertEquals(0640, fs.getattr(named).mode() & 07777);
            assertEquals(before, fs.readdir(1).stream().map(ViewFs.DirEntry::name).toList(), "no name listed");
            assertEquals(4, fs.write(named, 0, "data".getBytes(), 4));
            fs.flush(named);
            assertNull(persistedInode(named), "its close commits nothing");
            fs.link(named, 1, "t");
            assertEquals(1, fs.getattr(named).nlink());
            assertEquals(1, persistedInode(named).nlink, "the link commits it");
            fs.flush(named);
            assertEquals(4, persistedInode(named).size, "named, its close commits its data");
            fs.release(named);
            long gone = fs.tmpfile(1, 0600, 0, 0);
            fs.write(gone, 0, new byte[3 * BS], 3 * BS);
            fs.flush(gone);
            assertNull(persistedInode(gone));
            fs.release(gone);
            assertErrno(Errno.ENOENT, () -> fs.getattr(gone));
            lost = fs.tmpfile(1, 0600, 0, 0);
            fs.write(lost, 0, "x".getBytes(), 1);
            fs.fsync(lost);
            assertEquals(0, persistedInode(lost).nlink, "fsync commits it, as an orphan");
            assertErrno(Errno.ENOTDIR, () -> fs.tmpfile(named, 0600, 0, 0));
            // no release of lost: the process dies with it open
        }
        try (ViewFs fs = fx.view()) {
            assertEquals(named, fs.lookup(1, "t"));
            assertArrayEquals("data".getBytes(), read(fs, named));
            assertErrno(Errno.ENOENT, () -> fs.getattr(lost));
        }
        try (ViewFs ro = fx.snapshot()) {
            assertErrno(Errno.EROFS, () -> ro.tmpfile(1, 0600, 0, 0));
        }
    }

    @Test
    void anOrphanLeftByADeadMountIsReclaimedAtTheNextMount() {
        long ino;
        try (ViewFs fs = fx.view()) {
            ino = create(fs, "f", "abc".getBytes());
            fs.open(ino, false);
            fs.unlink(1, "f");
            // no release: the process dies with the file open
        }
        try (ViewFs fs = fx.view()) {
            assertErrno(Errno.ENOENT, () -> fs.getattr(ino));
        }
    }

    /**
     * st_blocks, counted in one pass over the block map, and SEEK_DATA / SEEK_HOLE, found by
     * walking the map beside the snapshot's list, agree with a count block by block through
     * random writes (zeros among them), punches, zero ranges, truncates, clones and
     * persists, over a snapshot file with holes and over a new file.
     */
    @Test
    void stBlocksAndSeekFromTheBlockMapAgreeWithAWalkBlockByBlock() throws Exception {
        try (BaseFixture sparse = new BaseFixture(tmp.resolve("sparse"), src -> {
            byte[] b = new byte[100 * BS + 5];
            for (int i = 0; i < 100; i += 3) {
                System.arraycopy(BaseFixture.random(i, BS), 0, b, i * BS, BS); // every third block data, the rest holes
            }
            java.util.Arrays.fill(b, 100 * BS, b.length, (byte) 1); // a short last block of data
            java.nio.file.Files.write(src.resolve("base/sparse"), b);
            byte[] small = new byte[3 * BS + 10]; // data, hole, data, data: its list is in its inode
            System.arraycopy(BaseFixture.random(5, BS), 0, small, 0, BS);
            System.arraycopy(BaseFixture.random(6, BS + 10), 0, small, 2 * BS, BS + 10);
            java.nio.file.Files.write(src.resolve("base/small"), small);
        }); ViewFs fs = sparse.view()) {
            long s = fs.resolve("/base/sparse");
            long small = fs.resolve("/base/small");
            var snap = new io.cowfs.blockstore.tree.SnapshotReader(sparse.store, sparse.snapshot.root());
            assertNotNull(snap.inode(small).inlineBlocks, "a list of 4 entries is kept in the inode");
            assertNull(snap.inode(s).inlineBlocks, "a list of 101 entries is not");
            for (long at : new long[] {0, 100, BS, BS + 7, 2 * BS, 3 * BS + 9}) {
                assertEquals(fs.seekPageByPage(small, at, false), fs.seekHole(small, at), "SEEK_HOLE in the small file at " + at);
                assertEquals(fs.seekPageByPage(small, at, true), fs.seekData(small, at), "SEEK_DATA in the small file at " + at);
            }
            assertEquals(BS, fs.seekHole(small, 0));
            assertEquals(2 * BS, fs.seekData(small, BS));
            byte[] whole = new byte[3 * BS + 10];
            assertEquals(whole.length, fs.read(small, 0, whole, whole.length));
            assertArrayEquals(BaseFixture.random(6, BS + 10), java.util.Arrays.copyOfRange(whole, 2 * BS, whole.length));
            fs.open(s, true);
            long w = fs.create(1, "w", 0644, 0, 0);
            fs.write(w, 0, BaseFixture.random(2, 50 * BS + 17), 50 * BS + 17);
            assertEquals(fs.allocatedBlockByBlock(s), fs.getattr(s).blocks512());
            assertEquals(34 * (BS / 512) + 1, fs.getattr(s).blocks512(), "34 whole blocks and 5 bytes of 101 blocks hold data");
            java.util.Random r = new java.util.Random(7);
            int checked = 0;
            for (int step = 0; step < 600; step++) {
                long ino = r.nextBoolean() ? s : w;
                long other = ino == s ? w : s;
                long size = fs.getattr(ino).size();
                long off = (long) r.nextInt(130 * BS);
                int len = 1 + r.nextInt(6 * BS);
                switch (r.nextInt(7)) {
                    case 0, 1 -> {
                        byte[] d = r.nextInt(3) == 0 ? new byte[len] : BaseFixture.random(step, len);
                        fs.write(ino, off, d, len);
                    }
                    case 2 -> fs.fallocate(ino, ViewFs.FALLOC_FL_PUNCH_HOLE | ViewFs.FALLOC_FL_KEEP_SIZE, off, len);
                    case 3 -> fs.fallocate(ino, ViewFs.FALLOC_FL_ZERO_RANGE, off, len);
                    case 4 -> fs.truncate(ino, (20 + r.nextInt(110)) * (long) BS + r.nextInt(BS));
                    case 5 -> fs.flush(ino);
                    default -> fs.copyFileRange(other, 0, ino, 0, Math.min(size, fs.getattr(other).size()));
                }
                if (fs.getattr(ino).size() >= ViewFs.EXACT_BLOCKS_FROM * (long) BS) {
                    assertEquals(fs.allocatedBlockByBlock(ino), fs.getattr(ino).blocks512(), "step " + step);
                    checked++;
                }
                for (int k = 0; k < 4; k++) {
                    long at = (long) (r.nextDouble() * fs.getattr(ino).size());
                    assertEquals(fs.seekPageByPage(ino, at, false), fs.seekHole(ino, at), "SEEK_HOLE at " + at + ", step " + step);
                    long want = fs.seekPageByPage(ino, at, true);
                    if (want < 0) {
                        assertErrno(Errno.ENXIO, () -> fs.seekData(ino, at));
                    } else {
                        assertEquals(want, fs.seekData(ino, at), "SEEK_DATA at " + at + ", step " + step);
                    }
                    // what is called a hole reads as zeros: from SEEK_HOLE to the next data, and
                    // from the offset to SEEK_DATA
                    long hole = fs.seekHole(ino, at);
                    long holeEnd = fs.seekPageByPage(ino, hole, true);
                    assertZeros(fs, ino, hole, holeEnd < 0 ? fs.getattr(ino).size() : holeEnd, 3L * BS, "hole at " + hole + ", step " + step);
                    assertZeros(fs, ino, at, want < 0 ? fs.getattr(ino).size() : want, 3L * BS, "before data at " + want + ", step " + step);
                }
            }
            assertTrue(checked > 500, checked + " steps checked");
            fs.release(s);
            fs.release(w);
        }
    }

    /** Bytes [from, to) of ino (at most the first {@code most} of them) read as zeros; SubBlockTest's too. */
    static void assertZeros(ViewFs fs, long ino, long from, long to, long most, String what) {
        int n = (int) Math.max(0, Math.min(to - from, most));
        byte[] got = new byte[n];
        int read = fs.read(ino, from, got, n);
        for (int i = 0; i < read; i++) {
            if (got[i] != 0) {
                fail(what + ": byte " + (from + i) + " is " + got[i]);
            }
        }
    }

    /** The blocks of a view's copy, as its persisted delta records them. */
    private java.util.Map<Long, io.cowfs.blockstore.store.ChunkId> persistedBlocks(long ino) {
        io.cowfs.blockstore.view.ViewDelta d = new io.cowfs.blockstore.view.ViewDelta(fx.store.index());
        var s = fx.store.index().read(txn -> d.load(txn, fx.view.viewId()));
        return s.blocks.getOrDefault(ino, new java.util.TreeMap<>());
    }

    /** A file's inode as the view's persisted delta records it, or null if it records none. */
    private io.cowfs.blockstore.tree.Inode persistedInode(long ino) {
        io.cowfs.blockstore.view.ViewDelta d = new io.cowfs.blockstore.view.ViewDelta(fx.store.index());
        var s = fx.store.index().read(txn -> d.load(txn, fx.view.viewId()));
        return s.inodes.get(ino);
    }

    /** A file's mtime as the view's persisted delta records it. */
    private long persistedMtime(long ino) {
        return persistedInode(ino).mtimeNs;
    }

    /**
     * A create is committed with the next commit, at the latest at the file's own close (FLUSH),
     * not on its own; any other namespace change commits it too, so the persisted view is always
     * the view as it was at one moment.
     */
    @Test
    void aCreateIsCommittedAtTheFilesCloseOrWithTheNextChange() {
        long closed;
        long open;
        try (ViewFs fs = fx.view()) {
            closed = fs.create(1, "closed", 0644, 0, 0);
            assertNull(persistedInode(closed), "not committed by the create itself");
            fs.flush(closed); // close() of a file never written: nothing dirty but the create
            assertNotNull(persistedInode(closed), "committed at its close");
            fs.release(closed);

            open = fs.create(1, "open", 0644, 0, 0);
            assertNull(persistedInode(open));
            fs.mkdir(1, "later", 0755, 0, 0); // commits what is pending, the create included
            assertNotNull(persistedInode(open), "committed with the next namespace change");
            fs.release(open);
        }
        try (ViewFs fs = fx.view()) {
            assertEquals(closed, fs.resolve("/closed"));
            assertEquals(open, fs.resolve("/open"));
            assertTrue(fs.resolve("/later") > 0);
        }
    }

    /**
     * What tar does to each file it extracts (create, write, futimens, fchown, fchmod, close) is
     * one commit, at the close: the attributes of a file whose create or data is not committed
     * yet wait for it. A directory's, and a committed file's, are committed at once.
     */
    @Test
    void attributesOfAFileNotCommittedYetWaitForItsClose() {
        long f;
        long d;
        try (ViewFs fs = fx.view()) {
            d = fs.mkdir(1, "d", 0755, 0, 0);
            f = fs.create(d, "f", 0600, 0, 0);
            byte[] data = "extracted".getBytes();
            fs.write(f, 0, data, data.length);
            fs.utimens(f, ViewFs.OMIT, 3_000_000_000_000L);
            fs.chown(f, 1000, 1000);
            fs.chmod(f, 0644);
            fs.setxattr(f, "user.origin", "tar".getBytes(), 0);
            assertNull(persistedInode(f), "nothing of the new file is committed before its close");
            fs.chmod(d, 0700); // a directory: committed at once, and the pending create with it
            assertEquals(0700, persistedInode(d).perm);
            assertEquals(0, persistedInode(f).size, "created, its data not committed yet");
            fs.flush(f);
            io.cowfs.blockstore.tree.Inode p = persistedInode(f);
            assertEquals(0644, p.perm);
            assertEquals(1000, p.uid);
            assertEquals(3_000_000_000_000L, p.mtimeNs);
            assertEquals(9, p.size);
            fs.release(f);
            fs.chmod(f, 0640); // committed now: nothing of it waits
            assertEquals(0640, persistedInode(f).perm, "committed at once");
        }
        try (ViewFs fs = fx.view()) {
            assertArrayEquals("tar".getBytes(), fs.getxattr(f, "user.origin"));
            assertEquals(0640, fs.getattr(f).mode() & 07777);
        }
    }

    /**
     * A file with written data waiting, recorded by another commit (another file's close, a
     * namespace change), is recorded as last committed: its old size, times and mode, so a crash
     * never shows the times of writes it has not kept (make would take it for up to date).
     */
    @Test
    void aFileWithDataWaitingIsRecordedAsLastCommittedByOtherCommits() {
        try (ViewFs fs = fx.view()) {
            long f = create(fs, "out.o", "old object".getBytes());
            fs.utimens(f, ViewFs.OMIT, 1_000_000_000_000L);
            io.cowfs.blockstore.tree.Inode old = persistedInode(f);
            assertEquals(1_000_000_000_000L, old.mtimeNs);
            byte[] data = "new object, longer".getBytes();
            fs.write(f, 0, data, data.length); // its mtime moves with the write
            fs.chmod(f, 0755);
            fs.mkdir(1, "elsewhere", 0755, 0, 0); // a commit that leaves f's data in memory
            io.cowfs.blockstore.tree.Inode p = persistedInode(f);
            assertEquals(old.size, p.size, "old size");
            assertEquals(old.mtimeNs, p.mtimeNs, "old mtime");
            assertEquals(old.perm, p.perm, "old mode");
            fs.link(f, 1, "second"); // a new name: the link count is committed with it
            assertEquals(2, persistedInode(f).nlink);
            assertEquals(old.mtimeNs, persistedInode(f).mtimeNs);
            fs.flush(f);
            p = persistedInode(f);
            assertEquals(data.length, p.size);
            assertEquals(0755, p.perm);
            assertTrue(p.mtimeNs > old.mtimeNs);
        }
    }

    /**
     * A file with data waiting is recorded as last committed once, not again by each later commit
     * (that made every commit cost O(files with data waiting)): again only when what is recorded
     * of it changes (a cut below its committed size, a new link), and whole by its own close. A
     * cut is final: data written past it later waits for the close, and a crash before that shows
     * the file as cut, not the old bytes past the cut. A held file unlinked and released without
     * a close is deleted by the next commit.
     */
    @Test
    void aFileWithDataWaitingIsRecordedOnceNotByEveryCommit() {
        byte[] data = "appended, not flushed".getBytes();
        try (ViewFs fs = fx.view()) {
            long f = create(fs, "held", new byte[3 * BS]);
            long gone = create(fs, "gone", new byte[10]);
            fs.open(f, true);
            fs.write(f, 3 * BS, data, data.length);
            fs.open(gone, true);
            fs.write(gone, 10, data, data.length);
            fs.mkdir(1, "a", 0755, 0, 0);
            long once = fs.asCommittedRecords();
            assertEquals(3 * BS, persistedInode(f).size);
            for (int i = 0; i < 5; i++) {
                fs.mkdir(1, "b" + i, 0755, 0, 0);
                fs.write(f, 3 * BS + (i + 1) * data.length, data, data.length); // more that waits
            }
            assertEquals(once, fs.asCommittedRecords(), "commits that change nothing recorded of the held files record them again");
            assertEquals(3 * BS, persistedInode(f).size);

            fs.truncate(f, BS + 7); // below its committed size: what is recorded changes
            assertEquals(BS + 7, persistedInode(f).size);
            fs.link(f, 1, "second");
            assertEquals(2, persistedInode(f).nlink);
            fs.write(f, BS + 7, data, data.length); // waits again
            fs.mkdir(1, "c", 0755, 0, 0);
            assertEquals(BS + 7, persistedInode(f).size, "as cut: the stored bytes past the cut are not the file's");
            fs.flush(f);
            assertEquals(BS + 7 + data.length, persistedInode(f).size, "whole, with its data");
            fs.release(f);

            fs.unlink(1, "gone");
            fs.release(gone);
            fs.mkdir(1, "d", 0755, 0, 0);
            assertNull(persistedInode(gone), "deleted");
        }
        try (ViewFs fs = fx.view()) {
            long f = fs.resolve("/held");
            assertEquals(BS + 7 + data.length, fs.getattr(f).size());
            assertEquals(2, fs.getattr(f).nlink());
            byte[] tail = new byte[data.length];
            assertEquals(data.length, fs.read(f, BS + 7, tail, tail.length));
            assertArrayEquals(data, tail);
        }
    }

    /**
     * Times set on a file with data not yet persisted (what the writeback cache sends just before
     * the FLUSH of every close that wrote) are committed with that data, not apart; times set on
     * any other file are committed before the call returns.
     */
    @Test
    void timesOfAFileWithDataWaitingAreCommittedWithTheData() {
        try (ViewFs fs = fx.view()) {
            long quiet = create(fs, "quiet", "q".getBytes());
            fs.utimens(quiet, ViewFs.OMIT, 1_000_000_000_000L);
            assertEquals(1_000_000_000_000L, persistedMtime(quiet), "committed at once");
            long busy = fs.create(1, "busy", 0644, 0, 0);
            byte[] data = "written, not flushed".getBytes();
            fs.write(busy, 0, data, data.length);
            fs.chmod(quiet, 0600); // commits what is pending: busy's create, not its data
            long before = persistedMtime(busy);
            fs.utimens(busy, ViewFs.OMIT, 2_000_000_000_000L);
            assertEquals(2_000_000_000_000L, fs.getattr(busy).mtimeNs(), "seen at once");
            assertEquals(before, persistedMtime(busy), "waits for the data");
            fs.flush(busy);
            assertEquals(2_000_000_000_000L, persistedMtime(busy), "committed with the data");
            fs.release(busy);
        }
        try (ViewFs fs = fx.view()) {
            assertEquals(2_000_000_000_000L, fs.getattr(fs.resolve("/busy")).mtimeNs());
            assertArrayEquals("written, not flushed".getBytes(), read(fs, fs.resolve("/busy")));
        }
    }

    /**
     * copy_file_range of a whole file into an empty one is a clone: the copy records no block of
     * its own (it shares the source's block list), and writes to either afterwards change only
     * that file. A copy that stops short of the end, and a source with unflushed writes, copy
     * the bytes the clone cannot share.
     */
    @Test
    void aWholeFileCopyClonesTheBlockListAndTheCopiesDiverge() {
        byte[] big = BaseFixture.big(); // 3 blocks + 100 bytes
        long src;
        long copy;
        long part;
        long fresh;
        byte[] written = BaseFixture.random(9, 100);
        try (ViewFs fs = fx.view()) {
            src = fs.resolve("/base/big");
            copy = fs.create(1, "copy", 0644, 0, 0);
            assertEquals(big.length, fs.copyFileRange(src, 0, copy, 0, Long.MAX_VALUE / 2));
            fs.release(copy);
            assertEquals(0, persistedBlocks(copy).size(), "a clone stores no block records");
            for (int i = 0; i < 4; i++) {
                assertEquals(fs.storedBlock(src, i), fs.storedBlock(copy, i));
            }
            assertArrayEquals(big, read(fs, copy));
            // short of the end: the last byte copied is in the middle of block 2
            part = fs.create(1, "part", 0644, 0, 0);
            assertEquals(2L * BS + 50, fs.copyFileRange(src, 0, part, 0, 2L * BS + 50));
            fs.truncate(part, big.length); // what lies past the copy reads as zeros, not as the source
            fs.release(part);
            byte[] want = Arrays.copyOf(Arrays.copyOf(big, 2 * BS + 50), big.length);
            assertArrayEquals(want, read(fs, part));
            // the source written and not flushed: the copy has the new bytes
            fs.open(src, true);
            fs.write(src, BS + 7, written, written.length);
            fresh = fs.create(1, "fresh", 0644, 0, 0);
            assertEquals(big.length, fs.copyFileRange(src, 0, fresh, 0, big.length));
            fs.release(fresh);
            fs.flush(src);
            fs.release(src);
            // the copies diverge: a write to the first clone changes it alone
            fs.open(copy, true);
            fs.write(copy, 2L * BS, written, written.length);
            fs.flush(copy);
            fs.release(copy);
        }
        try (ViewFs fs = fx.view()) {
            byte[] srcNow = big.clone();
            System.arraycopy(written, 0, srcNow, BS + 7, written.length);
            assertArrayEquals(srcNow, read(fs, fs.resolve("/base/big")));
            assertArrayEquals(srcNow, read(fs, fresh));
            byte[] copyNow = big.clone();
            System.arraycopy(written, 0, copyNow, 2 * BS, written.length);
            assertArrayEquals(copyNow, read(fs, copy));
            assertEquals(1, persistedBlocks(copy).size(), "one block of the clone written");
            assertArrayEquals(Arrays.copyOf(Arrays.copyOf(big, 2 * BS + 50), big.length), read(fs, part));
        }
        try (ViewFs snap = fx.snapshot()) {
            assertArrayEquals(big, read(snap, snap.resolve("/base/big")), "the snapshot is untouched");
        }
    }

    @Test
    void holesSharedBlocksAndSizesSurviveARemount() {
        byte[] data = BaseFixture.random(4, 4 * BS);
        long f;
        long copy;
        try (ViewFs fs = fx.view()) {
            f = create(fs, "f", data);
            copy = fs.create(1, "copy", 0644, 0, 0);
            assertEquals(4L * BS, fs.copyFileRange(f, 0, copy, 0, 4L * BS));
            assertNotNull(fs.storedBlock(f, 1));
            assertEquals(fs.storedBlock(f, 1), fs.storedBlock(copy, 1), "aligned whole blocks share the chunk");
            fs.release(copy);
            fs.open(f, true);
            fs.fallocate(f, ViewFs.FALLOC_FL_PUNCH_HOLE | ViewFs.FALLOC_FL_KEEP_SIZE, BS, 2L * BS);
            fs.fallocate(f, 0, 0, 10L * BS);
            fs.flush(f);
            fs.release(f);
        }
        try (ViewFs fs = fx.view()) {
            assertEquals(10L * BS, fs.getattr(f).size());
            byte[] want = Arrays.copyOf(data, 10 * BS);
            Arrays.fill(want, BS, 3 * BS, (byte) 0);
            assertArrayEquals(want, read(fs, f));
            assertNull(fs.storedBlock(f, 1));
            assertEquals(BS, fs.seekHole(f, 0));
            assertEquals(3L * BS, fs.seekData(f, BS));
            assertEquals(4L * BS, fs.seekHole(f, 3L * BS));
            assertArrayEquals(data, read(fs, copy));
        }
    }

    @Test
    void fallocateAndCopyFileRangeRefuseWhatIsNotARegularFile() {
        try (ViewFs fs = fx.view()) {
            long dir = fs.lookup(1, "base");
            long f = create(fs, "f", new byte[10]);
            long fifo = fs.mknod(1, "p", 0010644, 0, 0, 0);
            assertErrno(Errno.EISDIR, () -> fs.fallocate(dir, 0, 0, 1));
            assertErrno(Errno.ENODEV, () -> fs.fallocate(fifo, 0, 0, 1));
            assertErrno(Errno.EISDIR, () -> fs.copyFileRange(dir, 0, f, 0, 1));
            assertErrno(Errno.EISDIR, () -> fs.copyFileRange(f, 0, dir, 0, 1));
            assertErrno(Errno.EINVAL, () -> fs.copyFileRange(fifo, 0, f, 0, 1));
            assertErrno(Errno.EINVAL, () -> fs.seekData(dir, 0));
            assertErrno(Errno.ENOENT, () -> fs.seekHole(12345, 0));
        }
    }

    @Test
    void aSnapshotRefusesEveryChange() {
        try (ViewFs fs = fx.snapshot()) {
            long big = fs.resolve("/base/big");
            long hello = fs.resolve("/base/hello");
            assertErrno(Errno.EROFS, () -> fs.fallocate(big, 0, 0, 1));
            assertErrno(Errno.EROFS, () -> fs.copyFileRange(big, 0, hello, 0, 1));
            assertErrno(Errno.EROFS, () -> fs.write(big, 0, new byte[1], 1));
            assertEquals(0, fs.seekData(big, 0)); // reading is fine
        }
    }

    /**
     * A view that lives long and creates and deletes files (a CI worker's build outputs, temp
     * files) keeps no state of the deleted ones: the write-back's per-inode maps hold the live
     * files only. It kept each committed file's recorded size for as long as the mount lived.
     */
    @Test
    void deletedFilesLeaveNoStateInTheWriteBack() {
        try (ViewFs fs = fx.view()) {
            int first = -1; // after the first round: the root directory's recorded size, say
            for (int round = 0; round < 5; round++) {
                for (int i = 0; i < 200; i++) {
                    create(fs, "t" + i, BaseFixture.random(round * 1000 + i, 100 + i));
                }
                fs.persistAll(); // each file's size recorded with its data
                for (int i = 0; i < 200; i++) {
                    fs.unlink(1, "t" + i);
                }
                fs.persistAll();
                if (round == 0) {
                    first = fs.dataTracked();
                    assertTrue(first < 200, "state of 200 deleted files stays: " + first);
                }
                assertEquals(first, fs.dataTracked(), "state after round " + round + " of 200 files created and deleted");
            }
            long kept = create(fs, "kept", BaseFixture.random(7, 3 * BS));
            fs.persistAll();
            assertEquals(first + 1, fs.dataTracked(), "a live file's state stays");
            assertArrayEquals(BaseFixture.random(7, 3 * BS), read(fs, kept));
        }
    }

    @Test
    void readAheadStateGoesWithTheLastHandle() {
        try (ViewFs fs = fx.view()) {
            long big = fs.resolve("/base/big");
            byte[] b = new byte[BS];
            for (int round = 0; round < 3; round++) {
                fs.open(big, false);
                fs.read(big, 0, b, BS);
                fs.read(big, BS, b, BS);
                assertEquals(1, fs.readAheadTracked());
                fs.release(big);
                assertEquals(0, fs.readAheadTracked());
            }
            long f = create(fs, "f", BaseFixture.random(2, 3 * BS));
            fs.open(f, false);
            fs.read(f, 0, b, BS);
            fs.unlink(1, "f");
            fs.release(f);
            assertEquals(0, fs.readAheadTracked());
        }
        try (ViewFs snap = fx.snapshot()) {
            long big = snap.resolve("/base/big");
            snap.open(big, false);
            snap.read(big, 0, new byte[10], 10);
            snap.release(big);
            assertEquals(0, snap.readAheadTracked());
        }
    }
}
