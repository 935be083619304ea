package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Lru;
import io.cowfs.blockstore.store.Store;

/**
 * Read access to one immutable snapshot: inodes by number, directory listings, block ids.
 * Thread-safe: inode pages (as bytes) and directories are cached in concurrent caches and never mutated, recently decoded inodes in an atomic array
 * (callers {@link Inode#copy()} before changing an inode).
 */
public final class SnapshotReader {
    private final Store store;
    private final ChunkId rootId;
    private final SnapshotRoot root;
    /*
     * Bounded by what they hold, not by how many pages or directories: a `find` over a snapshot of
     * 1M small files ran a mount's heap (then 384 MiB, now 1 GiB) out of memory when these were 4096
     * decoded inode pages (1M inodes, ~300 B of heap each with their lists and ids), 8192 directories of
     * any size and 1024 block-list pages of 2048 ids (2026-12-06). A walk meets an inode page or
     * a directory's entries in one stretch, so a smaller cache costs it little.
     */
    /** Inodes in all cached pages, kept as the pages' bytes (~100 B an inode): ~13 MiB. */
    static final long CACHED_INODES = 131_072;
    /** Entries of all cached directories (~30 B each with a name of 16 bytes): ~8 MiB. A larger directory is still kept, alone. */
    static final long CACHED_ENTRIES = 262_144;
    /** Block ids in all cached block-list pages (~72 B each): ~18 MiB, the lists of 16 GiB of files. */
    static final long CACHED_BLOCK_IDS = 262_144;

    private final Lru<ChunkId, SnapshotRoot.Page> inodePages;
    private final Lru<ChunkId, DirEntries> dirs;
    private final Lru<ChunkId, ChunkId[]> blockPages;

    public SnapshotReader(Store store, ChunkId rootId) {
        this(store, rootId, CACHED_INODES, CACHED_ENTRIES, CACHED_BLOCK_IDS);
    }

    /** With other bounds for the caches (tests): inodes, directory entries, block ids. */
    SnapshotReader(Store store, ChunkId rootId, long inodes, long entries, long blockIds) {
        this.store = store;
        this.rootId = rootId;
        this.root = SnapshotRoot.decode(store.get(rootId));
        this.inodePages = new Lru<>(inodes, page -> page.slots() + 1);
        this.dirs = new Lru<>(entries, d -> d.size() + 1);
        this.blockPages = new Lru<>(blockIds, page -> page.length + 1);
    }

    public Store store() {
        return store;
    }

    /** Drops the decoded pages and directories (an idle mount gives their heap back; they are read again when needed). */
    public void dropCaches() {
        for (int i = 0; i < RECENT; i++) {
            recent.set(i, null);
        }
        inodePages.invalidateAll();
        dirs.invalidateAll();
        blockPages.invalidateAll();
    }

    /** Inodes, directory entries and block ids cached now (for tests). */
    public long[] cached() {
        return new long[] {inodePages.sum(p -> p.slots()), dirs.sum(d -> d.size()), blockPages.sum(p -> p.length)};
    }

    public ChunkId rootId() {
        return rootId;
    }

    public SnapshotRoot root() {
        return root;
    }

    public long maxIno() {
        return root.maxIno();
    }

    /**
     * Inodes decoded lately, by number modulo the length: one file's LOOKUP, GETATTR and READs ask
     * for it within moments (a cold cat of 100K files spent 0.3 s more CPU decoding each time), and
     * a walk's inodes, overwritten a few thousand inodes later, still die young.
     */
    private final java.util.concurrent.atomic.AtomicReferenceArray<Inode> recent = new java.util.concurrent.atomic.AtomicReferenceArray<>(RECENT);
    static final int RECENT = 4096;

    /** The inode, or null if the snapshot has no such inode. Shared: copy before changing. */
    public Inode inode(long ino) {
        int k = (int) (ino & (RECENT - 1));
        Inode n = recent.get(k);
        if (n != null && n.ino == ino) {
            return n;
        }
        SnapshotRoot.Page p = page(ino);
        int slot = (int) (ino % SnapshotRoot.INODES_PER_PAGE);
        n = p != null && slot < p.slots() ? p.inode(slot) : null;
        if (n != null) {
            recent.set(k, n);
        }
        return n;
    }

    /**
     * {@link Inode#reportedIno()} of the inode, or 0 if the snapshot has no such inode (a host's
     * inode number may be negative as a long, never 0); nothing else is decoded.
     */
    public long reportedIno(long ino) {
        SnapshotRoot.Page p = page(ino);
        int slot = (int) (ino % SnapshotRoot.INODES_PER_PAGE);
        return p != null && slot < p.slots() ? p.reportedIno(slot) : 0;
    }

