package io.cowfs.blockstore.view;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.BlockList;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.FileType;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotReader;
import io.cowfs.blockstore.tree.SnapshotRoot;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns a view's base snapshot plus its (persisted) delta into a new immutable snapshot root.
 * The cost is proportional to the delta: only the inode pages, block-list pages and directory
 * objects of changed inodes are rewritten; every other page is the base's, shared by id.
 * Sub-block deltas of the view are folded into whole chunks here.
 * The caller holds a {@link Store.Lease} until the new root is named in the catalog.
 */
public final class Freezer {
    private Freezer() {
    }

    /**
     * A block as a snapshot names it: a whole chunk. A sub-block delta is folded here (its base
     * with its pages applied, stored as a whole chunk; all zeros: a hole), as snapshot block lists
     * never name deltas (docs/FORMAT.md).
     */
    private static ChunkId fold(Store store, ViewDelta.State delta, ChunkId block) {
        if (block == null || !delta.deltaBases.containsKey(block)) {
            return block;
        }
        byte[] b = SubBlock.read(store::getOnce, block); // each base and link is wanted once: not into the heap cache
        return Store.isZero(b, 0, b.length) ? null : store.put(b);
    }

    /**
     * Gives out the block list of the first upTo blocks of now with the view's blocks ov over them,
     * one page at a time ({@link BlockList.Builder}): a page the view did not write is the base's
     * own page, by id. Without an array of upTo entries: a sparse VM image of 4 TiB with data at
     * its end (a GPT backup header) needed 256 MB and 10 s, and its snapshot through the agent
     * (256 MB heap) failed with "Java heap space".
     */
    private static void setPageByPage(Store store, SnapshotReader base, ViewDelta.State delta, Inode now,
            Map<Long, ChunkId> ov, long upTo, Inode out) {
        int page = BlockList.PAGE;
        TreeMap<Long, ChunkId> over = ov == null ? new TreeMap<>() : new TreeMap<>(ov);
        BlockList.Builder list = new BlockList.Builder(store);
        for (long p = 0; p * page < upTo; p++) {
            long from = p * page;
            int len = (int) Math.min(page, upTo - from);
            java.util.SortedMap<Long, ChunkId> mine = over.subMap(from, from + len);
            boolean listed = now.inlineBlocks != null ? p == 0 : p < now.blockPages.size();
            if (mine.isEmpty() && (!listed || from >= now.validBlocks)) { // wholly a hole: no need to ask block by block
                list.holes(len);
                continue;
            }
            if (mine.isEmpty() && now.inlineBlocks == null && p < now.blockPages.size() && from + len <= now.validBlocks) {
                ChunkId[] own = base.blockPage(now.blockPages.get((int) p));
                if (own.length == len) {
                    list.page(now.blockPages.get((int) p), own);
                    continue;
                }
            }
            ChunkId[] entries = new ChunkId[len];
            for (int i = 0; i < len; i++) {
                entries[i] = base.block(now, from + i);
            }
            for (Map.Entry<Long, ChunkId> e : mine.entrySet()) {
                entries[(int) (e.getKey() - from)] = fold(store, delta, e.getValue());
            }
            for (ChunkId c : entries) {
                list.add(c);
            }
        }
        list.finish(out);
    }

