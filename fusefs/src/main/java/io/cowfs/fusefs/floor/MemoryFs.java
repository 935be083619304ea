package io.cowfs.fusefs.floor;

import io.cowfs.blockstore.tree.DirEntries;
import io.cowfs.blockstore.tree.DirObject;
import io.cowfs.blockstore.tree.FileType;
import io.cowfs.fusefs.kernel.Kernel;
import io.cowfs.fusefs.vfs.Dirents;
import io.cowfs.fusefs.vfs.Errno;
import io.cowfs.fusefs.vfs.FsException;
import io.cowfs.fusefs.vfs.NodeFs;
import io.cowfs.fusefs.vfs.Stat;
import io.cowfs.fusefs.vfs.ViewFs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The benchmarks' floor: a read-only copy of a host tree held in memory (names, attributes and
 * every file's bytes), served through the same kernel-protocol adapter as cowfs. What it costs is
 * what the adapter and the kernel cost, with no store work at all: cowfs is measured against it
 * in {@code bench-scripts/03-reads.sh}. Immutable once loaded, so it needs no lock.
 *
 * <p>{@code java -cp cowfs.jar io.cowfs.fusefs.floor.MemoryFs SRC MOUNTPOINT} loads SRC, mounts it,
 * prints one line and serves until unmounted.
 */
public final class MemoryFs implements NodeFs {
    private static final class Node {
        Stat stat;
        byte[] data;
        TreeMap<String, Long> children;
        Dirents listing;
    }

    private final List<Node> nodes = new ArrayList<>();

    private MemoryFs() {
        nodes.add(null); // node ids start at 1
    }

    public static MemoryFs load(Path root) throws IOException {
        MemoryFs fs = new MemoryFs();
        fs.add(root);
        return fs;
    }

    private long add(Path p) throws IOException {
        Map<String, Object> a = Files.readAttributes(p, "unix:*", LinkOption.NOFOLLOW_LINKS);
        Node n = new Node();
        long id = nodes.size();
        nodes.add(n);
        int mode = (Integer) a.get("mode");
        long size = (Long) a.get("size");
        long mt = ((java.nio.file.attribute.FileTime) a.get("lastModifiedTime")).toMillis() * 1_000_000L;
        if (Files.isSymbolicLink(p)) {
            n.data = Files.readSymbolicLink(p).toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        } else if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
            n.data = Files.readAllBytes(p);
        } else if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
            n.children = new TreeMap<>();
            try (Stream<Path> s = Files.list(p)) {
                for (Path c : s.sorted().toList()) {
                    n.children.put(c.getFileName().toString(), add(c));
                }
            }
            TreeMap<String, DirObject.Entry> entries = new TreeMap<>();
            for (Map.Entry<String, Long> e : n.children.entrySet()) {
                Stat cs = nodes.get((int) (long) e.getValue()).stat;
                entries.put(e.getKey(), new DirObject.Entry(cs.ino(), java.util.Objects.requireNonNullElse(FileType.ofMode(cs.mode()), FileType.REGULAR)));
            }
            n.listing = new Dirents(DirEntries.of(entries), null);
        }
        n.stat = new Stat(id, mode, (Integer) a.get("nlink"), (Integer) a.get("uid"), (Integer) a.get("gid"), size,
                (size + 511) / 512, mt, mt, mt, 0);
        return id;
    }

    private Node node(long ino) {
        if (ino <= 0 || ino >= nodes.size()) {
            throw new FsException(Errno.ENOENT, "node " + ino);
        }
        return nodes.get((int) ino);
    }

    private static FsException readOnlyTree() {
        return new FsException(Errno.EROFS, "the floor is read-only");
    }

    @Override
    public boolean readOnly() {
        return true;
    }

    @Override
    public Stat getattr(long ino) {
        return node(ino).stat;
    }

    @Override
    public long lookup(long dir, String name) {
        Node d = node(dir);
        Long c = d.children == null ? null : d.children.get(name);
        if (c == null) {
            throw new FsException(d.children == null ? Errno.ENOTDIR : Errno.ENOENT, name);
        }
        return c;
    }

    @Override
    public byte[] readlink(long ino) {
        return node(ino).data;
    }

    @Override
    public Dirents readdir(long dir) {
        Node d = node(dir);
        if (d.listing == null) {
            throw new FsException(Errno.ENOTDIR, "node " + dir);
        }
        return d.listing;
    }

    @Override
    public int read(long ino, long off, byte[] out, int len) {
        byte[] d = node(ino).data;
        if (d == null || off >= d.length) {
            return 0;
        }
        int n = (int) Math.min(len, d.length - off);
        System.arraycopy(d, (int) off, out, 0, n);
        return n;
    }

    @Override
    public int read(long ino, long off, java.nio.ByteBuffer out, int pos, int len) {
        byte[] d = node(ino).data;
        if (d == null || off >= d.length) {
            return 0;
        }
        int n = (int) Math.min(len, d.length - off);
        out.put(pos, d, (int) off, n);
        return n;
    }

    @Override
    public ViewFs.FsStat statfs() {
        return new ViewFs.FsStat(4096, 1 << 20, 0, 0, nodes.size(), 0, 255);
    }

    @Override
    public void open(long ino, boolean write) {
    }

    @Override
    public void release(long ino) {
    }

    @Override
    public void flush(long ino) {
    }

    @Override
    public void fsync(long ino) {
    }

    @Override
    public byte[] getxattr(long ino, String name) {
        throw new FsException(Errno.ENODATA, name);
    }

    @Override
    public List<String> listxattr(long ino) {
        return List.of();
    }

    @Override
    public void close() {
    }

    @Override
    public void chmod(long ino, int mode) {
        throw readOnlyTree();
    }

    @Override
    public void chown(long ino, int uid, int gid) {
        throw readOnlyTree();
    }

    @Override
    public void utimens(long ino, long atimeNs, long mtimeNs) {
        throw readOnlyTree();
    }

    @Override
    public long mknod(long dir, String name, int mode, long rdev, int uid, int gid) {
        throw readOnlyTree();
    }

    @Override
    public long create(long dir, String name, int mode, int uid, int gid) {
        throw readOnlyTree();
    }

    @Override
    public long mkdir(long dir, String name, int mode, int uid, int gid) {
        throw readOnlyTree();
    }

    @Override
    public long symlink(byte[] target, long dir, String name, int uid, int gid) {
        throw readOnlyTree();
    }

    @Override
    public void link(long ino, long dir, String name) {
        throw readOnlyTree();
    }

    @Override
    public void unlink(long dir, String name) {
        throw readOnlyTree();
    }

    @Override
    public void rmdir(long dir, String name) {
        throw readOnlyTree();
    }

    @Override
    public void rename(long fromDir, String fromName, long toDir, String toName) {
        throw readOnlyTree();
    }

    @Override
    public int write(long ino, long off, byte[] data, int len) {
        throw readOnlyTree();
    }

    @Override
    public void truncate(long ino, long size) {
        throw readOnlyTree();
    }

    @Override
    public void setxattr(long ino, String name, byte[] value, int flags) {
        throw readOnlyTree();
    }

    @Override
    public void removexattr(long ino, String name) {
        throw readOnlyTree();
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: MemoryFs SRC MOUNTPOINT");
            System.exit(2);
        }
        MemoryFs fs = load(Path.of(args[0]));
        Path mp = Path.of(args[1]).toAbsolutePath().normalize();
        Kernel.serve(fs, mp, io.cowfs.fusefs.fuse.MountAccess.PRIVATE, "floor:" + mp.getFileName(), () -> System.out.println("mounted floor at " + mp));
    }
}