    private SnapshotRoot.Page page(long ino) {
        long page = ino / SnapshotRoot.INODES_PER_PAGE;
        if (ino <= 0 || page >= root.inodePages().size()) {
            return null;
        }
        return pageAt((int) page);
    }

    /** Inode page number p (0 <= p < the root's page count), from the cache or read now. */
    private SnapshotRoot.Page pageAt(int p) {
        return inodePages.get(root.inodePages().get(p), id -> SnapshotRoot.scanPage(store.get(id)));
    }

    /**
     * Reads the first inode pages of the snapshot, up to maxInodes inodes (rounded up to a whole
     * page of {@link SnapshotRoot#INODES_PER_PAGE}), and the directories among their inodes into the
     * caches, in inode order (a depth-first walk in name order, the order of a `find` and of git's
     * index). It stops when stop says so, and before either cache would hold more than half of
     * what it may: a directory that would take the entries past half is decoded but not kept, and
     * ends the warm-up (a warm-up must not push out what readers use). Returns how many inode
     * slots it went through and how many directory entries are cached after it (read by it, or by a
     * request that got there first: a walk racing the warm-up, MountWarmIT in CI). Safe beside readers: the
     * caches are concurrent.
     */
    public long[] warm(long maxInodes, java.util.function.BooleanSupplier stop) {
        long inodes = 0;
        long entries = 0;
        int pages = root.inodePages().size();
        for (int p = 0; p < pages && inodes < maxInodes && !stop.getAsBoolean(); p++) {
            if (inodePages.weight() + SnapshotRoot.INODES_PER_PAGE + 1 > inodePages.capacity() / 2) {
                break;
            }
            SnapshotRoot.Page page = pageAt(p);
            for (int slot = 0; slot < page.slots(); slot++) {
                if (stop.getAsBoolean()) {
                    return new long[] {inodes, entries};
                }
                inodes++;
                if (!page.isDirectory(slot)) {
                    continue;
                }
                ChunkId id = page.inode(slot).dirObject;
                if (id == null) {
                    continue;
                }
                DirEntries cached = dirs.getIfPresent(id);
                if (cached != null) { // a request of the mount read it first: warm all the same, and counted
                    entries += cached.size();
                    continue;
                }
                DirEntries d = DirObject.decode(store.get(id));
                if (dirs.weight() + d.size() + 1 > dirs.capacity() / 2) {
                    return new long[] {inodes, entries};
                }
                dirs.put(id, d);
                entries += d.size();
            }
        }
        return new long[] {inodes, entries};
    }

    /** The entries of a directory object (empty for null); shared (immutable). */
    public DirEntries dir(ChunkId dirObject) {
        if (dirObject == null) {
            return DirEntries.EMPTY;
        }
        return dirs.get(dirObject, id -> DirObject.decode(store.get(id)));
    }

    public DirEntries dir(Inode dirInode) {
        return dir(dirInode.dirObject);
    }

    /** Block index i of a regular file per its own page list, or null for a hole. */
    public ChunkId block(Inode file, long i) {
        ChunkId[] entries = listedPage(file, i);
        int slot = (int) (i % BlockList.PAGE);
        return entries != null && slot < entries.length ? entries[slot] : null;
    }

    /** True if block i lies in the file's own page list as a hole (not merely past its end). */
    public boolean listsHole(Inode file, long i) {
        ChunkId[] entries = listedPage(file, i);
        int slot = (int) (i % BlockList.PAGE);
        return entries != null && slot < entries.length && entries[slot] == null;
    }

    /** The page of the file's block list that holds block i, or null if i lies past the list. */
    private ChunkId[] listedPage(Inode file, long i) {
        return i >= file.validBlocks ? null : listPage(file, i / BlockList.PAGE);
    }

    /**
     * Page number page of the file's block list (its inline entries for page 0 of an inline list),
     * or null past the list; validBlocks is the caller's to apply.
     */
    public ChunkId[] listPage(Inode file, long page) {
        if (file.inlineBlocks != null) {
            return page == 0 ? file.inlineBlocks : null;
        }
        return page < file.blockPages.size() ? blockPage(file.blockPages.get((int) page)) : null;
    }

    public ChunkId[] blockPage(ChunkId pageId) {
        return blockPages.get(pageId, id -> BlockList.decodePage(store.get(id)));
    }
}
