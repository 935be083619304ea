package io.cowfs.blockstore.gc;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.BlockList;
import io.cowfs.blockstore.tree.Inode;
import io.cowfs.blockstore.tree.SnapshotRoot;
import io.cowfs.blockstore.view.ViewDelta;
import io.cowfs.blockstore.view.Views;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Exact space accounting per snapshot and view (du): for every chunk, the set of names that
 * reach it, computed level by level over the object graph (roots, inode pages, block-list pages
 * and directories, blocks) so that each shared page is decoded once however many names share it.
 * A chunk reached by one name only is what removing that name (and gc) would free.
 */
public final class Usage {
    /** One name's numbers; bytes are stored (compressed, on-disk) bytes unless named logical. */
    public record Row(String name, boolean view, long files, long logicalBytes, long referencedBytes,
                      long sharedBytes, long exclusiveBytes, long chunks) {
    }

    private final Store store;

    public Usage(Store store) {
        this.store = store;
    }

    public List<Row> compute() {
        List<CatalogEntry> names = new Catalog(store).list();
        Map<ChunkId, BitSet> owners = new HashMap<>();
        Map<ChunkId, BitSet> level = new HashMap<>();
        ViewDelta delta = new ViewDelta(store.index());
        Map<ChunkId, BitSet> inodeLevel = new HashMap<>(); // block-list pages and directory objects
        Map<ChunkId, BitSet> blockLevel = new HashMap<>();
        for (int i = 0; i < names.size(); i++) {
            CatalogEntry e = names.get(i);
            or(level, e.root(), i);
            if (e.isView()) {
                ViewDelta.State s = store.index().read(txn -> delta.load(txn, e.viewId()));
                for (Inode n : s.inodes.values()) {
                    if (n != null) {
                        addInode(inodeLevel, n, bits(i));
                    }
                }
                for (var m : s.blocks.values()) {
                    for (ChunkId b : m.values()) {
                        if (b != null) {
                            or(blockLevel, b, i);
                        }
                    }
                }
            }
        }
        // roots -> inode pages
        Map<ChunkId, BitSet> pages = new HashMap<>();
        for (var r : level.entrySet()) {
            merge(owners, r.getKey(), r.getValue());
            for (ChunkId p : SnapshotRoot.decode(store.get(r.getKey())).inodePages()) {
                merge(pages, p, r.getValue());
            }
        }
        // inode pages -> block-list pages, directory objects
        for (var p : pages.entrySet()) {
            merge(owners, p.getKey(), p.getValue());
            for (Inode n : SnapshotRoot.decodePage(store.get(p.getKey()))) {
                if (n != null) {
                    addInode(inodeLevel, n, p.getValue());
                }
            }
        }
        // block-list pages -> blocks
        for (var x : inodeLevel.entrySet()) {
            merge(owners, x.getKey(), x.getValue());
        }
        for (var x : inodeLevel.entrySet()) {
            byte[] raw = store.get(x.getKey());
            if (raw.length > 0 && raw[0] == 'L') {
                for (ChunkId b : BlockList.decodePage(raw)) {
                    if (b != null) {
                        merge(blockLevel, b, x.getValue());
                    }
                }
            }
        }
        for (var x : blockLevel.entrySet()) {
            merge(owners, x.getKey(), x.getValue());
        }
        // sizes
        long[] referenced = new long[names.size()];
        long[] exclusive = new long[names.size()];
        long[] chunks = new long[names.size()];
        store.index().read(txn -> {
            for (var o : owners.entrySet()) {
                byte[] v = store.index().chunks.get(txn, o.getKey().bytes());
                long size = v == null ? 0 : ChunkLocation.decode(v).storedLen() + PackRecord.HEADER;
                BitSet b = o.getValue();
                boolean only = b.cardinality() == 1;
                for (int i = b.nextSetBit(0); i >= 0; i = b.nextSetBit(i + 1)) {
                    referenced[i] += size;
                    chunks[i]++;
                    if (only) {
                        exclusive[i] += size;
                    }
                }
            }
            return null;
        });
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            CatalogEntry e = names.get(i);
            long[] fb = Views.filesAndBytes(store, e);
            rows.add(new Row(e.name(), e.isView(), fb[0], fb[1], referenced[i], referenced[i] - exclusive[i], exclusive[i], chunks[i]));
        }
        return rows;
    }

    private static void addInode(Map<ChunkId, BitSet> into, Inode n, BitSet who) {
        if (n.dirObject != null) {
            merge(into, n.dirObject, who);
        }
        for (ChunkId lp : n.blockPages) {
            merge(into, lp, who);
        }
    }

    private static BitSet bits(int i) {
        BitSet b = new BitSet();
        b.set(i);
        return b;
    }

    private static void or(Map<ChunkId, BitSet> m, ChunkId id, int i) {
        m.computeIfAbsent(id, k -> new BitSet()).set(i);
    }

    private static void merge(Map<ChunkId, BitSet> m, ChunkId id, BitSet who) {
        BitSet b = m.get(id);
        if (b == null) {
            m.put(id, (BitSet) who.clone());
        } else {
            b.or(who);
        }
    }
}
