package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.StoreException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.LongConsumer;

/**
 * Writes a snapshot back to a host directory: contents with holes left as holes, symlinks,
 * hardlinks, fifos and device nodes, modes, owners (when allowed), xattrs, and times (set last,
 * directories after their contents).
 */
public final class Exporter {
    private final SnapshotReader snap;
    private final LongConsumer progress;
    private final Consumer<String> warn;
    private final boolean chown;
    private final Map<Long, Path> exported = new HashMap<>();
    private final List<Object[]> dirTimes = new ArrayList<>();

    public Exporter(SnapshotReader snap, LongConsumer progress, Consumer<String> warn) {
        this.snap = snap;
        this.progress = progress;
        this.warn = warn;
        this.chown = "root".equals(System.getProperty("user.name"));
    }

    public void run(Path dest) throws IOException {
        if (Files.exists(dest)) {
            if (!Files.isDirectory(dest)) {
                throw new StoreException(dest + " exists and is not a directory; export into a new or empty directory");
            }
            try (var s = Files.list(dest)) {
                if (s.findAny().isPresent()) {
                    throw new StoreException(dest + " is not empty; export into a new or empty directory");
                }
            }
        } else {
            Files.createDirectories(dest);
        }
        Inode root = snap.inode(SnapshotRoot.ROOT_INO);
        exportDir(root, dest);
        for (int i = dirTimes.size() - 1; i >= 0; i--) {
            Inode d = (Inode) dirTimes.get(i)[0];
            HostFs.setTimes((Path) dirTimes.get(i)[1], d.atimeNs, d.mtimeNs);
        }
    }

    private void exportDir(Inode dir, Path p) throws IOException {
        for (var e : snap.dir(dir).entrySet()) {
            Path c = p.resolve(e.getKey());
            Inode n = snap.inode(e.getValue().ino());
            if (n == null) {
                throw new StoreException("snapshot names missing inode " + e.getValue().ino() + " at " + c);
            }
            Path first = exported.get(n.ino);
            if (first != null) {
                Files.createLink(c, first);
                continue;
            }
            switch (n.type) {
                case DIRECTORY -> {
                    Files.createDirectory(c);
                    exportDir(n, c);
                }
                case REGULAR -> writeFile(n, c);
                case SYMLINK -> HostFs.symlink(n.target, c); // the bytes: a target need not be UTF-8
                default -> {
                    try {
                        HostFs.mknod(c, n.mode(), n.rdev);
                    } catch (IOException ex) {
                        warn.accept("skipped " + c + ": " + ex.getMessage());
                        continue;
                    }
                }
            }
            if (n.nlink > 1 && n.type != FileType.DIRECTORY) {
                exported.put(n.ino, c);
            }
            attributes(n, c);
        }
        attributes(dir, p);
    }

    private void attributes(Inode n, Path c) throws IOException {
        if (chown) {
            HostFs.lchown(c, n.uid, n.gid);
        }
        if (n.type != FileType.SYMLINK) {
            Files.setAttribute(c, "unix:mode", n.perm & 07777);
        }
        for (var x : n.xattrs.entrySet()) {
            try {
                HostFs.setXattr(c, x.getKey(), x.getValue());
            } catch (IOException e) {
                warn.accept("xattr " + x.getKey() + " not set on " + c + ": " + e.getMessage());
            }
        }
        if (n.type == FileType.DIRECTORY) {
            dirTimes.add(new Object[] {n, c});
        } else {
            HostFs.setTimes(c, n.atimeNs, n.mtimeNs);
        }
    }

    private void writeFile(Inode n, Path c) throws IOException {
        int bs = snap.store().blockSize();
        try (FileChannel ch = FileChannel.open(c, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            long blocks = (n.size + bs - 1) / bs;
            for (long i = 0; i < blocks; i++) {
                ChunkId id = snap.block(n, i);
                if (id != null) {
                    byte[] chunk = snap.store().get(id);
                    // the file's bytes only: a last block stored before a shrink inside it may
                    // hold more (the reads of a mount stop at the size too)
                    ByteBuffer b = ByteBuffer.wrap(chunk, 0, (int) Math.min(chunk.length, n.size - i * bs));
                    long pos = i * bs;
                    while (b.hasRemaining()) {
                        pos += ch.write(b, pos);
                    }
                }
                progress.accept(Math.min(bs, n.size - i * bs));
            }
        }
        if (Files.size(c) < n.size) {
            try (var raf = new java.io.RandomAccessFile(c.toFile(), "rw")) {
                raf.setLength(n.size); // a trailing hole
            }
        }
    }
}
