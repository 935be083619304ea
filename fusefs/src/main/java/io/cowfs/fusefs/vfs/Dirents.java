package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.tree.DirEntries;
import java.util.AbstractList;
import java.util.RandomAccess;

/**
 * A directory's entries as readdir reports them, sorted by name, without "." and "..": the
 * directory's {@link DirEntries} (names, node ids, types) and each entry's reported inode number
 * (st_ino). Immutable. The adapters read it by index ({@link #nameBytes}, {@link #reportedIno},
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

    /** Entry i's name as UTF-8 (a copy, made without a String). */
    public byte[] nameBytes(int i) {
        return entries.nameBytes(i);
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
