package io.cowfs.fusefs.kernel;

import io.cowfs.blockstore.store.Lru;
import io.cowfs.fusefs.vfs.Dirents;
import io.cowfs.fusefs.vfs.Errno;
import io.cowfs.fusefs.vfs.FsException;
import io.cowfs.fusefs.vfs.NodeFs;
import io.cowfs.fusefs.vfs.Stat;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * READDIR and READDIRPLUS. A writable view's open directory (OPENDIR handle) keeps the listing
 * taken at offset 0, so a directory changed while it is read never skips or repeats other entries;
 * a read-only tree has no OPENDIR (the kernel caches its listings) and its listings, immutable, are
 * kept by directory in a small cache any worker may reuse. The open map is concurrent
 * (each use is one atomic operation); the two caches are {@link Lru}s, each guarded by its own monitor.
 *
 * <p>A view's directories are opened with FOPEN_CACHE_DIR: the kernel keeps a listing in the
 * directory's page cache and serves later streams from it, their offsets those of the listing that
 * filled it, without a READDIR. If those pages are reclaimed while such a stream is read (memory
 * pressure, drop_caches), the kernel asks this mount to go on at the stream's offset, with a handle
 * that never read here: that offset counts entries of the listing that filled the cache, so it is
 * continued in that listing (the directory's latest listing from offset 0, {@link #latest}). A
 * listing taken afresh would skip as many entries as were removed meanwhile (`rm -rf` of a large
 * directory under memory pressure then failed with ENOTEMPTY).
 */
final class Listings {
    private static final byte[] DOT = {'.'};
    private static final byte[] DOTDOT = {'.', '.'};

    /**
     * A directory's entries as one readdir stream sees them ("." and ".." come first, not stored);
     * stats: each entry's attributes when the listing was read ahead of its stream ({@link
     * #prepare}; null in a slot whose getattr failed), else null; generation: the vfs's when it was
     * read (a view's entries and stats are used as they are only while the vfs still has it).
     */
    private record Listing(long dir, Dirents entries, Stat[] stats, long generation) {
        Listing(long dir, Dirents entries) {
            this(dir, entries, null, 0);
        }
    }

    private final NodeFs vfs;
    private final boolean readOnly;
    private final Map<Long, Listing> open = new ConcurrentHashMap<>();
    private final AtomicLong nextHandle = new AtomicLong(1);
    /**
     * Listings of a read-only tree, immutable, by directory; and per directory of a view, the
     * listing its latest stream from offset 0 took: the one whose offsets the kernel's cache of it
     * holds. Each bounded in weight: a directory weighs its entries and {@link #DIR_WEIGHT}, so
     * each holds at most {@link #CACHED_WEIGHT} entries, or 1,024 empty directories (1,024
     * directories of 1,000 entries held ~60 MiB of a mount's heap, then 384 MiB: a find over 1M
     * files ran it out of memory with the rest, 2026-12-06). A directory larger than that is still
     * kept, alone.
     */
    private final Lru<Long, Listing> snapshot;
    private final Lru<Long, Listing> latest;
    /** A view's listings read ahead, with their attributes, for the stream that starts next (taken by it). */
    private final Lru<Long, Listing> ready;
    /** Read-only listings being made now, so that a stream waits for the read-ahead's instead of making its own. */
    private final Map<Long, CompletableFuture<Listing>> making = new ConcurrentHashMap<>();
    /** Read-ahead across directories, once the mount serves (null: none). */
    volatile DirAhead ahead;
    /** Streams that reached their end, counted; and by directory, the count when its stream last did. */
    private final AtomicLong ended = new AtomicLong();
    private final Lru<Long, Long> passed = Lru.ofSize(4096);
    static final long CACHED_WEIGHT = 250_000;
    static final long DIR_WEIGHT = CACHED_WEIGHT / 1024;

    Listings(NodeFs vfs) {
        this.vfs = vfs;
        this.readOnly = vfs.readOnly();
        this.snapshot = new Lru<>(CACHED_WEIGHT, Listings::weight);
        this.latest = new Lru<>(CACHED_WEIGHT, Listings::weight);
        this.ready = new Lru<>(CACHED_WEIGHT / 4, Listings::weight);
    }

    /** An entry weighs 1, twice with its attributes (a Stat is about as large as the rest of an entry). */
    private static long weight(Listing l) {
        return l.entries().size() * (l.stats() != null ? 2L : 1L) + DIR_WEIGHT;
    }

    /** OPENDIR of a view: a new handle whose listing is taken at its first read at offset 0. */
    long open(long dir) {
        long h = nextHandle.getAndIncrement();
        open.put(h, new Listing(dir, null));
        return h;
    }

    void release(long handle) {
        open.remove(handle);
    }

    private Listing listing(long dir, long fh, long offset) {
        if (readOnly) {
            Listing l = readOnlyListing(dir, false);
            if (offset == 0) {
                started(dir, l);
            }
            return l;
        }
        Listing l = open.get(fh);
        if (l == null) {
            throw new FsException(Errno.EBADF, "directory handle " + fh);
        }
        if (offset == 0) {
            // a new stream (or rewinddir): the listing read ahead if nothing changed since, else afresh
            long g = vfs.generation();
            Listing r = ready.getIfPresent(dir);
            if (r != null) {
                ready.invalidate(dir);
            }
            boolean fresh = r == null || r.generation() != g;
            l = fresh ? new Listing(dir, vfs.readdir(dir), null, g) : r;
            open.put(fh, l);
            latest.put(dir, l);
            if (fresh) {
                listed(l); // a listing read ahead was learnt from when it was made (prepare)
            }
            started(dir, l);
        } else if (l.entries() == null) {
            // a stream the kernel began from its cache of the directory: go on in the listing that filled it
            Listing cached = latest.getIfPresent(dir);
            l = cached != null ? cached : new Listing(dir, vfs.readdir(dir));
            open.put(fh, l);
        }
        return l;
    }

    /**
     * A read-only tree's listing of dir, from the cache, from the read-ahead making it now, or made
     * here (with every entry's attributes if withStats).
     */
    private Listing readOnlyListing(long dir, boolean withStats) {
        Listing l = snapshot.getIfPresent(dir);
        if (l != null) {
            return l;
        }
        CompletableFuture<Listing> mine = new CompletableFuture<>();
        CompletableFuture<Listing> other = making.putIfAbsent(dir, mine);
        if (other != null) {
            try {
                return other.join();
            } catch (CompletionException | java.util.concurrent.CancellationException failed) {
                return new Listing(dir, vfs.readdir(dir)); // made here, to answer with its own error
            }
        }
        try {
            l = new Listing(dir, vfs.readdir(dir));
            snapshot.put(dir, l);
            listed(l);
            mine.complete(l);
        } catch (RuntimeException | Error e) {
            mine.completeExceptionally(e);
            throw e;
        } finally {
            making.remove(dir, mine);
        }
        if (withStats) {
            // the entries are out first (a stream that asks meanwhile goes on without waiting); with
            // their attributes they replace them for the stream's later requests, unless it is over
            Stat[] st = stats(l.entries());
            Listing full = new Listing(dir, l.entries(), st, 0);
            if (st != null && snapshot.replace(dir, l, full)) {
                l = full;
            }
        }
        return l;
    }

    /**
     * Directories larger than this are read ahead without their entries' attributes (a million
     * entries' would be ~100 MiB of heap at once; the stream asks for them a request at a time).
     */
    static final int MAX_STATS_AHEAD = 16_384;

    /** Each entry's attributes (null where getattr failed), or null for a directory over {@link #MAX_STATS_AHEAD}. */
    private Stat[] stats(Dirents es) {
        if (es.size() > MAX_STATS_AHEAD) {
            return null;
        }
        Stat[] out = new Stat[es.size()];
        for (int i = 0; i < out.length; i++) {
            try {
                out[i] = vfs.getattr(es.node(i));
            } catch (FsException e) {
                out[i] = null; // the stream's getattr reports it
            }
        }
        return out;
    }

    private void listed(Listing l) {
        DirAhead a = ahead;
        if (a != null) {
            a.listed(l.dir(), l.entries());
        }
    }

    private void started(long dir, Listing l) {
        DirAhead a = ahead;
        if (a != null) {
            a.started(dir, l.entries());
        }
    }

    /** How many streams have reached their end so far. */
    long streamsEnded() {
        return ended.get();
    }

    /** What {@link #prepare} did: the directory's entries, and how many of them it read (0: they were cached). */
    record Prepared(Dirents entries, int read) {
    }

    /**
     * Reads dir ahead of the stream that will list it (DirAhead's thread): a read-only tree's
     * listing is made with its entries' attributes and cached; so is a view's, with the vfs's
     * generation, for its next stream to take if nothing has changed by then. Null if another thread is making the listing now, or a stream read it to its end
     * after since ({@link #streamsEnded}).
     */
    Prepared prepare(long dir, long since) {
        Long at = passed.getIfPresent(dir);
        if (at != null && at > since) {
            return null; // the walk went through it after the read-ahead was asked for: it is behind
        }
        if (readOnly) {
            Listing l = snapshot.getIfPresent(dir);
            if (l != null) {
                return new Prepared(l.entries(), 0);
            }
            if (making.containsKey(dir)) {
                return null;
            }
            l = readOnlyListing(dir, true);
            return new Prepared(l.entries(), l.entries().size() + 1);
        }
        long g = vfs.generation();
        Dirents es = vfs.readdir(dir);
        Stat[] st = stats(es);
        if (st != null && vfs.generation() == g) { // else too large, or changed while read: its stream reads it again
            ready.put(dir, new Listing(dir, es, st, g));
        }
        DirAhead a = ahead;
        if (a != null) {
            a.listed(dir, es);
        }
        return new Prepared(es, es.size() + 1);
    }

    /**
     * Entry i of the stream is ".", "..", then the listing; its cookie (the offset of the next
     * entry) is i + 1. PLUS entries carry the child's node id and attributes (each counts as a
     * lookup in fs's node table); "." and ".." carry node id 0, which the kernel skips.
     */
    int readdir(Request rq, long dir, Reply out, boolean plus, KernelFs fs) {
        long fh = rq.i64(0);
        long offset = rq.i64(8);
        int limit = (int) Math.min(rq.u32(16), out.room());
        Listing l = listing(dir, fh, offset);
        Dirents es = l.entries();
        // entries and attributes read ahead hold while nothing changed (a read-only tree: always)
        Stat[] readAhead = l.stats() != null && (readOnly || vfs.generation() == l.generation()) ? l.stats() : null;
        long total = es.size() + 2L;
        if (offset >= total) {
            // the stream's end (the kernel asks once more and gets no entry; it has the listing
            // now): a read-only tree's listing is let go of while it is young, or a walk of a
            // million files promotes every listing and collects it later (the kernel asks again
            // only if it drops its copy); and read-ahead that has not got there yet is behind
            if (readOnly) {
                snapshot.invalidate(dir);
            }
            if (ahead != null) {
                passed.put(dir, ended.incrementAndGet());
            }
        }
        for (long i = offset; i < total; i++) {
            // entries 0 and 1 are "." and ".."; entry i >= 2 is es's k (its name put in place)
            int k = (int) (i - 2);
            byte[] dots = i == 0 ? DOT : i == 1 ? DOTDOT : null;
            long reportedIno = i == 0 ? dir : i == 1 ? 1 : es.reportedIno(k);
            int type = i < 2 ? 4 : (es.mode(k) >>> 12) & 0xF; // 4: DT_DIR
            int nameLength = dots != null ? dots.length : es.nameLength(k);
            if (!plus) {
                if (!(dots != null ? out.dirent(reportedIno, i + 1, type, dots, limit)
                        : out.dirent(reportedIno, i + 1, type, es, k, limit))) {
                    break;
                }
                continue;
            }
            if (out.end - Proto.OUT_HEADER + Reply.direntPlusSize(nameLength) > limit) {
                break;
            }
            long child = 0;
            Stat s = null;
            if (dots == null) {
                try {
                    if (readAhead != null && readAhead[k] != null) {
                        child = es.node(k);
                        s = readAhead[k];
                    } else {
                        // a read-only tree's listing is never stale; a view's may be (it was taken at
                        // offset 0), and a cached entry must name the node the name has now
                        child = readOnly ? es.node(k) : vfs.lookup(dir, es.name(k));
                        s = vfs.getattr(child);
                    }
                } catch (FsException e) {
                    s = null; // gone since the listing was taken: a plain entry
                }
            }
            if (s != null) {
                out.entry(child, s, fs.entryValid, fs.attrValid);
                fs.nodes.ref(child);
            } else {
                out.entry(0, null, 0, 0);
            }
            if (dots != null) {
                out.dirent(reportedIno, i + 1, type, dots, Integer.MAX_VALUE);
            } else {
                out.dirent(reportedIno, i + 1, type, es, k, Integer.MAX_VALUE);
            }
        }
        return 0;
    }
}
