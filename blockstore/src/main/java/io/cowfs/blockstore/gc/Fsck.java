package io.cowfs.blockstore.gc;

import io.cowfs.blockstore.catalog.Catalog;
import io.cowfs.blockstore.catalog.CatalogEntry;
import io.cowfs.blockstore.run.MountRecord;
import io.cowfs.blockstore.run.MountRegistry;
import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.Db;
import io.cowfs.blockstore.store.LeasesTable;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.Packs;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreAccess;
import io.cowfs.blockstore.store.StoreException;
import io.cowfs.blockstore.store.Verifier;
import io.cowfs.blockstore.store.ViewTable;
import io.cowfs.blockstore.tree.DirObject;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongConsumer;
import org.lmdbjava.PutFlags;

/**
 * Structural check of a store: the index against the pack files (every entry's record header
 * present and matching), every object reachable from the catalog present and decodable, view
 * deltas matching catalog entries, leases and run/ records of dead processes. With repair, fixes
 * what needs no guessing: an index entry re-pointed to another intact copy of the same chunk
 * found in the packs (its hash is checked), orphan view deltas dropped, dead leases and stale
 * run/ files removed. It never invents data. Given {@link Copies} (a remote: {@code fsck --from
 * NAME}), it also re-hashes every chunk, as verify does, and replaces each damaged or lost chunk
 * that has no intact copy in the packs by the copy from there, checked against its id.
 */
public final class Fsck {
    /**
     * One finding; repaired says whether --repair fixed it. A harmless finding is what a crash
     * normally leaves behind (a mount record or lease of a dead process, an unfinished pack file):
     * nothing reads it as live, so it is reported but does not make the store unclean.
     */
    public record Problem(String what, boolean repairable, boolean repaired, boolean harmless) {
        public Problem(String what, boolean repairable, boolean repaired) {
            this(what, repairable, repaired, false);
        }
    }

    public record Report(long chunks, long packs, long names, long orphanRecords, long orphanBytes, List<Problem> problems,
            List<Fetched> fetched) {
        public boolean clean() {
            return problems.stream().allMatch(p -> p.repaired() || p.harmless());
        }
    }

    /** Somewhere else that may hold intact copies of chunks (a remote). */
    public interface Copies {
        /** For messages: "remote NAME". */
        String describe();

        /** Whether a copy of the chunk is there (no data is fetched). */
        boolean has(ChunkId id);

        /**
         * Fetches the whole pack records (header and payload, not checked yet) of ids, all of which
         * {@link #has} said are there, a batch at a time: each batch goes to stored before the next
         * is fetched, so that memory holds one. An id whose copy cannot be had goes to failed, with
         * why. Both are called on the caller's thread.
         */
        void fetch(List<ChunkId> ids, java.util.function.Consumer<Map<ChunkId, byte[]>> stored,
                java.util.function.BiConsumer<ChunkId, String> failed);

        /** What was fetched from here so far. */
        Fetched fetched();
    }

    /** Records fetched from a copy (fsck reports it): how many, their bytes, in how many requests. */
    public record Fetched(String from, long chunks, long bytes, long requests) {
    }

    private final Store store;
    private final boolean repair;
    private final List<Copies> copies;
    private final List<Problem> problems = new ArrayList<>();
    /** What {@link #intact} found for each record it read: the lost-chunk pass and the per-name pass ask for the same ones. */
    private final Map<Found, Boolean> intactRecords = new HashMap<>();

    public Fsck(Store store, boolean repair) {
        this(store, repair, List.of());
    }

    /** With copies, damaged and lost chunks are looked for there too (and every chunk is re-hashed). */
    public Fsck(Store store, boolean repair, List<Copies> copies) {
        this.store = store;
        this.repair = repair;
        this.copies = List.copyOf(copies);
    }

    /** What {@link #run} reports progress in: packs and names, and with copies every chunk it re-hashes. */
    public long steps() {
        return store.packs().list().size() + new Catalog(store).list().size() + (copies.isEmpty() ? 0 : Verifier.count(store));
    }

