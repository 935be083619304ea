package io.cowfs.blockstore.tree;

import io.cowfs.blockstore.store.Decoder;
import io.cowfs.blockstore.store.Encoder;
import io.cowfs.blockstore.store.StoreException;
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

    public static TreeMap<String, Entry> decode(byte[] b) {
        Decoder d = new Decoder(b);
        if (d.u8() != TAG) {
            throw new StoreException("not a directory object");
        }
        int n = d.varint();
        TreeMap<String, Entry> out = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            String name = d.string();
            long ino = d.varlong();
            out.put(name, new Entry(ino, FileType.ofCode(d.u8())));
        }
        return out;
    }
}
