package io.cowfs.blockstore.remote;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A directory as object store ({@code file:///DIR} remotes): one file per key, written under a
 * temporary name and renamed, so a reader sees a whole object or none, as with S3. For a
 * shared filesystem (NFS) between machines, and for trying remotes without a server.
 *
 * <p>Thread-safety: stateless but for the request counter.
 */
final class DirObjectStore implements ObjectStore {
    private final Path root;
    private final AtomicLong requests = new AtomicLong();

    DirObjectStore(Path root) {
        this.root = root;
    }

    private Path file(String key) {
        if (key.isEmpty() || key.startsWith("/") || Arrays.asList(key.split("/")).contains("..")) {
            throw new IllegalArgumentException("bad object key " + key);
        }
        return root.resolve(key);
    }

    @Override
    public void put(String key, byte[] data) {
        requests.incrementAndGet();
        Path f = file(key);
        Path tmp = f.resolveSibling("." + f.getFileName() + "." + UUID.randomUUID() + ".tmp");
        try {
            Files.createDirectories(f.getParent());
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.CREATE_NEW,
                    java.nio.file.StandardOpenOption.WRITE)) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(data);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ch.force(true); // durable before its name appears: a manifest never outlives its packs in a crash
            }
            try {
                Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
            }
            try (java.nio.channels.FileChannel d = java.nio.channels.FileChannel.open(f.getParent(), java.nio.file.StandardOpenOption.READ)) {
                d.force(true); // the rename itself
            }
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the write failed already; that is the error to report
            }
            throw new RemoteException("PUT " + key + " to " + describe() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public byte[] get(String key) {
        requests.incrementAndGet();
        try {
            return Files.readAllBytes(file(key));
        } catch (NoSuchFileException e) {
            throw new RemoteException.Missing(key, describe());
        } catch (IOException e) {
            throw new RemoteException("GET " + key + " from " + describe() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public byte[] getRange(String key, long offset, int length) {
        requests.incrementAndGet();
        try (RandomAccessFile f = new RandomAccessFile(file(key).toFile(), "r")) {
            long n = Math.max(0, Math.min(length, f.length() - offset));
            byte[] b = new byte[(int) n];
            f.seek(offset);
            f.readFully(b);
            return b;
        } catch (java.io.FileNotFoundException e) {
            throw new RemoteException.Missing(key, describe());
        } catch (IOException e) {
            throw new RemoteException("GET " + key + " from " + describe() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public ObjectInfo head(String key) {
        requests.incrementAndGet();
        Path f = file(key);
        try {
            BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
            return new ObjectInfo(key, a.size(), a.lastModifiedTime().toMillis());
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new RemoteException("HEAD " + key + " at " + describe() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public List<ObjectInfo> list(String prefix) {
        requests.incrementAndGet();
        List<ObjectInfo> out = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes a) {
                    String key = root.relativize(f).toString();
                    if (key.startsWith(prefix) && !f.getFileName().toString().startsWith(".")) {
                        out.add(new ObjectInfo(key, a.size(), a.lastModifiedTime().toMillis()));
                    }
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new RemoteException("LIST " + prefix + " at " + describe() + ": " + e.getMessage(), e);
        }
        out.sort(Comparator.comparing(ObjectInfo::key));
        return out;
    }

    /** The temporary files of {@link #put}s that never finished (a killed push), old enough not to be running. */
    @Override
    public Leftovers deleteUnfinished(long beforeMillis) {
        requests.incrementAndGet();
        int[] n = {0};
        long[] bytes = {0};
        if (!Files.isDirectory(root)) {
            return new Leftovers(0, 0);
        }
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                    String name = f.getFileName().toString();
                    if (name.startsWith(".") && name.endsWith(".tmp") && a.lastModifiedTime().toMillis() < beforeMillis
                            && Files.deleteIfExists(f)) {
                        n[0]++;
                        bytes[0] += a.size();
                    }
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new RemoteException("cannot remove unfinished uploads at " + describe() + ": " + e.getMessage(), e);
        }
        return new Leftovers(n[0], bytes[0]);
    }

    @Override
    public void delete(String key) {
        requests.incrementAndGet();
        try {
            Files.deleteIfExists(file(key));
        } catch (IOException e) {
            throw new RemoteException("DELETE " + key + " at " + describe() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void ensureBucket() {
        try {
            Files.createDirectories(root);
        } catch (IOException e) {
            throw new RemoteException("cannot create " + root + ": " + e.getMessage(), e);
        }
    }

    @Override
    public long requests() {
        return requests.get();
    }

    @Override
    public String describe() {
        return "file://" + root;
    }

    @Override
    public void close() {
    }
}