    private void problem(String what, boolean repairable, boolean repaired) {
        problems.add(new Problem(what, repairable, repaired));
    }

    /** A crash leftover: reported, cleared by --repair, never a reason to fail. */
    private void leftover(String what) {
        problems.add(new Problem(what, true, repair, true));
    }

    /**
     * Files and directories more open than the store's access (docs/SECURITY.md): a store made
     * readable by others leaks every snapshot through its packs. --repair sets the store's modes.
     */
    private void checkModes() {
        try {
            StoreAccess access = store.access();
            for (StoreAccess.Finding f : access.check(store.dir(), repair)) {
                problem(f.path() + " is " + f.why() + " (mode " + Integer.toOctalString(f.mode()) + ", the store's is "
                        + Integer.toOctalString(f.expected()) + (access.shared() ? ", group " + access.group() : "") + ")",
                        true, repair);
            }
        } catch (IOException e) {
            problem("cannot check the modes of " + store.dir() + ": " + e.getMessage(), false, false);
        }
    }

    /** A valid-looking record found by scanning the packs. */
    private record Found(long pack, long offset, int storedLen, int rawLen) {
    }

    public Report run(LongConsumer progress) {
        checkModes();
        Packs packs = store.packs();
        // 1. one consistent snapshot of the index: chunk entries, names, what each name reaches,
        // and delta ids, all read in a single transaction, so that a mount committing meanwhile
        // (new chunks together with the delta entries naming them) cannot make a name seem to
        // need a chunk the index lacks. One walk serves all names: each shared page is read once
        // and its findings are added to every name that reaches it (ReachCheck).
        Map<ChunkId, ChunkLocation> index = new HashMap<>();
        List<CatalogEntry> names = new ArrayList<>();
        Map<String, ReachCheck.Findings> findings = new HashMap<>();
        Set<Long> deltaIds = new HashSet<>();
        store.index().read(txn -> {
            index.clear(); // read() runs this again after an index resize
            names.clear();
            findings.clear();
            deltaIds.clear();
            for (var kv : store.index().chunks.iterate(txn)) {
                index.put(ChunkId.of(kv.key()), ChunkLocation.decode(kv.val()));
            }
            names.addAll(new Catalog(store).list(txn));
            // a lazily pulled snapshot's chunks may be on its remote (rchunks) instead: not missing
            Set<ChunkId> known = new HashSet<>(index.keySet());
            for (var kv : store.index().rchunks.iterate(txn)) {
                known.add(ChunkId.of(kv.key()));
            }
            ReachCheck check = new ReachCheck(store, known);
            for (CatalogEntry e : names) {
                findings.put(e.name(), check.entry(txn, e));
                progress.accept(1);
            }
            for (var db : Db.OF_VIEWS.stream().map(store.index()::table).toList()) {
                long last = -1;
                for (var kv : db.iterate(txn)) {
                    long v = ViewTable.viewId(kv.key());
                    if (v != last) {
                        deltaIds.add(v);
                        last = v;
                    }
                }
            }
            return null;
        });
        // 2. scan every pack's record headers; after the snapshot, so that every record it names
        // was appended (records are appended before the commit that names them)
        Map<ChunkId, List<Found>> found = new HashMap<>(); // every copy of each id, in scan order
        List<Map.Entry<ChunkId, Found>> records = new ArrayList<>(); // every record, duplicates too
        Map<Long, Long> packSizes = new HashMap<>();
        for (long p : packs.list()) {
            scanPack(p, found, records, packSizes);
            progress.accept(1);
        }
        // 3. index entries against the packs
        Map<ChunkId, ChunkLocation> fixes = new HashMap<>();
        Map<ChunkId, String> damaged = new java.util.LinkedHashMap<>(); // no intact copy in the packs: what is wrong
        for (var e : index.entrySet()) {
            ChunkId id = e.getKey();
            ChunkLocation loc = e.getValue();
            String bad = checkHeader(id, loc, packSizes);
            if (bad == null) {
                continue;
            }
            ChunkLocation now = store.locate(id);
            if (now == null || now.pack() != loc.pack() || now.offset() != loc.offset()) {
                continue; // moved or collected by a gc since the snapshot: not damage
            }
            Found f = intactCopy(found, id, loc);
            boolean fixable = f != null;
            if (fixable && repair) {
                fixes.put(id, new ChunkLocation(f.pack(), f.offset(), f.storedLen(), f.rawLen(), loc.gen()));
            }
            if (!fixable && !copies.isEmpty()) {
                damaged.put(id, bad);
                continue; // looked for elsewhere below
            }
            problem("chunk " + id.hex() + ": " + bad + (fixable ? "; an intact copy exists in " + Packs.fileName(f.pack()) : "; no other copy"),
                    fixable, fixable && repair);
        }
        if (!fixes.isEmpty()) {
            store.index().write(txn -> {
                fixes.forEach((id, loc) -> store.index().chunks.put(txn, id.bytes(), loc.encode()));
                return null;
            });
            index.putAll(fixes);
        }
        // 3b. with copies elsewhere: every chunk's hash (damage the headers do not show), and
        // what is damaged replaced from there
        if (!copies.isEmpty()) {
            for (Verifier.Problem p : Verifier.run(store, progress).problems()) {
                if (!fixes.containsKey(p.id()) && !damaged.containsKey(p.id())) {
                    String prefix = "chunk " + p.id().shortHex() + ": ";
                    damaged.put(p.id(), p.message().startsWith(prefix) ? p.message().substring(prefix.length()) : p.message());
                }
            }
            Map<ChunkId, Healed> healed = heal(damaged.keySet());
            damaged.forEach((id, bad) -> {
                Healed h = healed.get(id);
                boolean fixable = h != null && h.ok();
                problem("chunk " + id.hex() + ": " + bad + "; " + (fixable ? "an intact copy is on " + h.text()
                        : h != null ? h.text() : "no other copy here or on " + describeCopies()), fixable, fixable && repair);
                if (fixable && repair) {
                    index.put(id, store.locate(id));
                }
            });
        }
        // 4. everything reachable from the catalog is indexed, and objects decode
        Set<Long> viewIds = new HashSet<>();
        Map<ChunkId, String> dirErrors = new HashMap<>(); // "" = decoded fine
        // lost chunks without an intact record in the packs are looked for in the copies together
        Map<ChunkId, Healed> lostHealed = Map.of();
        if (!copies.isEmpty()) {
            Set<ChunkId> lost = new java.util.LinkedHashSet<>();
            for (CatalogEntry e : names) {
                for (ChunkId id : findings.get(e.name()).missing()) {
                    if (!index.containsKey(id) && intactCopy(found, id, null) == null) {
                        lost.add(id);
                    }
                }
            }
            lostHealed = heal(lost);
        }
        for (CatalogEntry e : names) {
            String what = (e.isView() ? "view '" : "snapshot '") + e.name() + "'";
            if (e.isView() && !viewIds.add(e.viewId())) {
                problem("view '" + e.name() + "' shares its delta id " + e.viewId() + " with another view", false, false);
            }
            ReachCheck.Findings r = findings.get(e.name());
            if (r.error() != null) {
                problem(what + " cannot be walked: " + r.error(), false, false);
            }
            // directory objects are not needed by the walk, but a listing needs them whole; those
            // that failed to decode in the walk are read again, after the index fixes of step 3
            for (ChunkId d : r.badDirs()) {
                String bad = dirErrors.computeIfAbsent(d, id -> {
                    try {
                        DirObject.decode(store.get(id));
                        return "";
                    } catch (StoreException ex) {
                        return ex.getMessage();
                    }
                });
                if (!bad.isEmpty()) {
                    problem(what + " has an unreadable directory object: " + bad, false, false);
                }
            }
            for (ChunkId id : r.missing()) {
                if (!index.containsKey(id)) { // a repair for an earlier name may have indexed it
                    Found f = intactCopy(found, id, null);
                    boolean fixable = f != null;
                    if (fixable && repair) {
                        store.index().write(txn -> store.index().chunks.put(txn, id.bytes(),
                                new ChunkLocation(f.pack(), f.offset(), f.storedLen(), f.rawLen(), 0).encode(), PutFlags.MDB_NOOVERWRITE));
                        index.put(id, new ChunkLocation(f.pack(), f.offset(), f.storedLen(), f.rawLen(), 0));
                    }
                    Healed h = fixable ? null : lostHealed.get(id);
                    String where = fixable ? Packs.fileName(f.pack()) : null;
                    if (h != null && h.ok()) {
                        fixable = true;
                        where = h.text();
                        if (repair) {
                            index.put(id, store.locate(id));
                        }
                    }
                    problem("'" + e.name() + "' needs chunk " + id.hex() + " which the index lacks"
                            + (fixable ? " (found intact " + (h != null ? "on " : "in ") + where + ")"
                            : h != null ? "; " + h.text() : ""), fixable, fixable && repair);
                }
            }
        }
        // 5. view deltas without a catalog entry
        deltaIds.removeAll(viewIds);
        for (long orphan : deltaIds) {
            if (repair) {
                store.index().write(txn -> {
                    new io.cowfs.blockstore.view.ViewDelta(store.index()).drop(txn, orphan);
                    return null;
                });
            }
            problem("delta of view id " + orphan + " belongs to no name (left by an interrupted rm)", true, repair);
        }
        // 6. leases and run/ records of dead processes
        long leases = store.index().read(txn -> store.index().leases.stat(txn).entries);
        long live = store.index().read(txn -> {
            long n = 0;
            for (var kv : store.index().leases.iterate(txn)) {
                long pid = LeasesTable.decode(kv.val()).pid();
                if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                    n++;
                }
            }
            return n;
        });
        if (leases > live) {
            if (repair) {
                store.index().write(store::leaseFloor);
            }
            leftover((leases - live) + " lease(s) of dead processes");
        }
        staleRunFiles();
        long orphanRecords = 0;
        long orphanBytes = 0;
        for (var r : records) {
            ChunkLocation l = index.get(r.getKey());
            Found f = r.getValue();
            if (l == null || l.pack() != f.pack() || l.offset() != f.offset()) {
                orphanRecords++;
                orphanBytes += f.storedLen() + PackRecord.HEADER;
            }
        }
        return new Report(index.size(), packSizes.size(), names.size(), orphanRecords, orphanBytes, List.copyOf(problems),
                copies.stream().map(Copies::fetched).filter(f -> f.chunks() > 0).toList());
    }

    /**
     * The first copy of id found in the packs that reads intact, other than the one at not (null:
     * any), or null. Not only the first copy: a record torn by a crash can have a whole header
     * (one appended over zeros prepared for fsyncs, docs/FORMAT.md), and rot can hit any copy.
     */
    private Found intactCopy(Map<ChunkId, List<Found>> found, ChunkId id, ChunkLocation not) {
        for (Found f : found.getOrDefault(id, List.of())) {
            if ((not == null || f.pack() != not.pack() || f.offset() != not.offset()) && intact(id, f)) {
                return f;
            }
        }
        return null;
    }

    private boolean intact(ChunkId id, Found f) {
        return intactRecords.computeIfAbsent(f, k -> {
            try {
                store.packs().read(id, new ChunkLocation(f.pack(), f.offset(), f.storedLen(), f.rawLen(), 0));
                return true;
            } catch (StoreException | IOException e) {
                return false;
            }
        });
    }

    private String describeCopies() {
        return String.join(", ", copies.stream().map(Copies::describe).toList());
    }

    /** Where a damaged or lost chunk's copy is (ok) or why none could be used. */
    private record Healed(boolean ok, String text) {
    }

    /**
     * Looks for each chunk in the copies, in order; with repair, fetches the copies found and
     * stores them (each checked against its id: one that fails is looked for in the next copies).
     * Ids found nowhere are left out of the answer.
     */
    private Map<ChunkId, Healed> heal(Set<ChunkId> ids) {
        Map<ChunkId, Healed> out = new HashMap<>();
        Set<ChunkId> left = new java.util.LinkedHashSet<>(ids);
        for (Copies c : copies) {
            List<ChunkId> there = new ArrayList<>();
            for (ChunkId id : left) {
                try {
                    if (c.has(id)) {
                        if (repair) {
                            there.add(id);
                        } else {
                            out.put(id, new Healed(true, c.describe()));
                        }
                    }
                } catch (RuntimeException ex) {
                    out.put(id, new Healed(false, "the copy on " + c.describe() + " cannot be had: " + ex.getMessage()));
                }
            }
            if (!there.isEmpty()) {
                c.fetch(there, batch -> {
                    Map<ChunkId, String> bad = store.replaceRecords(batch, c.describe());
                    for (ChunkId id : batch.keySet()) {
                        String why = bad.get(id);
                        out.put(id, why == null ? new Healed(true, c.describe()) : new Healed(false, "the copy on " + c.describe() + " is damaged too: " + why));
                    }
                }, (id, why) -> out.put(id, new Healed(false, "the copy on " + c.describe() + " cannot be had: " + why)));
            }
            out.forEach((id, h) -> {
                if (h.ok()) {
                    left.remove(id);
                }
            });
        }
        return out;
    }

    private String checkHeader(ChunkId id, ChunkLocation loc, Map<Long, Long> packSizes) {
        Long size = packSizes.get(loc.pack());
        if (size == null) {
            return "its pack " + Packs.fileName(loc.pack()) + " is missing";
        }
        if (loc.offset() + PackRecord.HEADER + loc.storedLen() > size) {
            return "its record at " + Packs.fileName(loc.pack()) + " offset " + loc.offset() + " runs past the end of the pack (truncated)";
        }
        try (FileChannel ch = FileChannel.open(store.packs().path(loc.pack()), StandardOpenOption.READ)) {
            PackRecord h = PackRecord.readHeader(ch, loc.offset());
            if (h == null) {
                return "no record header at " + Packs.fileName(loc.pack()) + " offset " + loc.offset();
            }
            if (!h.matches(id, loc)) {
                return "the record at " + Packs.fileName(loc.pack()) + " offset " + loc.offset() + " does not match the index";
            }
            return null;
        } catch (IOException e) {
            return "cannot read " + Packs.fileName(loc.pack()) + ": " + e.getMessage();
        }
    }

    private void scanPack(long pack, Map<ChunkId, List<Found>> found, List<Map.Entry<ChunkId, Found>> records, Map<Long, Long> sizes) {
        Path p = store.packs().path(pack);
        try {
            sizes.put(pack, Files.size(p));
            store.packs().scan(pack, r -> {
                Found f = new Found(pack, r.offset(), r.storedLen(), r.rawLen());
                found.computeIfAbsent(r.id(), k -> new ArrayList<>(1)).add(f);
                records.add(Map.entry(r.id(), f));
            }); // a damaged or torn tail stops the scan: the index check names what it affects
        } catch (IOException e) {
            problem("cannot read pack " + p + ": " + e.getMessage(), false, false);
        }
    }

    private void staleRunFiles() {
        try {
            for (MountRecord m : MountRegistry.of(store).recordsOrThrow()) {
                if (!m.alive()) {
                    if (repair) {
                        Files.deleteIfExists(m.file());
                    }
                    leftover("stale mount record " + m.file().getFileName() + " (pid " + m.pid() + " is gone; was " + m.mountpoint() + ")");
                }
            }
        } catch (IOException e) {
            problem("cannot read " + store.dir().resolve("run") + ": " + e.getMessage(), false, false);
        }
        try (var s = Files.list(store.packs().dir())) {
            for (Path f : (Iterable<Path>) s::iterator) {
                if (f.getFileName().toString().endsWith(".pack.new")) {
                    if (repair) {
                        Files.deleteIfExists(f);
                    }
                    leftover("unfinished pack file " + f.getFileName() + " (a writer died while creating it)");
                }
            }
        } catch (IOException e) {
            problem("cannot list packs: " + e.getMessage(), false, false);
        }
    }

}
