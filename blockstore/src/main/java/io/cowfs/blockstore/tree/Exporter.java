package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Store;
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
 *
 * <p>A failure names the file (its path in the snapshot and on the host) in one line
 * ({@link ExportFailed}), and removes what the export wrote, so that no partial export is left
 * that looks complete (a file cut short by a full disk or a file size limit looks whole).
 */
public final class Exporter {
    private final SnapshotReader snap;
    private final LongConsumer progress;
    private final Consumer<String> warn;
    private final boolean chown;
    private final Map<Long, Path> exported = new HashMap<>();
    private final List<Object[]> dirTimes = new ArrayList<>();
    /** The entries of the destination the export created, in order (removed if it fails). */
    private final List<Path> created = new ArrayList<>();

    public Exporter(SnapshotReader snap, LongConsumer progress, Consumer<String> warn) {
        this.snap = snap;
        this.progress = progress;
        this.warn = warn;
        this.chown = "root".equals(System.getProperty("user.name"));
    }

    /** One file (or directory) could not be written: its path in the snapshot, where it went, and why. */
    public static final class ExportFailed extends StoreException {
        ExportFailed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Exports into dest (a new or empty directory).
     *
     * @throws ExportFailed naming the file that could not be written; what the export wrote was
     *         removed (dest too if the export made it), or the message says it could not be
     */
    public void run(Path dest) throws IOException {
        // a symlink (dangling or to a directory) is the user's: never "made" by the export
        boolean made = !Files.exists(dest, java.nio.file.LinkOption.NOFOLLOW_LINKS);
        try {
            write(dest);
        } catch (ExportFailed e) {
            throw new ExportFailed(e.getMessage() + "; " + removePartial(dest, made), e.getCause());
        }
    }

    private void write(Path dest) throws IOException {
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
            try {
                Files.createDirectories(dest);
            } catch (IOException e) {
                throw failed("/", dest, e);
            }
        }
        Inode root = snap.inode(SnapshotRoot.ROOT_INO);
        exportDir(root, dest, "/");
        for (int i = dirTimes.size() - 1; i >= 0; i--) {
            Inode d = (Inode) dirTimes.get(i)[0];
            Path p = (Path) dirTimes.get(i)[1];
            try {
                HostFs.setTimes(p, d.atimeNs, d.mtimeNs);
            } catch (IOException | RuntimeException e) {
                throw failed((String) dirTimes.get(i)[2], p, e);
            }
        }
    }

    /** The one-line failure of the file at inSnap (its path in the snapshot), written to host. */
    private static ExportFailed failed(String inSnap, Path host, Throwable e) {
        if (e instanceof ExportFailed f) {
            return f; // a file inside this directory: named already
        }
        String why = e instanceof java.nio.file.FileSystemException f && f.getReason() != null ? f.getReason() : e.getMessage();
        if (why == null || why.isBlank()) {
            why = e.getClass().getSimpleName();
        }
        if (e instanceof java.nio.file.FileSystemException f && f.getOtherFile() != null) {
            why += " (" + f.getOtherFile() + ")";
        }
        return new ExportFailed(inSnap + " -> " + host + ": " + why.lines().findFirst().orElse(why), e);
    }

