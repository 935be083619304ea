package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.Decoder;
import io.cowfs.blockstore.store.Encoder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One file's metadata and the reference to its content, as stored in a snapshot's inode table
 * and in a view's delta (encoding in docs/FORMAT.md, "Inode record").
 *
 * <p>Mutable on purpose: the VFS edits copies under its own lock. Objects read from a snapshot
 * are shared and must be {@link #copy() copied} before any change.
 */
public final class Inode {
    /** Blocks at or past this index in {@link #blockPages} are holes (set by truncation). */
    public static final long ALL_VALID = Long.MAX_VALUE;

    public long ino;
    public FileType type;
    public int perm; // the 12 low mode bits (rwx, setuid, setgid, sticky)
    public int uid;
    public int gid;
    public int nlink;
    public long size;
    public long atimeNs;
    public long mtimeNs;
    public long ctimeNs;
    public long rdev;
    /**
     * The st_ino the file had on the host it was imported from (0 if it was created in a view).
     * Mounts report it, so that tools keyed on inode numbers (git's index) see the files they
     * indexed on the host as unchanged.
     */
    public long hostIno;
    public TreeMap<String, byte[]> xattrs = new TreeMap<>();
    /** REGULAR: block-list pages (each a chunk of {@link BlockList#PAGE} entries); empty when {@link #inlineBlocks} holds the list. */
    public List<ChunkId> blockPages = new ArrayList<>();
    /**
     * REGULAR, stores of format 6 on: the block list itself when it is short (1 to
     * {@link BlockList#INLINE} entries, null for a hole), kept in the inode instead of a page
     * object of its own; null otherwise. A small file is then one chunk, not two.
     */
    public ChunkId[] inlineBlocks;
    public long validBlocks = ALL_VALID;
    /** DIRECTORY: the directory object listing the entries, null when empty. */
    public ChunkId dirObject;
    /** SYMLINK: the target bytes. */
    public byte[] target;

    /**
     * The times a record holds: nanoseconds since the epoch in an i64, 1677-09-21 to 2262-04-11.
     * The lowest two values are the vfs's "omit" and "now" markers, so the range starts above them.
     */
    public static final long MIN_TIME_NS = Long.MIN_VALUE + 2;
    public static final long MAX_TIME_NS = Long.MAX_VALUE;

    /**
     * seconds + nanoseconds as a record's time, clamped to {@link #MIN_TIME_NS}..{@link #MAX_TIME_NS}
     * (as the kernel clamps a time to what a filesystem stores: ext4 keeps 1901 to 2446). A time
     * outside the range used to wrap around: an mtime of 2446 came back as 1861.
     */
    public static long timeNs(long seconds, long nanos) {
        try {
            return Math.max(Math.addExact(Math.multiplyExact(seconds, 1_000_000_000L), nanos), MIN_TIME_NS);
        } catch (ArithmeticException outOfRange) {
            return seconds < 0 ? MIN_TIME_NS : MAX_TIME_NS;
        }
    }

    /** The on-disk type code of a regular file whose block list is inline (docs/FORMAT.md, "Inode record"). */
    static final int INLINE_REGULAR_CODE = 8;

    /** A hash of the block list's representation (pages or inline entries): equal lists, equal hashes. */
    public int listHash() {
        return 31 * blockPages.hashCode() + java.util.Arrays.hashCode(inlineBlocks);
    }

    /** Bit set on the st_ino of inodes created in a view, so they never equal an imported host inode number. */
    public static final long VIEW_INO_BIT = 1L << 62;

    /** The inode number mounts report: the host's for imported files, else our own, marked. */
    public long reportedIno() {
        return reportedIno(ino, hostIno);
    }

    static long reportedIno(long ino, long hostIno) {
        return hostIno != 0 ? hostIno : (ino == 1 ? 1 : ino | VIEW_INO_BIT);
    }

    /**
     * {@link #reportedIno()} of the record d holds (never 0), read without decoding the rest (a listing
     * needs it for every entry, and nothing else of the entry's inode): the fields before it are
     * skipped in {@link #decode(long, Decoder)}'s order.
     */
    static long reportedIno(long ino, Decoder d) {
        int code = d.u8();
        if (code != INLINE_REGULAR_CODE) {
            FileType.ofCode(code); // a bad record fails here as its decode would
        }
        d.varint(); // perm
        d.varlong(); // uid
        d.varlong(); // gid
        d.varint(); // nlink
        d.varlong(); // size
        d.skip(24); // atime, mtime, ctime
        d.varlong(); // rdev
        return reportedIno(ino, d.varlong());
    }

    public int mode() {
        return type.modeBits | (perm & 07777);
    }

    public Inode copy() {
        Inode c = new Inode();
        c.ino = ino;
        c.type = type;
        c.perm = perm;
        c.uid = uid;
        c.gid = gid;
        c.nlink = nlink;
        c.size = size;
        c.atimeNs = atimeNs;
        c.mtimeNs = mtimeNs;
        c.ctimeNs = ctimeNs;
        c.rdev = rdev;
        c.hostIno = hostIno;
        c.xattrs = new TreeMap<>(xattrs);
        c.blockPages = new ArrayList<>(blockPages);
        c.inlineBlocks = inlineBlocks == null ? null : inlineBlocks.clone();
        c.validBlocks = validBlocks;
        c.dirObject = dirObject;
        c.target = target;
        return c;
    }

    public void encode(Encoder e) {
        e.u8(type == FileType.REGULAR && inlineBlocks != null ? INLINE_REGULAR_CODE : type.code).varlong(perm).varlong(uid & 0xFFFFFFFFL).varlong(gid & 0xFFFFFFFFL).varlong(nlink)
                .varlong(size).i64(atimeNs).i64(mtimeNs).i64(ctimeNs).varlong(rdev).varlong(hostIno);
        e.varlong(xattrs.size());
        for (Map.Entry<String, byte[]> x : xattrs.entrySet()) {
            e.string(x.getKey()).bytes(x.getValue());
        }
        switch (type) {
            case REGULAR -> {
                e.varlong(validBlocks == ALL_VALID ? 0 : validBlocks + 1);
                if (inlineBlocks != null) { // the entries as a block-list page holds them
                    BlockList.writeEntries(e, inlineBlocks, 0, inlineBlocks.length);
                } else {
                    e.varlong(blockPages.size());
                    blockPages.forEach(e::id);
                }
            }
            case DIRECTORY -> {
                e.u8(dirObject == null ? 0 : 1);
                if (dirObject != null) {
                    e.id(dirObject);
                }
            }
            case SYMLINK -> e.bytes(target);
            default -> { }
        }
    }

    public byte[] encode() {
        Encoder e = new Encoder(96);
        encode(e);
        return e.toBytes();
    }

    public static Inode decode(long ino, Decoder d) {
        Inode n = new Inode();
        n.ino = ino;
        int code = d.u8();
        boolean inline = code == INLINE_REGULAR_CODE;
        n.type = inline ? FileType.REGULAR : FileType.ofCode(code);
        n.perm = d.varint();
        n.uid = (int) d.varlong();
        n.gid = (int) d.varlong();
        n.nlink = d.varint();
        n.size = d.varlong();
        n.atimeNs = d.i64();
        n.mtimeNs = d.i64();
        n.ctimeNs = d.i64();
        n.rdev = d.varlong();
        n.hostIno = d.varlong();
        int nx = d.varint();
        for (int i = 0; i < nx; i++) {
            n.xattrs.put(d.string(), d.bytes());
        }
        switch (n.type) {
            case REGULAR -> {
                long v = d.varlong();
                n.validBlocks = v == 0 ? ALL_VALID : v - 1;
                int np = d.varint();
                if (inline) {
                    if (np < 1 || np > BlockList.INLINE) {
                        throw new io.cowfs.blockstore.store.StoreException("inline block list of " + np + " entries");
                    }
                    n.inlineBlocks = BlockList.readEntries(d, np);
                } else {
                    for (int i = 0; i < np; i++) {
                        n.blockPages.add(d.id());
                    }
                }
            }
            case DIRECTORY -> n.dirObject = d.u8() == 1 ? d.id() : null;
            case SYMLINK -> n.target = d.bytes();
            default -> { }
        }
        return n;
    }

    public static Inode decode(long ino, byte[] b) {
        return decode(ino, new Decoder(b));
    }
}
