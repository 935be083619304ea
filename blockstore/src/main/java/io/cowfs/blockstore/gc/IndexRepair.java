package io.cowfs.blockstore.gc;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.store.LmdbPages;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.view.ViewDelta;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * fsck's part for a damaged index (docs/INDEX-DAMAGE.md): what the salvage lost, and the repair
 * sequence, rebuild -> reopen -> lost+found. A store whose index is damaged opens on a salvaged,
 * read-only copy; {@link Fsck} then checks the rest against that copy.
 */
public final class IndexRepair {
    /** The databases whose losses are reported, in report order. */
    private static final List<String> REPORTED = List.of("catalog", "vinode", "vdirent", "vblock", "meta", "chunks");

    /**
     * The store after a repair (the one passed in is closed) and what the repair did.
     *
     * @param store    the reopened store, on the rebuilt index
     * @param problems what was repaired, as findings
     */
    public record Repaired(Store store, List<Fsck.Problem> problems) {
    }

    private IndexRepair() {
    }

    /** What a salvage found: each damaged page, and per database how many entries were lost. */
    public static List<Fsck.Problem> damage(Store store, boolean repair) {
        List<Fsck.Problem> out = new ArrayList<>();
        var walk = store.index().salvaged().walk();
        for (String d : walk.damage) {
            out.add(new Fsck.Problem("index " + store.index().dataFile() + ": " + d, true, repair));
        }
        for (String db : REPORTED) {
            LmdbPages.Count c = walk.counts.get(db);
            if (c == null) {
                out.add(new Fsck.Problem("index: the record of the '" + db + "' database lay on a damaged page;"
                        + (db.equals("chunks") ? "" : " its entries are lost"), false, false));
            } else if (c.read() < c.recorded()) {
                if (db.equals("chunks")) {
                    out.add(new Fsck.Problem("index: " + (c.recorded() - c.read()) + " of " + c.recorded() + " chunk entries lay on damaged pages; "
                            + store.recoveredLocations() + " chunk locations were re-read from pack headers", true, repair));
                } else {
                    out.add(new Fsck.Problem("index: " + (c.recorded() - c.read()) + " of " + c.recorded() + " entries of the '" + db
                            + "' database lay on damaged pages and are lost", false, false));
                }
            }
        }
        return out;
    }

    /**
     * Replaces the damaged index by the salvaged copy, closes store (also if that fails) and opens it again with
     * reopen, then names again the snapshots a lost catalog no longer named ({@link LostAndFound}).
     */
    public static Repaired rebuild(Store store, Supplier<Store> reopen) {
        List<Fsck.Problem> out = new ArrayList<>();
        boolean catalogLost = !store.index().salvaged().lost("catalog").isEmpty();
        Path kept;
        try {
            kept = store.rebuildIndex();
        } finally {
            store.close();
        }
        out.add(new Fsck.Problem("the index was rebuilt from every entry that could be read"
                + " (the damaged one is kept as " + kept + "; delete it once satisfied)", true, true));
        Store reopened = reopen.get();
        try {
            if (catalogLost) {
                for (String n : LostAndFound.recover(reopened)) {
                    out.add(new Fsck.Problem("a snapshot root no name refers to is named '" + n
                            + "' (a name lost with the catalog, or one removed before the damage)", true, true));
                }
            }
        } catch (RuntimeException e) {
            reopened.close();
            throw e;
        }
        return new Repaired(reopened, out);
    }

    /** Views whose changes lay partly on damaged index pages (those files read as EIO). */
    public static List<Fsck.Problem> lostViewChanges(Store store) {
        List<Fsck.Problem> out = new ArrayList<>();
        for (CatalogEntry e : new Catalog(store).list()) {
            if (e.isView() && ViewDelta.lostInodes(store.index(), e.viewId()) != null) {
                out.add(new Fsck.Problem("view '" + e.name() + "': changes to some of its files lay on damaged index pages"
                        + " and are lost; those files read as EIO (copy out the rest, then rm the view)", false, false));
            }
        }
        return out;
    }
}
