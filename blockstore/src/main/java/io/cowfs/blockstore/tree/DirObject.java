package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.store.Decoder;
import io.cowfs.blockstore.store.Encoder;
import io.cowfs.blockstore.store.StoreException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/** A directory's entries, sorted by name ("D" objects, docs/FORMAT.md). */
public final class DirObject {
    static final int TAG = 'D';

    /** One name in a directory. */
    public record Entry(long ino, FileType type) {
    }

    private DirObject() {
    }

    public static byte[] encode(Map<String, Entry> entries) {
        Encoder e = new Encoder(16 + entries.size() * 24);
        e.u8(TAG).varlong(entries.size());
        for (Map.Entry<String, Entry> x : new TreeMap<>(entries).entrySet()) {
            e.string(x.getKey()).varlong(x.getValue().ino()).u8(x.getValue().type().code);
        }
        return e.toBytes();
    }

    /** The entries, sorted bytewise; a malformed object is a StoreException. */
    public static DirEntries decode(byte[] b) {
        Decoder d = new Decoder(b);
        if (d.u8() != TAG) {
            throw new StoreException("not a directory object");
        }
        int n = d.varint();
        if (n > b.length) { // each entry takes 3 bytes at least
            throw new StoreException("directory object of " + b.length + " bytes claims " + n + " entries");
        }
        DirEntries.Builder out = new DirEntries.Builder(n, b.length);
        for (int i = 0; i < n; i++) {
            int len = d.varint();
            int at = d.position();
            d.skip(len);
            long ino = d.varlong();
            FileType type = FileType.ofCode(d.u8());
            if (ascii(b, at, len)) {
                out.add(b, at, len, ino, type);
            } else { // as a String would have it (bytes that are not UTF-8 read as U+FFFD), so lookups by name agree
                byte[] name = new String(b, at, len, StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8);
                out.add(name, 0, name.length, ino, type);
            }
        }
        return out.build();
    }

    private static boolean ascii(byte[] b, int off, int len) {
        for (int i = off; i < off + len; i++) {
            if (b[i] < 0) {
                return false;
            }
        }
        return true;
    }
}
