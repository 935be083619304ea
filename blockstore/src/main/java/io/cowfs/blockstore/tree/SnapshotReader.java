package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Lru;
import io.cowfs.blockstore.store.Store;
import java.util.Collections;
import java.util.NavigableMap;

/**
 * Read access to one immutable snapshot: inodes by number, directory listings, block ids.
 * Thread-safe: decoded pages and directories are cached in concurrent caches and never mutated
 * (callers {@link Inode#copy()} before changing an inode).
 */
public final class SnapshotReader {
    private final Store store;
    private final ChunkId rootId;
    private final SnapshotRoot root;
    private final Lru<ChunkId, Inode[]> inodePages = Lru.ofSize(4096);
    private final Lru<ChunkId, NavigableMap<String, DirObject.Entry>> dirs = Lru.ofSize(8192);
    private final Lru<ChunkId, ChunkId[]> blockPages = Lru.ofSize(1024);

    public SnapshotReader(Store store, ChunkId rootId) {
        this.store = store;
        this.rootId = rootId;
        this.root = SnapshotRoot.decode(store.get(rootId));
    }

    public Store store() {
        return store;
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

    /** The inode, or null if the snapshot has no such inode. Shared: copy before changing. */
    public Inode inode(long ino) {
        long page = ino / SnapshotRoot.INODES_PER_PAGE;
        if (ino <= 0 || page >= root.inodePages().size()) {
            return null;
        }
        ChunkId pid = root.inodePages().get((int) page);
        Inode[] slots = inodePages.get(pid, id -> SnapshotRoot.decodePage(store.get(id)));
        int slot = (int) (ino % SnapshotRoot.INODES_PER_PAGE);
        return slot < slots.length ? slots[slot] : null;
    }

    /** The entries of a directory object (empty for null); shared and unmodifiable. */
    public NavigableMap<String, DirObject.Entry> dir(ChunkId dirObject) {
        if (dirObject == null) {
            return Collections.emptyNavigableMap();
        }
        return dirs.get(dirObject, id -> Collections.unmodifiableNavigableMap(DirObject.decode(store.get(id))));
    }

    public NavigableMap<String, DirObject.Entry> dir(Inode dirInode) {
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