    /**
     * After a failure: removes what the export wrote under dest (which was new or empty): only
     * the entries of dest that the export created (a file someone else put in dest meanwhile,
     * another export's included, stays), and dest if the export made it and it is empty then;
     * says what was done, for the failure's message.
     */
    private String removePartial(Path dest, boolean made) {
        try {
            for (int i = created.size() - 1; i >= 0; i--) {
                removeTree(created.get(i));
            }
            if (!made || !Files.exists(dest, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                return created.isEmpty() ? "nothing was written" : "the partial export was removed from " + dest;
            }
            try {
                Files.delete(dest);
            } catch (java.nio.file.DirectoryNotEmptyException e) {
                return "the partial export was removed (" + dest + " holds files the export did not write, and stays)";
            }
            return "the partial export was removed (" + dest + " is gone)";
        } catch (IOException | RuntimeException e) {
            return "the partial export at " + dest + " could not be removed (" + e.getMessage() + "): it is incomplete";
        }
    }

    /** Removes top, an entry the export created, with all under it (it is the export's); at any depth. */
    private static void removeTree(Path top) throws IOException {
        if (HostPath.with(top, q -> Files.isDirectory(q, java.nio.file.LinkOption.NOFOLLOW_LINKS))) {
            try {
                HostPath.with(top, q -> Files.setAttribute(q, "unix:mode", 0700)); // a read-only directory the export made
            } catch (IOException | RuntimeException e) {
                // its removal says why if it matters
            }
            for (byte[] name : HostFs.names(top)) {
                removeTree(top.resolve(new String(name, java.nio.charset.StandardCharsets.UTF_8)));
            }
        }
        HostPath.with(top, q -> {
            Files.delete(q);
            return null;
        });
    }

    private void exportDir(Inode dir, Path p, String inSnap) throws IOException {
        DirEntries es = snap.dir(dir);
        for (int i = 0; i < es.size(); i++) {
            String name = es.name(i);
            Path c = p.resolve(name);
            String childInSnap = inSnap.endsWith("/") ? inSnap + name : inSnap + "/" + name;
            // an entry of dest that was not there before is the export's, to remove if it fails
            boolean top = "/".equals(inSnap) && !exists(c);
            try {
                exportEntry(es.ino(i), c, childInSnap);
            } catch (IOException | RuntimeException ex) {
                throw failed(childInSnap, c, ex);
            } finally {
                if (top && exists(c)) {
                    created.add(c);
                }
            }
        }
        try {
            attributes(dir, p, inSnap);
        } catch (IOException | RuntimeException ex) {
            throw failed(inSnap, p, ex);
        }
    }

    private static boolean exists(Path p) {
        try {
            return HostPath.with(p, q -> Files.exists(q, java.nio.file.LinkOption.NOFOLLOW_LINKS));
        } catch (IOException e) {
            return false; // a directory on its way cannot be opened: nothing there for the export
        }
    }

    private void exportEntry(long ino, Path c, String inSnap) throws IOException {
        Inode n = snap.inode(ino);
        if (n == null) {
            throw new StoreException("snapshot names missing inode " + ino);
        }
        Path first = exported.get(n.ino);
        if (first != null) {
            HostPath.with(c, q -> HostPath.with(first, f -> Files.createLink(q, f)));
            return;
        }
        switch (n.type) {
            case DIRECTORY -> {
                HostPath.with(c, Files::createDirectory);
                exportDir(n, c, inSnap);
                return; // its attributes are set by exportDir, after its contents
            }
            case REGULAR -> writeFile(n, c);
            case SYMLINK -> HostFs.symlink(n.target, c); // the bytes: a target need not be UTF-8
            default -> {
                try {
                    HostFs.mknod(c, n.mode(), n.rdev);
                } catch (IOException ex) {
                    warn.accept("skipped " + inSnap + " -> " + c + ": " + ex.getMessage());
                    return;
                }
            }
        }
        if (n.nlink > 1) {
            exported.put(n.ino, c);
        }
        attributes(n, c, inSnap);
    }

    private void attributes(Inode n, Path c, String inSnap) throws IOException {
        if (chown) {
            HostFs.lchown(c, n.uid, n.gid);
        }
        if (n.type != FileType.SYMLINK) {
            int mode = n.perm & 07777;
            if (!chown && (mode & 06000) != 0) {
                mode = setIdKept(n, c, mode);
            }
            int m = mode;
            HostPath.with(c, q -> Files.setAttribute(q, "unix:mode", m));
        }
        for (var x : n.xattrs.entrySet()) {
            if (HostFs.isXfsInternal(x.getKey())) {
                continue; // imported from XFS before cowfs left them out: stale after a chmod
            }
            try {
                HostFs.setXattr(c, x.getKey(), x.getValue());
            } catch (IOException e) {
                warn.accept("xattr " + x.getKey() + " not set on " + inSnap + " -> " + c + ": " + e.getMessage());
            }
        }
        if (n.type == FileType.DIRECTORY) {
            dirTimes.add(new Object[] {n, c, inSnap});
        } else {
            HostFs.setTimes(c, n.atimeNs, n.mtimeNs);
        }
    }

    /**
     * mode without the set-user-ID bit if the exported file is not owned by n's owner, and without
     * set-group-ID if not by its group, as `cp -p` does when it cannot keep the owner: an export
     * by another user than root must not make a setuid-root program of the snapshot a setuid
     * program of that user (nor one of its groups').
     */
    private static int setIdKept(Inode n, Path c, int mode) throws IOException {
        Map<String, Object> owner = HostPath.with(c, q -> Files.readAttributes(q, "unix:uid,gid", java.nio.file.LinkOption.NOFOLLOW_LINKS));
        if ((Integer) owner.get("uid") != n.uid) {
            mode &= ~04000;
        }
        if ((Integer) owner.get("gid") != n.gid) {
            mode &= ~02000;
        }
        return mode;
    }

    /** The unit of holes in an export: a page (the block size of the usual host filesystems). */
    private static final int HOLE_PAGE = 4096;

    private void writeFile(Inode n, Path c) throws IOException {
        int bs = snap.store().blockSize();
        long blocks = (n.size + bs - 1) / bs;
        try (FileChannel ch = HostPath.with(c, q -> FileChannel.open(q, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE))) {
            if (blocks > 1) {
                // the file at its size before any data: writes that grew it instead would have XFS
                // allocate ahead of each one (its speculative preallocation), inside the holes
                setLength(c, n.size);
            }
            for (long i = 0; i < blocks; i++) {
                ChunkId id = snap.block(n, i);
                if (id != null) {
                    byte[] chunk = snap.store().get(id);
                    // the file's bytes only: a last block stored before a shrink inside it may
                    // hold more (the reads of a mount stop at the size too)
                    int len = (int) Math.min(chunk.length, n.size - i * bs);
                    // pages of zeros inside the block stay holes, as whole blocks of zeros do (a
                    // VM image written 4 KiB at a time came out with 64 KiB allocated per write)
                    for (int at = 0; at < len; ) {
                        while (at < len && Store.isZero(chunk, at, Math.min(HOLE_PAGE, len - at))) {
                            at += HOLE_PAGE;
                        }
                        int from = Math.min(at, len); // a last page may be short: at then passed len
                        while (at < len && !Store.isZero(chunk, at, Math.min(HOLE_PAGE, len - at))) {
                            at += HOLE_PAGE;
                        }
                        ByteBuffer b = ByteBuffer.wrap(chunk, from, Math.min(at, len) - from);
                        long pos = i * bs + from;
                        while (b.hasRemaining()) {
                            pos += ch.write(b, pos);
                        }
                    }
                }
                progress.accept(Math.min(bs, n.size - i * bs));
            }
        }
        if (blocks <= 1 && HostPath.with(c, Files::size) < n.size) {
            setLength(c, n.size); // a trailing hole
        }
    }

    private static void setLength(Path c, long size) throws IOException {
        HostPath.with(c, q -> {
            try (var raf = new java.io.RandomAccessFile(q.toFile(), "rw")) {
                raf.setLength(size);
            }
            return null;
        });
    }
}
