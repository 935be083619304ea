package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.tree.DirEntries;
import java.util.AbstractList;
import java.util.RandomAccess;

/**
 * A directory's entries as readdir reports them, sorted by name, without "." and "..": the
 * directory's {@link DirEntries} (names, node ids, types) and each entry's reported inode number
 * (st_ino). Immutable. The adapters read it by index ({@link #putName}, {@link #reportedIno},
 * {@link #node}, {@link #mode}), which makes no object an entry; as a {@code List} it makes a
 * {@link ViewFs.DirEntry} per {@code get}.
 */
public final class Dirents extends AbstractList<ViewFs.DirEntry> implements RandomAccess {
    private final DirEntries entries;
    /** Entry i's st_ino; null when it is the node id. */
    private final long[] reported;

    /** entries with reported inode numbers (null: each is its node id). */
    public Dirents(DirEntries entries, long[] reported) {
        if (reported != null && reported.length != entries.size()) {
            throw new IllegalArgumentException(reported.length + " numbers for " + entries.size() + " entries");
        }
        this.entries = entries;
        this.reported = reported;
    }

    @Override
    public int size() {
        return entries.size();
    }

    public String name(int i) {
        return entries.name(i);
    }

    /** The length of entry i's name in UTF-8 bytes. */
    public int nameLength(int i) {
        return entries.nameLength(i);
    }

    /** Puts entry i's name as UTF-8 into out at index at; out's position stays. */
    public void putName(int i, java.nio.ByteBuffer out, int at) {
        entries.putName(i, out, at);
    }

    /** Whether entry i is a directory. */
    public boolean isDirectory(int i) {
        return entries.type(i) == io.cowfs.blockstore.tree.FileType.DIRECTORY;
    }

    /** Entry i's st_ino. */
    public long reportedIno(int i) {
        return reported == null ? entries.ino(i) : reported[i];
    }

    /** The node id the vfs addresses entry i by. */
    public long node(int i) {
        return entries.ino(i);
    }

    /** Entry i's type as st_mode's type bits. */
    public int mode(int i) {
        return entries.type(i).modeBits;
    }

    @Override
    public ViewFs.DirEntry get(int i) {
        return new ViewFs.DirEntry(name(i), reportedIno(i), mode(i), node(i));
    }
}
