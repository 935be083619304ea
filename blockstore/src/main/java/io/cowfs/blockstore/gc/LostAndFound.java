package io.cowfs.blockstore.gc;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.Packs;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.tree.SnapshotRoot;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Names again the snapshots a damaged catalog lost. Every snapshot root is an object in the
 * packs ('S', docs/FORMAT.md); one that no catalog entry names, decodes, and whose inode pages
 * the index has, is added as snapshot "lost+found-HEX". Views cannot be recovered this way (their
 * changes are keyed by a view id their lost entry held). A root removed before the damage whose
 * records gc had not reclaimed yet comes back too: a name too many, never a byte lost.
 */
public final class LostAndFound {
    private LostAndFound() {
    }

    /** Adds a snapshot for every unnamed root found; returns the names added. */
    public static List<String> recover(Store store) {
        Catalog catalog = new Catalog(store);
        Set<ChunkId> named = new HashSet<>();
        for (CatalogEntry e : catalog.list()) {
            named.add(e.root());
        }
        Map<ChunkId, ChunkLocation> roots = new LinkedHashMap<>();
        Packs packs = store.packs();
        for (long p : packs.list()) {
            List<Packs.Record> records = new ArrayList<>();
            try {
                packs.scan(p, records::add);
            } catch (IOException e) {
                continue; // an unreadable pack: fsck names it
            }
            for (Packs.Record r : records) {
                if (named.contains(r.id()) || roots.containsKey(r.id())) {
                    continue;
                }
                ChunkLocation loc = new ChunkLocation(p, r.offset(), r.storedLen(), r.rawLen(), 0);
                try {
                    byte[] raw = packs.read(r.id(), loc);
                    if (raw.length == 0 || raw[0] != 'S') {
                        continue;
                    }
                    SnapshotRoot root = SnapshotRoot.decode(raw);
                    if (root.inodePages().stream().allMatch(id -> store.locate(id) != null)) {
                        roots.put(r.id(), loc);
                    }
                } catch (IOException | RuntimeException e) {
                    // not a root, or not a whole one
                }
            }
        }
        List<String> added = new ArrayList<>();
        for (ChunkId id : roots.keySet()) {
            String name = "lost+found-" + id.hex().substring(0, 12);
            catalog.addSnapshot(name, id, "-", "recovered by fsck --repair");
            added.add(name);
        }
        return added;
    }
}
