package io.cowfs.fusefs.vfs;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** {@link PosixTarget} on a {@link ViewFs}, called as the kernel-protocol adapter calls it (by inode). */
final class ViewFsTarget implements PosixTarget {
    final ViewFs fs;

    ViewFsTarget(ViewFs fs) {
        this.fs = fs;
    }

    private long ino(String path) {
        return fs.resolve("/" + path);
    }

    private ViewFs.Parent parent(String path) {
        return fs.parent("/" + path);
    }

    private static Attr attr(Stat s) {
        return new Attr(s.ino(), s.mode(), s.nlink(), s.size());
    }

    @Override
    public int blockSize() {
        return fs.store().blockSize();
    }

    @Override
    public void mkdir(String path) {
        ViewFs.Parent p = parent(path);
        fs.mkdir(p.dir(), p.name(), 0755, 0, 0);
    }

    @Override
    public void rmdir(String path) {
        ViewFs.Parent p = parent(path);
        fs.rmdir(p.dir(), p.name());
    }

    @Override
    public void unlink(String path) {
        ViewFs.Parent p = parent(path);
        fs.unlink(p.dir(), p.name());
    }

    @Override
    public void rename(String from, String to) {
        ViewFs.Parent a = parent(from);
        ViewFs.Parent b = parent(to);
        fs.rename(a.dir(), a.name(), b.dir(), b.name());
    }

    @Override
    public void link(String existing, String path) {
        long ino = ino(existing);
        ViewFs.Parent p = parent(path);
        fs.link(ino, p.dir(), p.name());
    }

    @Override
    public void symlink(String target, String path) {
        ViewFs.Parent p = parent(path);
        fs.symlink(target.getBytes(StandardCharsets.UTF_8), p.dir(), p.name(), 0, 0);
    }

    @Override
    public String readlink(String path) {
        return new String(fs.readlink(ino(path)), StandardCharsets.UTF_8);
    }

    @Override
    public Handle create(String path) {
        ViewFs.Parent p = parent(path);
        return new VfsHandle(fs.create(p.dir(), p.name(), 0644, 0, 0));
    }

    @Override
    public Handle open(String path, boolean write) {
        long ino = ino(path);
        fs.open(ino, write);
        return new VfsHandle(ino);
    }

    @Override
    public Attr stat(String path) {
        return attr(fs.getattr(ino(path)));
    }

    @Override
    public List<String> list(String dir) {
        List<String> out = new ArrayList<>();
        for (ViewFs.DirEntry e : fs.readdir(dir.isEmpty() ? 1 : ino(dir))) {
            out.add(e.name());
        }
        return out;
    }

    @Override
    public void truncate(String path, long size) {
        fs.truncate(ino(path), size);
    }

    @Override
    public void setxattr(String path, String name, byte[] value, int flags) {
        fs.setxattr(ino(path), name, value, flags);
    }

    @Override
    public byte[] getxattr(String path, String name) {
        return fs.getxattr(ino(path), name);
    }

    @Override
    public List<String> listxattr(String path) {
        return fs.listxattr(ino(path));
    }

    @Override
    public void removexattr(String path, String name) {
        fs.removexattr(ino(path), name);
    }

    @Override
    public void close() {
        fs.close();
    }

    /** A handle: the inode number, as fi.fh / the kernel's node id carries it. */
    final class VfsHandle implements Handle {
        final long ino;

        VfsHandle(long ino) {
            this.ino = ino;
        }

        @Override
        public byte[] read(long off, int len) {
            byte[] b = new byte[len];
            int n = fs.read(ino, off, b, len);
            return Arrays.copyOf(b, n);
        }

        @Override
        public void write(long off, byte[] data) {
            fs.write(ino, off, data, data.length);
        }

        @Override
        public Attr fstat() {
            return attr(fs.getattr(ino));
        }

        @Override
        public void fsync() {
            fs.fsync(ino);
        }

        @Override
        public void ftruncate(long size) {
            fs.truncate(ino, size);
        }

        @Override
        public void fallocate(int mode, long off, long len) {
            fs.fallocate(ino, mode, off, len);
        }

        @Override
        public long seekData(long off) {
            return fs.seekData(ino, off);
        }

        @Override
        public long seekHole(long off) {
            return fs.seekHole(ino, off);
        }

        @Override
        public long copyTo(Handle out, long offIn, long offOut, long len) {
            return fs.copyFileRange(ino, offIn, ((VfsHandle) out).ino, offOut, len);
        }

        @Override
        public void close() {
            try {
                fs.flush(ino);
            } finally {
                fs.release(ino);
            }
        }
    }
}
