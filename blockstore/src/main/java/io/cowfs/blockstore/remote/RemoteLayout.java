package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.PackRecord;
import io.cowfs.blockstore.store.StoreException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.CRC32C;

/**
 * The objects of a remote and their encodings (docs/REMOTE.md, "Object layout"), the one place
 * they are written and read:
 *
 * <pre>
 * cowfs-remote            "cowfs-remote 1\nblockSize N\n": made by the first push, checked by every use
 * packs/HEX               a pack object: "COWFSPK1" record* (the local pack format); HEX = 32 random bytes
 * index/HEX               its index: "COWFSRX1" kind:u8 (0 data, 1 tree) packSize:u64 sha256:32 count:u32
 *                         (id:32 offset:u64 storedLen:u32 rawLen:u32)* crc32c:u32; written after the pack
 * sindex/NAME             the indexes of every pack the snapshot's manifest names, in one object
 *                         ("COWFSSX1" count:u32 (pack:32 len:u32 index:len)* crc32c:u32): a lazy
 *                         pull gets them in one request; written by push just before the manifest
 * snapshots/NAME          a snapshot's manifest (text, below); written last by push
 * gc/condemned            gc's first phase: the packs it will delete at its next run
 * </pre>
 */
public final class RemoteLayout {
    public static final String MARKER = "cowfs-remote";
    public static final String PACKS = "packs/";
    public static final String INDEX = "index/";
    public static final String SNAPSHOTS = "snapshots/";
    public static final String CONDEMNED = "gc/condemned";
    public static final String SINDEX = "sindex/";
    private static final byte[] SINDEX_MAGIC = "COWFSSX1".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] INDEX_MAGIC = "COWFSRX1".getBytes(StandardCharsets.US_ASCII);
    private static final int ENTRY = 32 + 8 + 4 + 4;

    private RemoteLayout() {
    }

    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    /** A new pack name: 32 random bytes. */
    public static ChunkId newPackName() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return ChunkId.of(b);
    }

    public static String packKey(ChunkId pack) {
        return PACKS + pack.hex();
    }

    public static String indexKey(ChunkId pack) {
        return INDEX + pack.hex();
    }

    public static String snapshotKey(String name) {
        return SNAPSHOTS + name;
    }

    public static String snapshotIndexKey(String name) {
        return SINDEX + name;
    }

    /** The snapshot index object of these pack indexes. */
    public static byte[] encodeSnapshotIndex(java.util.Collection<PackIndex> indexes) {
        List<byte[]> parts = new ArrayList<>();
        int n = SINDEX_MAGIC.length + 4 + 4;
        for (PackIndex i : indexes) {
            byte[] b = i.encode();
            parts.add(b);
            n += 32 + 4 + b.length;
        }
        ByteBuffer out = ByteBuffer.allocate(n);
        out.put(SINDEX_MAGIC).putInt(parts.size());
        int k = 0;
        for (PackIndex i : indexes) {
            i.pack().writeTo(out);
            out.putInt(parts.get(k).length).put(parts.get(k));
            k++;
        }
        CRC32C crc = new CRC32C();
        crc.update(out.array(), 0, out.position());
        out.putInt((int) crc.getValue());
        return out.array();
    }

    /** The pack indexes in a snapshot index object; a damaged one is a RemoteException. */
    public static List<PackIndex> decodeSnapshotIndex(String name, byte[] a) {
        String where = snapshotIndexKey(name);
        try {
            CRC32C crc = new CRC32C();
            crc.update(a, 0, a.length - 4);
            ByteBuffer b = ByteBuffer.wrap(a);
            byte[] magic = new byte[SINDEX_MAGIC.length];
            b.get(magic);
            if (!java.util.Arrays.equals(magic, SINDEX_MAGIC) || (int) crc.getValue() != b.getInt(a.length - 4)) {
                throw new RemoteException("remote object " + where + " is damaged");
            }
            int n = b.getInt();
            List<PackIndex> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                ChunkId pack = ChunkId.read(b);
                byte[] part = new byte[b.getInt()];
                b.get(part);
                out.add(PackIndex.decode(pack, part));
            }
            return out;
        } catch (RuntimeException e) {
            throw e instanceof RemoteException r ? r : new RemoteException("remote object " + where + " is damaged (" + e + ")");
        }
    }

    /**
     * One LIST of prefix: every object there with a HEX name (packs/, index/), by that name, in
     * listing order; other keys are skipped.
     */
    public static java.util.Map<ChunkId, ObjectStore.ObjectInfo> listed(ObjectStore os, String prefix) {
        java.util.Map<ChunkId, ObjectStore.ObjectInfo> out = new java.util.LinkedHashMap<>();
        for (ObjectStore.ObjectInfo o : os.list(prefix)) {
            ChunkId p = hexName(o.key(), prefix);
            if (p != null) {
                out.put(p, o);
            }
        }
        return out;
    }

    /** The name a listed key under prefix ends in, or null if it is not a HEX name. */
    public static ChunkId hexName(String key, String prefix) {
        String h = key.substring(prefix.length());
        if (h.length() != 64 || !h.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return null;
        }
        return ChunkId.parse(h);
    }

    // ------------------------------------------------------------------ marker

    public static byte[] marker(int blockSize) {
        return (MARKER + " 1\nblockSize " + blockSize + "\n").getBytes(StandardCharsets.UTF_8);
    }

    /** The block size a marker names; a damaged or newer marker is a RemoteException. */
    public static int markerBlockSize(byte[] b, String where) {
        String[] lines = new String(b, StandardCharsets.UTF_8).split("\n");
        if (lines.length < 2 || !lines[0].equals(MARKER + " 1") || !lines[1].startsWith("blockSize ")) {
            throw new RemoteException(where + " is not a cowfs remote of a format this cowfs reads (its " + MARKER + " object says: "
                    + (lines.length == 0 ? "" : lines[0]) + ")");
        }
        try {
            return Integer.parseInt(lines[1].substring(10).strip());
        } catch (NumberFormatException e) {
            throw new RemoteException(where + ": its " + MARKER + " object is damaged (" + lines[1] + ")");
        }
    }

    // ------------------------------------------------------------------ pack index

    /** One record of a pack object. */
    public record Entry(ChunkId id, long offset, int storedLen, int rawLen) {
        public long end() {
            return offset + PackRecord.HEADER + storedLen;
        }
    }

    /**
     * A pack object's index: whether it holds tree objects (read whole by a lazy pull) or file
     * data, its size and SHA-256 (verify --deep), and its records. A pack's name is random, not its
     * hash: a push that sends again the chunks of a condemned pack (docs/REMOTE.md, gc) must make
     * a pack of another name even when the bytes come out the same.
     */
    public record PackIndex(ChunkId pack, boolean tree, long packSize, ChunkId sha, List<Entry> entries) {
        public byte[] encode() {
            ByteBuffer b = ByteBuffer.allocate(INDEX_MAGIC.length + 1 + 8 + 32 + 4 + entries.size() * ENTRY + 4);
            b.put(INDEX_MAGIC).put((byte) (tree ? 1 : 0)).putLong(packSize);
            sha.writeTo(b);
            b.putInt(entries.size());
            for (Entry e : entries) {
                e.id().writeTo(b);
                b.putLong(e.offset()).putInt(e.storedLen()).putInt(e.rawLen());
            }
            CRC32C crc = new CRC32C();
            crc.update(b.array(), 0, b.position());
            b.putInt((int) crc.getValue());
            return b.array();
        }

        public static PackIndex decode(ChunkId pack, byte[] a) {
            String where = indexKey(pack);
            ByteBuffer b = ByteBuffer.wrap(a);
            if (a.length < INDEX_MAGIC.length + 49) {
                throw new RemoteException("remote object " + where + " is damaged (" + a.length + " bytes)");
            }
            CRC32C crc = new CRC32C();
            crc.update(a, 0, a.length - 4);
            if ((int) crc.getValue() != b.getInt(a.length - 4)) {
                throw new RemoteException("remote object " + where + " is damaged (checksum)");
            }
            byte[] magic = new byte[INDEX_MAGIC.length];
            b.get(magic);
            if (!java.util.Arrays.equals(magic, INDEX_MAGIC)) {
                throw new RemoteException("remote object " + where + " is not a pack index");
            }
            boolean tree = b.get() == 1;
            long size = b.getLong();
            ChunkId sha = ChunkId.read(b);
            int n = b.getInt();
            if (n < 0 || (long) n * ENTRY + INDEX_MAGIC.length + 49 != a.length) {
                throw new RemoteException("remote object " + where + " is damaged (count " + n + ")");
            }
            List<Entry> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                Entry e = new Entry(ChunkId.read(b), b.getLong(), b.getInt(), b.getInt());
                if (e.offset() < PackRecord.FILE_MAGIC.length || e.storedLen() < 0 || e.rawLen() < 0
                        || e.storedLen() > (64 << 20) || e.end() > size) {
                    throw new RemoteException("remote object " + where + " is damaged (record " + i + " lies outside its pack)");
                }
                out.add(e);
            }
            return new PackIndex(pack, tree, size, sha, out);
        }
    }

    // ------------------------------------------------------------------ manifest

    /**
     * A pushed snapshot: its root, where it came from, and every pack object holding one of its
     * chunks (tree or data). Text, one field a line:
     * <pre>
     * cowfs-snapshot 1
     * root HEX
     * created MILLIS
     * source TEXT
     * chunks N
     * bytes N            bytes of the chunks' records (what a full pull downloads at most)
     * sindex-base NAME   (optional) the snapshot whose sindex object holds the indexes of this
     *                    one's packs that its own sindex leaves out
     * pack HEX           one line per pack
     * end
     * </pre>
     */
    public record Manifest(String name, ChunkId root, long createdMillis, String source, long chunks, long bytes, Set<ChunkId> packs,
                           String sindexBase) {
        public byte[] encode() {
            StringBuilder s = new StringBuilder("cowfs-snapshot 1\n");
            s.append("root ").append(root.hex()).append('\n');
            s.append("created ").append(createdMillis).append('\n');
            s.append("source ").append(source.replace('\n', ' ')).append('\n');
            s.append("chunks ").append(chunks).append('\n');
            s.append("bytes ").append(bytes).append('\n');
            if (!sindexBase.isEmpty()) {
                s.append("sindex-base ").append(sindexBase).append('\n');
            }
            for (ChunkId p : packs) {
                s.append("pack ").append(p.hex()).append('\n');
            }
            s.append("end\n");
            return s.toString().getBytes(StandardCharsets.UTF_8);
        }

        public static Manifest decode(String name, byte[] b) {
            String[] lines = new String(b, StandardCharsets.UTF_8).split("\n");
            if (lines.length < 2 || !lines[0].equals("cowfs-snapshot 1") || !lines[lines.length - 1].equals("end")) {
                throw new RemoteException("remote object " + snapshotKey(name) + " is not a snapshot manifest this cowfs reads");
            }
            ChunkId root = null;
            long created = 0;
            long chunks = 0;
            long bytes = 0;
            String source = "";
            String base = "";
            Set<ChunkId> packs = new LinkedHashSet<>();
            try {
                for (int i = 1; i < lines.length - 1; i++) {
                    String l = lines[i];
                    int sp = l.indexOf(' ');
                    String k = sp < 0 ? l : l.substring(0, sp);
                    String v = sp < 0 ? "" : l.substring(sp + 1);
                    switch (k) {
                        case "root" -> root = ChunkId.parse(v);
                        case "created" -> created = Long.parseLong(v);
                        case "source" -> source = v;
                        case "chunks" -> chunks = Long.parseLong(v);
                        case "bytes" -> bytes = Long.parseLong(v);
                        case "pack" -> packs.add(ChunkId.parse(v));
                        case "sindex-base" -> base = v;
                        default -> { } // a newer cowfs's field: not needed to read the snapshot
                    }
                }
            } catch (RuntimeException e) {
                throw new RemoteException("remote object " + snapshotKey(name) + " is damaged (" + e.getMessage() + ")");
            }
            if (root == null) {
                throw new RemoteException("remote object " + snapshotKey(name) + " names no root");
            }
            return new Manifest(name, root, created, source, chunks, bytes, packs, base);
        }
    }

    // ------------------------------------------------------------------ gc

    /**
     * gc's first phase: packs nothing referred to at timeMillis (server time), deleted by a gc run
     * at least graceMillis later (the grace in force when they were condemned: a later run with a
     * shorter grace does not shorten it).
     */
    public record Condemned(long timeMillis, long graceMillis, Set<ChunkId> packs) {
        public static final Condemned NONE = new Condemned(0, 0, Set.of());

        public byte[] encode() {
            StringBuilder s = new StringBuilder("cowfs-condemned 1\ntime ").append(timeMillis).append('\n');
            s.append("grace ").append(graceMillis).append('\n');
            for (ChunkId p : packs) {
                s.append("pack ").append(p.hex()).append('\n');
            }
            return s.append("end\n").toString().getBytes(StandardCharsets.UTF_8);
        }

        public static Condemned decode(byte[] b) {
            String[] lines = new String(b, StandardCharsets.UTF_8).split("\n");
            if (lines.length < 3 || !lines[0].equals("cowfs-condemned 1") || !lines[lines.length - 1].equals("end")) {
                throw damaged();
            }
            try {
                long t = 0;
                long grace = 0;
                Set<ChunkId> packs = new LinkedHashSet<>();
                for (int i = 1; i < lines.length - 1; i++) {
                    String l = lines[i];
                    if (l.startsWith("time ")) {
                        t = Long.parseLong(l.substring(5));
                    } else if (l.startsWith("grace ")) {
                        grace = Long.parseLong(l.substring(6));
                    } else if (l.startsWith("pack ")) {
                        packs.add(ChunkId.parse(l.substring(5)));
                    }
                }
                return new Condemned(t, grace, packs);
            } catch (RuntimeException e) {
                throw damaged();
            }
        }

        private static RemoteException damaged() {
            return new RemoteException("remote object " + CONDEMNED + " is damaged; delete it (gc starts over)");
        }

        /** The condemned list of os, or NONE. */
        public static Condemned read(ObjectStore os) {
            try {
                return decode(os.get(CONDEMNED));
            } catch (RemoteException.Missing e) {
                return NONE;
            }
        }
    }

    /** Sum of the records' bytes. */
    public static long bytes(Collection<Entry> entries) {
        long n = 0;
        for (Entry e : entries) {
            n += PackRecord.HEADER + e.storedLen();
        }
        return n;
    }

    /** Checks a snapshot name as the catalog does (it becomes an object key). */
    public static void checkSnapshotName(String name) {
        io.cowfs.blockstore.catalog.Catalog.checkName(name);
    }

    static StoreException incomplete(String what) {
        return new RemoteException(what);
    }
}
