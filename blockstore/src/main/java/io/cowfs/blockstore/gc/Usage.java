package io.cowfs.blockstore.gc;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.view.ViewDelta;
import io.cowfs.blockstore.view.Views;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Exact space accounting per snapshot and view (du): for every chunk, the set of names that
 * reach it, computed level by level over the {@link ObjectGraph} (roots, inode pages, block-list
 * pages and directories, blocks) so that each shared page is decoded once however many names share it.
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
        Owners walk = new Owners();
        ObjectGraph graph = new ObjectGraph(store);
        ViewDelta delta = new ViewDelta(store.index());
        for (int i = 0; i < names.size(); i++) {
            CatalogEntry e = names.get(i);
            walk.name = i;
            graph.snapshot(e.root(), walk);
            if (e.isView()) {
                graph.delta(store.index().read(txn -> delta.load(txn, e.viewId())), walk);
            }
        }
        Map<ChunkId, BitSet> owners = walk.propagate();
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
            Views.Size size = Views.size(store, e);
            rows.add(new Row(e.name(), e.isView(), size.files(), size.logicalBytes(), referenced[i], referenced[i] - exclusive[i],
                    exclusive[i], chunks[i]));
        }
        return rows;
    }

    /**
     * du's visitor of the {@link ObjectGraph}: one walk of the union of all names (a shared page
     * is read once), remembering which page refers to what and which name refers to what directly;
     * then the names are pushed down level by level (roots, inode pages, block-list pages), so
     * each chunk ends with the set of names that reach it.
     */
    private static final class Owners implements ObjectGraph.Visitor {
        int name; // the catalog entry being walked
        private final Map<ChunkId, BitSet> owners = new HashMap<>();
        private final Set<ChunkId> visited = new HashSet<>();
        private final Map<ChunkId, List<ChunkId>> refs = new HashMap<>(); // page -> what it refers to
        private final Map<ObjectGraph.Kind, List<ChunkId>> pagesByKind = new EnumMap<>(ObjectGraph.Kind.class);

        @Override
        public ObjectGraph.Step enter(ObjectGraph.Kind kind, ChunkId id, ChunkId from) {
            if (from == null) {
                owners.computeIfAbsent(id, k -> new BitSet()).set(name);
            } else {
                refs.get(from).add(id);
            }
            if (!visited.add(id)) {
                return ObjectGraph.Step.SKIP;
            }
            if (kind.page()) {
                refs.put(id, new ArrayList<>());
                pagesByKind.computeIfAbsent(kind, k -> new ArrayList<>()).add(id);
            }
            return ObjectGraph.Step.WALK;
        }

        Map<ChunkId, BitSet> propagate() {
            for (ObjectGraph.Kind level : List.of(ObjectGraph.Kind.ROOT, ObjectGraph.Kind.INODE_PAGE, ObjectGraph.Kind.BLOCK_PAGE)) {
                for (ChunkId page : pagesByKind.getOrDefault(level, List.of())) {
                    BitSet who = owners.get(page);
                    for (ChunkId ref : refs.get(page)) {
                        merge(owners, ref, who);
                    }
                }
            }
            return owners;
        }
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
