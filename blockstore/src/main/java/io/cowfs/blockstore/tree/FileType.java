package io.cowfs.blockstore.tree;

/** The POSIX file types a tree can hold; code is the on-disk byte (docs/FORMAT.md). */
public enum FileType {
    REGULAR(1, 0100000),
    DIRECTORY(2, 0040000),
    SYMLINK(3, 0120000),
    FIFO(4, 0010000),
    CHAR_DEVICE(5, 0020000),
    BLOCK_DEVICE(6, 0060000),
    SOCKET(7, 0140000);

    public static final int S_IFMT = 0170000;

    public final int code;
    public final int modeBits;

    FileType(int code, int modeBits) {
        this.code = code;
        this.modeBits = modeBits;
    }

    /** values() once: each call of it copies the array (a walk of a million files decodes each entry's type). */
    private static final FileType[] ALL = values();

    public static FileType ofCode(int code) {
        for (FileType t : ALL) {
            if (t.code == code) {
                return t;
            }
        }
        throw new io.cowfs.blockstore.store.StoreException("unknown file type code " + code);
    }

    /** The type of a full st_mode, or null for an unknown type. */
    public static FileType ofMode(int mode) {
        int fmt = mode & S_IFMT;
        for (FileType t : ALL) {
            if (t.modeBits == fmt) {
                return t;
            }
        }
        return null;
    }
}
