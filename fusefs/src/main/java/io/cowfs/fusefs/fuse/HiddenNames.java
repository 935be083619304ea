package io.cowfs.fusefs.fuse;

import io.cowfs.fusefs.vfs.ViewFs;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * libfuse 2's names for unlinked open files, kept per mount (docs/UNLINKED-OPEN-FILES.md).
 *
 * <p>Without {@code hard_remove}, libfuse's high-level API does not unlink an open file: it
 * renames it to {@code .fuse_hidden} + 16 hex digits in the same directory, and unlinks that name
 * after the last release. Keeping the node named is what lets the kernel's GETATTR of the open
 * file (fstat) reach us. The adapter turns that rename into a real unlink in the vfs (which keeps
 * the inode, nlink 0, until its last release, as a kernel filesystem does) and remembers the
 * hidden name -> inode here, so that getattr and unlink of the hidden name keep working. Hidden
 * names are never listed and never persisted (the vfs never sees them).
 *
 * <p>Thread-safe: concurrent maps, each operation one atomic map call.
 */
final class HiddenNames {
    /** Per directory inode: hidden name -> inode. */
    private final Map<Long, Map<String, Long>> byDir = new ConcurrentHashMap<>();

    /** {@code .fuse_hidden} + 16 hex digits, as libfuse's hide_node names them. */
    static boolean isHiddenName(String name) {
        if (name.length() != 28 || !name.startsWith(".fuse_hidden")) {
            return false;
        }
        for (int i = 12; i < 28; i++) {
            if (Character.digit(name.charAt(i), 16) < 0) {
                return false;
            }
        }
        return true;
    }

    boolean isEmpty() {
        return byDir.isEmpty();
    }

    void hide(long dir, String name, long ino) {
        byDir.computeIfAbsent(dir, k -> new ConcurrentHashMap<>()).put(name, ino);
    }

    /** The inode a hidden path names, or null if path is not one of ours. */
    Long find(ViewFs vfs, String path) {
        if (byDir.isEmpty() || !isHiddenName(path.substring(path.lastIndexOf('/') + 1))) {
            return null;
        }
        ViewFs.Parent p = vfs.parent(path);
        Map<String, Long> m = byDir.get(p.dir());
        return m == null ? null : m.get(p.name());
    }

    /** Forgets a hidden name; returns its inode, or null if it was not one. */
    Long remove(long dir, String name) {
        Map<String, Long> m = byDir.get(dir);
        if (m == null) {
            return null;
        }
        Long ino = m.remove(name);
        if (m.isEmpty()) {
            byDir.remove(dir, m);
        }
        return ino;
    }

    /** The directory was removed: its hidden names go (their files live on by handle). */
    void dropDir(long dir) {
        byDir.remove(dir);
    }
}
