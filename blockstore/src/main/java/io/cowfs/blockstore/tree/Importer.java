package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Snapshots a host directory tree into the store and returns its root object id (not yet named:
 * the caller commits the catalog entry, under a {@link Store.Lease} taken before the import).
 *
 * <p>Inodes are numbered in depth-first order of sorted names, the root being 1, so the same
 * tree always yields the same objects. Content is read, hashed and compressed by one worker per
 * core, in segments of up to {@link #SEGMENT_BLOCKS} blocks. The holes of a sparse file (a VM
 * disk image, a database file) are not read: the host file system says where its data is
 * ({@link HostFs#dataRanges}), and blocks wholly in holes are stored as holes, as blocks of zeros
 * read would be.
 */
public final class Importer {
    static final int SEGMENT_BLOCKS = 64;
    /** Files larger than this are asked where their holes are; smaller ones are read whole. */
    static final long SPARSE_CHECK_BYTES = 4L << 20;
    /** More runs of data than this (a file fragmented by many small holes): read whole. */
    static final int MAX_DATA_RANGES = 1 << 16;

    /** Progress callbacks; all may be called from worker threads. */
    public interface Progress {
        /** Reports nothing (tests, callers without a progress bar). */
        Progress NONE = new Progress() {
            @Override
            public void total(long bytes, long files) {
            }

            @Override
            public void advance(long bytes) {
            }
        };

        void total(long bytes, long files);

        void advance(long bytes);
    }

    public record Result(ChunkId root, long files, long dirs, long symlinks, long others, long logicalBytes,
                         long newChunks, long newStoredBytes, long newRawBytes, long elapsedNanos, List<String> warnings) {
    }

    private final Store store;
    private final boolean skipUnreadable;
    private final Progress progress;
    private final Consumer<String> warn;
    private final List<String> warnings = new ArrayList<>(); // guarded by itself

    public Importer(Store store, boolean skipUnreadable, Progress progress, Consumer<String> warn) {
        this.store = store;
        this.skipUnreadable = skipUnreadable;
        this.progress = progress;
        this.warn = warn;
    }

    private void warning(String w) {
        synchronized (warnings) {
            warnings.add(w);
        }
        warn.accept(w);
    }

    /** A node found by the walk. */
    private static final class Node {
        final long ino;
        final Path path;
        final Inode inode = new Inode();
        final TreeMap<String, DirObject.Entry> children = new TreeMap<>();
        /** The block ids of each segment of SEGMENT_BLOCKS blocks, in order; null for a segment wholly in a hole. */
        final List<Future<ChunkId[]>> segments = new ArrayList<>();
        /** Where the file holds data ({@link HostFs#dataRanges}); null: everywhere (read it all). */
        long[] data;
        /** The least end of file a read of its blocks met before the walked size (a file shrinking meanwhile); MAX_VALUE if none. */
        final AtomicLong endMet = new AtomicLong(Long.MAX_VALUE);

        Node(long ino, Path path) {
            this.ino = ino;
            this.path = path;
        }
    }

    /** The st_dev of the source's root: only inode numbers of that device are reported (see node). */
    private Object rootDev;

    public Result run(Path src) {
        rootDev = null;
        long t0 = System.nanoTime();
        long chunks0 = store.appendedChunks.get();
        long stored0 = store.appendedStoredBytes.get();
        long raw0 = store.appendedRawBytes.get();
        if (!Files.isDirectory(src, LinkOption.NOFOLLOW_LINKS)) {
            if (!Files.exists(src, LinkOption.NOFOLLOW_LINKS)) {
                throw new StoreException.NotFoundException("no such directory: " + src);
            }
            throw new StoreException.InvalidRequestException(src + " is not a directory");
        }
        List<Node> nodes = new ArrayList<>();
        nodes.add(null); // ino 0 is unused
        Map<String, Node> byHostInode = new HashMap<>();
        long[] totals = new long[2];
        walk(src, nodes, byHostInode, totals);
        progress.total(totals[0], totals[1]);

        int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "cowfs-import");
            t.setDaemon(true);
            return t;
        });
        Semaphore inFlight = new Semaphore(threads * 8);
        long files = 0;
        long dirs = 0;
        long links = 0;
        long others = 0;
        long bytes = 0;
        try {
            for (int i = 1; i < nodes.size(); i++) {
                Node n = nodes.get(i);
                if (n.inode.type != FileType.REGULAR) {
                    continue;
                }
                long size = n.inode.size;
                int bs = store.blockSize();
                long nblocks = (size + bs - 1) / bs;
                if (size > SPARSE_CHECK_BYTES) {
                    n.data = HostFs.dataRanges(n.path, size, MAX_DATA_RANGES);
                }
                for (long b = 0; b < Math.max(1, nblocks); b += SEGMENT_BLOCKS) {
                    long first = b;
                    int count = (int) Math.min(SEGMENT_BLOCKS, nblocks - b);
                    if (count > 0 && !holdsData(n.data, first * bs, Math.min(size, (first + count) * bs))) {
                        n.segments.add(null); // wholly in a hole: nothing to read
                        progress.advance(Math.min(size, (first + count) * bs) - first * bs);
                        continue;
                    }
                    inFlight.acquireUninterruptibly();
                    n.segments.add(pool.submit(() -> {
                        try {
                            return readSegment(n, first, count);
                        } finally {
                            inFlight.release();
                        }
                    }));
                }
            }
            for (int i = 1; i < nodes.size(); i++) {
                Node n = nodes.get(i);
                switch (n.inode.type) {
                    case REGULAR -> {
                        files++;
                        int bs = store.blockSize();
                        // every segment read first (the futures hold only segments of data), so that
                        // the list is built up to the end of file met, one page at a time: no array
                        // of every block of a sparse file of terabytes
                        boolean readable = true;
                        for (Future<ChunkId[]> f : n.segments) {
                            if (f != null && get(f) == null) { // skipped (unreadable)
                                readable = false;
                                break;
                            }
                        }
                        if (readable && n.data != null) {
                            // a file that shrank into a hole meets no end in the reads of its data
                            try {
                                long now = HostPath.with(n.path, Files::size);
                                n.endMet.accumulateAndGet(now, Math::min);
                            } catch (IOException e) {
                                // gone meanwhile: as read
                            }
                        }
                        long end = n.endMet.get();
                        if (readable && end < n.inode.size) {
                            // the file shrank after the walk (rewritten with O_TRUNC, truncated): keep
                            // what was read up to the end met, as cp would; the walked size would
                            // fill the rest with zeros the file never held
                            warning("'" + n.path + "' shrank from " + n.inode.size + " to " + end
                                    + " bytes while it was imported: stored as read, " + end + " bytes");
                            n.inode.size = end;
                        }
                        if (!readable) {
                            n.inode.size = 0;
                            n.inode.blockPages = new ArrayList<>();
                        } else {
                            long blocks = (n.inode.size + bs - 1) / bs;
                            BlockList.Builder list = new BlockList.Builder(store);
                            long at = 0;
                            for (Future<ChunkId[]> f : n.segments) {
                                long count = Math.min(SEGMENT_BLOCKS, blocks - at);
                                if (count <= 0) {
                                    break;
                                }
                                if (f == null) {
                                    list.holes(count); // a hole: nothing was read
                                } else {
                                    ChunkId[] seg = get(f);
                                    for (int k = 0; k < count; k++) {
                                        list.add(seg[k]);
                                    }
                                }
                                at += count;
                            }
                            list.finish(n.inode);
                        }
                        bytes += n.inode.size;
                    }
                    case DIRECTORY -> dirs++;
                    case SYMLINK -> links++;
                    default -> others++;
                }
            }
        } finally {
            pool.shutdownNow();
        }
        // directories bottom-up is not needed: a directory object only names inode numbers
        for (int i = 1; i < nodes.size(); i++) {
            Node n = nodes.get(i);
            if (n.inode.type == FileType.DIRECTORY && !n.children.isEmpty()) {
                n.inode.dirObject = store.put(DirObject.encode(n.children));
            }
        }
        long maxIno = nodes.size() - 1;
        List<ChunkId> pages = new ArrayList<>();
        for (long p = 0; p * SnapshotRoot.INODES_PER_PAGE <= maxIno; p++) {
            int from = (int) (p * SnapshotRoot.INODES_PER_PAGE);
            Inode[] slots = new Inode[(int) Math.min(SnapshotRoot.INODES_PER_PAGE, maxIno + 1 - from)];
            for (int s = 0; s < slots.length; s++) {
                Node n = from + s == 0 ? null : nodes.get(from + s);
                slots[s] = n == null ? null : n.inode;
            }
            pages.add(store.put(SnapshotRoot.encodePage(p, slots)));
        }
        ChunkId root = store.put(new SnapshotRoot(maxIno, files, bytes, pages).encode());
        List<String> w;
        synchronized (warnings) {
            w = List.copyOf(warnings);
        }
        return new Result(root, files, dirs, links, others, bytes,
                store.appendedChunks.get() - chunks0, store.appendedStoredBytes.get() - stored0,
                store.appendedRawBytes.get() - raw0, System.nanoTime() - t0, w);
    }

    /** True if [from, to) meets a run of data of ranges ({@link HostFs#dataRanges}; null: all data). */
    static boolean holdsData(long[] ranges, long from, long to) {
        if (ranges == null) {
            return true;
        }
        // the first run that ends after from
        int lo = 0;
        int hi = ranges.length / 2;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (ranges[2 * mid + 1] <= from) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo < ranges.length / 2 && ranges[2 * lo] < to;
    }

    private static ChunkId[] get(Future<ChunkId[]> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreException("import interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new StoreException(e.getCause().toString(), e.getCause());
        }
    }

    private ChunkId[] readSegment(Node n, long firstBlock, int count) {
        int bs = store.blockSize();
        ChunkId[] out = new ChunkId[count];
        byte[] buf = new byte[bs];
        try (FileChannel ch = HostPath.with(n.path, q -> FileChannel.open(q, StandardOpenOption.READ))) {
            for (int i = 0; i < count; i++) {
                long pos = (firstBlock + i) * bs;
                // never past the size the walk recorded: a file growing meanwhile is cut there
                ByteBuffer bb = ByteBuffer.wrap(buf, 0, (int) Math.max(0, Math.min(bs, n.inode.size - pos)));
                if (bb.remaining() > 0 && !holdsData(n.data, pos, pos + bb.remaining())) {
                    progress.advance(bb.remaining()); // wholly in a hole: stored as one
                    continue;
                }
                while (bb.hasRemaining()) {
                    int r = ch.read(bb, pos + bb.position());
                    if (r < 0) {
                        n.endMet.accumulateAndGet(pos + bb.position(), Math::min);
                        break;
                    }
                }
                int len = bb.position();
                if (len == 0) {
                    break;
                }
                if (!Store.isZero(buf, 0, len)) {
                    out[i] = store.put(buf, 0, len, false, false);
                }
                progress.advance(len);
            }
            return out;
        } catch (IOException e) {
            if (skipUnreadable) {
                warning("skipped unreadable file " + n.path + ": " + e.getMessage());
                return null;
            }
            throw new StoreException("cannot read " + n.path + ": " + e.getMessage()
                    + " (import nothing was committed; use --skip-unreadable to skip such files)", e);
        }
    }

    private void walk(Path root, List<Node> nodes, Map<String, Node> byHostInode, long[] totals) {
        Node r = node(root, nodes, byHostInode, totals);
        if (r == null) {
            throw new StoreException("cannot read " + root);
        }
        walkDir(r, nodes, byHostInode, totals);
    }

    private void walkDir(Node dir, List<Node> nodes, Map<String, Node> byHostInode, long[] totals) {
        List<byte[]> raw;
        try {
            raw = HostFs.names(dir.path); // bytes: java.nio would turn a name that is not UTF-8 into another name
        } catch (IOException e) {
            if (skipUnreadable) {
                warning("skipped unreadable directory " + dir.path + ": " + e.getMessage());
                return;
            }
            throw new StoreException("cannot list " + dir.path + ": " + e.getMessage() + " (use --skip-unreadable to skip it)", e);
        }
        List<String> names = new ArrayList<>();
        for (byte[] b : raw) {
            String name = Names.utf8(b);
            if (name != null) {
                names.add(name);
                continue;
            }
            // docs/DESIGN-DECISIONS.md, 7: such a name cannot be stored exactly, and two of them
            // decoded with U+FFFD could become one entry, the other file lost
            String what = "'" + Names.escaped(b) + "' in " + dir.path;
            if (!skipUnreadable) {
                throw new StoreException("cannot import " + what + ": file names must be valid UTF-8"
                        + " (nothing was imported; --skip-unreadable skips such names)");
            }
            warning("skipped " + what + " (and anything under it): file names must be valid UTF-8");
        }
        names.sort(null);
        for (String name : names) {
            Node c = node(dir.path.resolve(name), nodes, byHostInode, totals);
            if (c == null) {
                continue;
            }
            dir.children.put(name, new DirObject.Entry(c.ino, c.inode.type));
            if (c.inode.type == FileType.DIRECTORY) {
                dir.inode.nlink++;
                walkDir(c, nodes, byHostInode, totals);
            }
        }
    }

    /** Reads one path's attributes; returns its node (an existing one for another hardlink name), or null if skipped. */
    private Node node(Path p, List<Node> nodes, Map<String, Node> byHostInode, long[] totals) {
        Map<String, Object> a;
        try {
            a = HostPath.with(p, q -> Files.readAttributes(q, "unix:*", LinkOption.NOFOLLOW_LINKS));
        } catch (IOException e) {
            if (skipUnreadable) {
                warning("skipped " + p + ": " + e.getMessage());
                return null;
            }
            throw new StoreException("cannot stat " + p + ": " + e.getMessage(), e);
        }
        int mode = (Integer) a.get("mode");
        FileType type = FileType.ofMode(mode);
        if (type == null) {
            warning("skipped " + p + ": unknown file type " + Integer.toOctalString(mode));
            return null;
        }
        String hostKey = a.get("dev") + ":" + a.get("ino");
        if (type != FileType.DIRECTORY && (Integer) a.get("nlink") > 1) {
            Node seen = byHostInode.get(hostKey);
            if (seen != null) {
                seen.inode.nlink++;
                return seen;
            }
        }
        Node n = new Node(nodes.size(), p);
        nodes.add(n);
        Inode i = n.inode;
        i.ino = n.ino;
        i.type = type;
        i.perm = mode & 07777;
        i.uid = (Integer) a.get("uid");
        i.gid = (Integer) a.get("gid");
        i.nlink = type == FileType.DIRECTORY ? 2 : 1;
        i.size = (Long) a.get("size");
        i.atimeNs = nanos((FileTime) a.get("lastAccessTime"));
        i.mtimeNs = nanos((FileTime) a.get("lastModifiedTime"));
        i.ctimeNs = nanos((FileTime) a.get("ctime"));
        i.rdev = (Long) a.get("rdev");
        // host inode numbers are unique on one device only: a file on another filesystem mounted
        // inside the source (a tmpfs, a bind mount of another disk) gets ours, or tools that key
        // on st_ino (tar, cp -a, rsync -H) would take two unrelated files for hard links
        if (rootDev == null) {
            rootDev = a.get("dev");
        }
        i.hostIno = rootDev.equals(a.get("dev")) ? (Long) a.get("ino") : 0;
        try {
            i.xattrs = HostFs.xattrs(p);
            if (type == FileType.SYMLINK) {
                i.target = HostFs.readlink(p); // the bytes: a target need not be UTF-8
                i.size = i.target.length;
            }
        } catch (IOException e) {
            if (!skipUnreadable) {
                throw new StoreException("cannot read " + p + ": " + e.getMessage() + " (use --skip-unreadable to skip it)", e);
            }
            warning("skipped attributes of " + p + ": " + e.getMessage());
        }
        if (type == FileType.REGULAR && i.size > maxFileSize(store.blockSize())) {
            // its block list would not fit in an array (a sparse file of xfs, btrfs or tmpfs, or of
            // ext4 in a store of small blocks): refused by name, not "-1879048192" or OutOfMemoryError
            String what = "'" + p + "': " + i.size + " bytes, more than the largest file a store of "
                    + store.blockSize() / 1024 + " KiB blocks holds (" + maxFileSize(store.blockSize()) + " bytes)";
            if (!skipUnreadable) {
                throw new StoreException("cannot import " + what + " (nothing was imported; --skip-unreadable skips such files)");
            }
            warning("skipped " + what);
            nodes.remove(nodes.size() - 1);
            return null;
        }
        if (type == FileType.REGULAR) {
            totals[0] += i.size;
            totals[1]++;
        } else if (type != FileType.DIRECTORY) {
            i.size = type == FileType.SYMLINK ? i.size : 0;
        }
        if (type != FileType.DIRECTORY && (Integer) a.get("nlink") > 1) {
            byHostInode.put(hostKey, n);
        }
        return n;
    }

    /** The largest file an import takes: one whose blocks an array can list (a view takes at most this too). */
    static long maxFileSize(int blockSize) {
        return (Integer.MAX_VALUE - 8L) * blockSize;
    }

    static long nanos(FileTime t) {
        java.time.Instant i = t.toInstant();
        return Inode.timeNs(i.getEpochSecond(), i.getNano());
    }

}