    public static ChunkId freeze(Store store, SnapshotReader base, ViewDelta.State delta) {
        int bs = store.blockSize();
        SnapshotRoot br = base.root();
        long files = br.files();
        long bytes = br.logicalBytes();
        TreeMap<Long, Inode> finals = new TreeMap<>();
        java.util.Set<Long> touched = new java.util.HashSet<>(delta.inodes.keySet());
        touched.addAll(delta.dirents.keySet());
        touched.addAll(delta.blocks.keySet());
        for (long ino : touched) {
            Inode before = base.inode(ino);
            Inode now = delta.inodes.containsKey(ino) ? delta.inodes.get(ino) : before;
            if (now != null && now.nlink == 0) {
                now = null; // an unlinked file that was still open
            }
            if (before != null && before.type == FileType.REGULAR) {
                files--;
                bytes -= before.size;
            }
            if (now == null) {
                finals.put(ino, null);
                continue;
            }
            Inode out = now.copy();
            if (out.type == FileType.REGULAR) {
                files++;
                bytes += out.size;
                long n = (out.size + bs - 1) / bs;
                Map<Long, ChunkId> ov = delta.blocks.get(ino);
                // the list stops at its last block (trailing holes are not stored: the size says how
                // long the file is), so it is built only that far: a sparse file of 16 TiB with
                // nothing written at its end took an array of 268M entries (1.1 GB, 6 s) to freeze
                long listed = now.inlineBlocks != null ? now.inlineBlocks.length : (long) now.blockPages.size() * BlockList.PAGE;
                long upTo = Math.min(n, Math.min(listed, now.validBlocks));
                if (ov != null) {
                    for (long idx : ov.keySet()) {
                        if (idx < n) {
                            upTo = Math.max(upTo, idx + 1);
                        }
                    }
                }
                if (upTo > Integer.MAX_VALUE - 8) {
                    throw new IllegalStateException("file too large to freeze: " + out.size);
                }
                if (upTo > BlockList.PAGE) {
                    setPageByPage(store, base, delta, now, ov, upTo, out);
                } else {
                    ChunkId[] list = new ChunkId[(int) upTo];
                    for (long i = 0; i < upTo; i++) {
                        list[(int) i] = base.block(now, i);
                    }
                    if (ov != null) {
                        for (Map.Entry<Long, ChunkId> e : ov.entrySet()) {
                            if (e.getKey() < upTo) {
                                list[e.getKey().intValue()] = fold(store, delta, e.getValue());
                            }
                        }
                    }
                    BlockList.set(store, out, list);
                }
                out.validBlocks = Inode.ALL_VALID;
            } else if (out.type == FileType.DIRECTORY) {
                TreeMap<String, DirObject.Entry> entries = base.dir(now.dirObject).toMap();
                Map<String, DirObject.Entry> ov = delta.dirents.get(ino);
                if (ov != null) {
                    for (Map.Entry<String, DirObject.Entry> e : ov.entrySet()) {
                        if (e.getValue() == null) {
                            entries.remove(e.getKey());
                        } else {
                            entries.put(e.getKey(), e.getValue());
                        }
                    }
                }
                out.dirObject = entries.isEmpty() ? null : store.put(DirObject.encode(entries));
            }
            finals.put(ino, out);
        }
        long maxIno = Math.max(br.maxIno(), finals.isEmpty() ? 0 : finals.lastKey());
        int per = SnapshotRoot.INODES_PER_PAGE;
        List<ChunkId> pages = new ArrayList<>(br.inodePages());
        long pageCount = maxIno / per + 1;
        while (pages.size() < pageCount) {
            pages.add(null);
        }
        // rewrite each page that holds a changed inode
        TreeMap<Long, List<Long>> byPage = new TreeMap<>();
        for (long ino : finals.keySet()) {
            byPage.computeIfAbsent(ino / per, k -> new ArrayList<>()).add(ino);
        }
        for (Map.Entry<Long, List<Long>> e : byPage.entrySet()) {
            long p = e.getKey();
            ChunkId old = pages.get((int) p);
            Inode[] slots = new Inode[per];
            if (old != null) {
                Inode[] o = SnapshotRoot.decodePage(store.get(old));
                System.arraycopy(o, 0, slots, 0, o.length);
            }
            for (long ino : e.getValue()) {
                slots[(int) (ino % per)] = finals.get(ino);
            }
            int len = per;
            while (len > 0 && slots[len - 1] == null) {
                len--;
            }
            pages.set((int) p, store.put(SnapshotRoot.encodePage(p, java.util.Arrays.copyOf(slots, len))));
        }
        for (int i = 0; i < pages.size(); i++) {
            if (pages.get(i) == null) {
                pages.set(i, store.put(SnapshotRoot.encodePage(i, new Inode[0])));
            }
        }
        return store.put(new SnapshotRoot(maxIno, files, bytes, pages).encode());
    }
}
