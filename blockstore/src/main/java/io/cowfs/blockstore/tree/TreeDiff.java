package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.store.ChunkId;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * Differences between two snapshots, by path. Inode pages with the same id in both trees hold
 * identical inodes and are never decoded; only inodes on differing pages are compared field by
 * field, so the cost is the directory listings plus what changed, not the file contents.
 */
public final class TreeDiff {
    /** added, removed, modified (content or type), metadata (attributes only). */
    public enum Kind { ADDED, REMOVED, MODIFIED, METADATA }

    public record Change(Kind kind, String path, FileType type) {
    }

    private final SnapshotReader a;
    private final SnapshotReader b;
    private final Set<Long> differing = new HashSet<>();
    private final List<Change> out = new ArrayList<>();

    public TreeDiff(SnapshotReader a, SnapshotReader b) {
        this.a = a;
        this.b = b;
    }

    public List<Change> run() {
        if (a.rootId().equals(b.rootId())) {
            return out;
        }
        List<ChunkId> pa = a.root().inodePages();
        List<ChunkId> pb = b.root().inodePages();
        int per = SnapshotRoot.INODES_PER_PAGE;
        for (int i = 0; i < Math.max(pa.size(), pb.size()); i++) {
            ChunkId x = i < pa.size() ? pa.get(i) : null;
            ChunkId y = i < pb.size() ? pb.get(i) : null;
            if (Objects.equals(x, y)) {
                continue;
            }
            for (int s = 0; s < per; s++) {
                long ino = (long) i * per + s;
                Inode na = x == null ? null : a.inode(ino);
                Inode nb = y == null ? null : b.inode(ino);
                if (na == null && nb == null) {
                    continue;
                }
                if (na == null || nb == null || !Arrays.equals(na.encode(), nb.encode())) {
                    differing.add(ino);
                }
            }
        }
        compareDir(a.inode(SnapshotRoot.ROOT_INO), b.inode(SnapshotRoot.ROOT_INO), "");
        Inode ra = a.inode(SnapshotRoot.ROOT_INO);
        Inode rb = b.inode(SnapshotRoot.ROOT_INO);
        if (!sameMeta(ra, rb)) {
            out.add(0, new Change(Kind.METADATA, "/", FileType.DIRECTORY));
        }
        return out;
    }

    private void compareDir(Inode da, Inode db, String path) {
        NavigableMap<String, DirObject.Entry> ea = a.dir(da).toMap();
        NavigableMap<String, DirObject.Entry> eb = b.dir(db).toMap();
        TreeSet<String> names = new TreeSet<>(ea.keySet());
        names.addAll(eb.keySet());
        for (String name : names) {
            String p = path + "/" + name;
            DirObject.Entry x = ea.get(name);
            DirObject.Entry y = eb.get(name);
            if (x == null) {
                listAll(b, y, p, Kind.ADDED);
                continue;
            }
            if (y == null) {
                listAll(a, x, p, Kind.REMOVED);
                continue;
            }
            if (x.ino() == y.ino() && !differing.contains(x.ino())) {
                if (x.type() == FileType.DIRECTORY) {
                    compareDir(a.inode(x.ino()), b.inode(y.ino()), p);
                }
                continue;
            }
            Inode na = a.inode(x.ino());
            Inode nb = b.inode(y.ino());
            if (na.type != nb.type) {
                listAll(a, x, p, Kind.REMOVED);
                listAll(b, y, p, Kind.ADDED);
                continue;
            }
            if (na.type == FileType.DIRECTORY) {
                if (!sameMeta(na, nb)) {
                    out.add(new Change(Kind.METADATA, p, na.type));
                }
                compareDir(na, nb, p);
            } else if (!sameContent(na, nb)) {
                out.add(new Change(Kind.MODIFIED, p, na.type));
            } else if (!sameMeta(na, nb)) {
                out.add(new Change(Kind.METADATA, p, na.type));
            }
        }
    }

    private void listAll(SnapshotReader s, DirObject.Entry e, String path, Kind kind) {
        out.add(new Change(kind, path, e.type()));
        if (e.type() == FileType.DIRECTORY) {
            DirEntries cs = s.dir(s.inode(e.ino()));
            for (int i = 0; i < cs.size(); i++) {
                listAll(s, cs.entry(i), path + "/" + cs.name(i), kind);
            }
        }
    }

    private boolean sameContent(Inode x, Inode y) {
        if (x.size != y.size || x.rdev != y.rdev) {
            return false;
        }
        if (x.type == FileType.SYMLINK) {
            return Arrays.equals(x.target, y.target);
        }
        if (x.type != FileType.REGULAR) {
            return true;
        }
        if (x.validBlocks == y.validBlocks && x.blockPages.equals(y.blockPages) && java.util.Arrays.equals(x.inlineBlocks, y.inlineBlocks)) {
            return true;
        }
        int bs = a.store().blockSize();
        long n = (x.size + bs - 1) / bs;
        for (long i = 0; i < n; i++) {
            if (!Objects.equals(a.block(x, i), b.block(y, i))) {
                return false;
            }
        }
        return true;
    }

    private static boolean sameMeta(Inode x, Inode y) {
        if (x.perm != y.perm || x.uid != y.uid || x.gid != y.gid || x.mtimeNs != y.mtimeNs) {
            return false;
        }
        if (!x.xattrs.keySet().equals(y.xattrs.keySet())) {
            return false;
        }
        for (var e : x.xattrs.entrySet()) {
            if (!Arrays.equals(e.getValue(), y.xattrs.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }
}
