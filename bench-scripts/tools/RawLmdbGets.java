import java.io.File;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.lmdbjava.Cursor;
import org.lmdbjava.Dbi;
import org.lmdbjava.Env;
import org.lmdbjava.EnvFlags;
import org.lmdbjava.Txn;

/**
 * liblmdb's own point lookups of the chunks database through lmdbjava, unchecked (what
 * IndexLookups' Java lookups are measured against): same keys, same order, same JVM settings.
 * Usage: java -cp cowfs.jar RawLmdbGets.java INDEX_DIR
 */
public class RawLmdbGets {
    public static void main(String[] args) {
        Env<ByteBuffer> env = Env.create().setMapSize(1L << 40).setMaxDbs(16).setMaxReaders(16)
                .open(new File(args[0]), EnvFlags.MDB_NOTLS, EnvFlags.MDB_RDONLY_ENV);
        Dbi<ByteBuffer> dbi = env.openDbi("chunks");
        List<byte[]> ids = new ArrayList<>();
        try (Txn<ByteBuffer> t = env.txnRead(); Cursor<ByteBuffer> c = dbi.openCursor(t)) {
            while (c.next()) {
                byte[] k = new byte[c.key().remaining()];
                c.key().get(k);
                ids.add(k);
            }
        }
        Collections.shuffle(ids, new Random(1));
        int n = Math.min(ids.size(), 200_000);
        ByteBuffer key = ByteBuffer.allocateDirect(511);
        for (int round = 1; round <= 4; round++) {
            long t0 = System.nanoTime();
            int found = 0;
            try (Txn<ByteBuffer> t = env.txnRead()) {
                for (int i = 0; i < n; i++) {
                    key.clear();
                    key.put(ids.get(i)).flip();
                    found += dbi.get(t, key) != null ? 1 : 0;
                }
            }
            System.out.printf("round %d of %d ids: liblmdb get %.2f us (%d found)%n", round, ids.size(), (System.nanoTime() - t0) / 1e3 / n, found);
        }
        env.close();
    }
}
