package io.cowfs.blockstore.tree;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import jnr.ffi.LastError;

/**
 * A host path as the kernel takes it. A tree may be deeper than PATH_MAX (4,096 bytes, the
 * most a system call takes as one path: directories made one at a time, `cp -a` and tar copy
 * them), so import and export reach a path that long through a directory on its way: opened a
 * hop of at most {@link #HOP} bytes at a time (openat, O_PATH), the rest then named as
 * {@code /proc/self/fd/N/rest}. A shorter path is used as it is, with no call and no descriptor.
 *
 * <p>Use it for one operation and close it: {@code try (HostPath h = HostPath.of(p)) {
 * Files.size(h.path()); }}. What the operation opens stays open after the close. Errors name the
 * path as given ({@link #with} re-makes java.nio's), never the /proc path. Not shared between threads.
 */
public final class HostPath implements AutoCloseable {
    /** Longer paths (in bytes) are reached in hops; short of PATH_MAX with room for the /proc prefix. */
    static final int HOP = 3000;
    /** O_PATH (asm-generic, x86, arm, arm64, riscv, powerpc): a handle to walk from, no read permission needed. */
    private static final int O_PATH = 010000000;
    private static final int O_DIRECTORY = jnr.constants.platform.OpenFlags.O_DIRECTORY.intValue();
    private static final int O_CLOEXEC = jnr.constants.platform.OpenFlags.O_CLOEXEC.intValue();
    private static final int AT_FDCWD = -100;

    private final Path path;
    private final int fd;

    private HostPath(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    /** p reachable by one system call; opens the directories on its way if p is longer than {@link #HOP} bytes. */
    public static HostPath of(Path p) throws IOException {
        String s = p.toString();
        if (s.length() <= HOP / 4) { // a UTF-8 char is at most 4 bytes: no need to count
            return new HostPath(p, -1);
        }
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length <= HOP) {
            return new HostPath(p, -1);
        }
        int dir = AT_FDCWD;
        int start = 0;
        try {
            while (b.length - start > HOP) {
                int cut = lastSlash(b, start + HOP, start);
                if (cut < 0) {
                    throw new IOException("cannot reach " + p + ": a name in it is longer than " + HOP + " bytes");
                }
                String hop = new String(b, start, cut - start, StandardCharsets.UTF_8);
                int next = HostFs.LIBC.openat(dir, hop, O_PATH | O_DIRECTORY | O_CLOEXEC);
                int errno = LastError.getLastError(HostFs.RUNTIME);
                if (dir != AT_FDCWD) {
                    HostFs.LIBC.close(dir);
                }
                dir = AT_FDCWD;
                if (next < 0) {
                    throw new IOException("cannot reach " + p + ": " + HostFs.LIBC.strerror(errno) + " (errno " + errno
                            + ") at " + new String(b, 0, cut, StandardCharsets.UTF_8));
                }
                dir = next;
                start = cut + 1;
            }
        } catch (IOException | RuntimeException e) {
            if (dir != AT_FDCWD) {
                HostFs.LIBC.close(dir);
            }
            throw e;
        }
        String rest = new String(b, start, b.length - start, StandardCharsets.UTF_8);
        return new HostPath(Path.of("/proc/self/fd/" + dir + "/" + rest), dir);
    }

    /** One java.nio call on a path the kernel takes. */
    @FunctionalInterface
    public interface Op<T> {
        T apply(Path reached) throws IOException;
    }

    /**
     * op applied to p as the kernel can take it; an exception it throws names p, not the /proc
     * path (same exception class for the usual kinds: no such file, exists, access denied...).
     */
    public static <T> T with(Path p, Op<T> op) throws IOException {
        try (HostPath h = of(p)) {
            try {
                return op.apply(h.path);
            } catch (FileSystemException e) {
                if (h.fd < 0) {
                    throw e;
                }
                throw renamed(e, p);
            }
        }
    }

    private static FileSystemException renamed(FileSystemException e, Path p) {
        String file = p.toString();
        String other = e.getOtherFile();
        String reason = e.getReason();
        FileSystemException r;
        if (e instanceof NoSuchFileException) {
            r = new NoSuchFileException(file, other, reason);
        } else if (e instanceof FileAlreadyExistsException) {
            r = new FileAlreadyExistsException(file, other, reason);
        } else if (e instanceof AccessDeniedException) {
            r = new AccessDeniedException(file, other, reason);
        } else if (e instanceof DirectoryNotEmptyException) {
            r = new DirectoryNotEmptyException(file);
        } else if (e instanceof NotDirectoryException) {
            r = new NotDirectoryException(file);
        } else {
            r = new FileSystemException(file, other, reason);
        }
        r.initCause(e);
        return r;
    }

    /** The last '/' at or before from and after floor; -1 if none. */
    private static int lastSlash(byte[] b, int from, int floor) {
        for (int i = Math.min(from, b.length - 1); i > floor; i--) {
            if (b[i] == '/') {
                return i;
            }
        }
        return -1;
    }

    /** The path to hand the kernel (or java.nio). */
    public Path path() {
        return path;
    }

    @Override
    public void close() {
        if (fd >= 0) {
            HostFs.LIBC.close(fd);
        }
    }
}
