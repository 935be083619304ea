import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.StoreIndex;
import io.cowfs.blockstore.store.Table;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Index lookups as a mount makes them, in the mount's JVM settings (run by 16-index-lookups.sh):
 * chunk locations in read transactions (the Java descent every read of a block makes), and adds of
 * ids the index has already in a write transaction that is then abandoned (the page checks a
 * commit makes before liblmdb's put, and the put's own descent). Keys in random order, as chunk
 * ids are. Prints one line per round: microseconds per lookup and per add.
 * Usage: java -cp cowfs.jar IndexLookups.java INDEX_DIR (a copy: nothing is committed, but no other process may use it)
 */
public class IndexLookups {
    public static void main(String[] args) {
        StoreIndex index = new StoreIndex(Path.of(args[0]));
        List<ChunkId> ids = new ArrayList<>();
        index.read(txn -> {
            for (Table.Entry e : index.chunks.iterate(txn)) {
                ids.add(ChunkId.of(e.key()));
            }
            return null;
        });
        Collections.shuffle(ids, new Random(1));
        int n = Math.min(ids.size(), 200_000);
        int adds = n / 4;
        for (int round = 1; round <= 4; round++) {
            long t0 = System.nanoTime();
            int found = index.read(txn -> {
                int f = 0;
                for (int i = 0; i < n; i++) {
                    f += index.chunks.location(txn, ids.get(i)) != null ? 1 : 0;
                }
                return f;
            });
            long lookup = System.nanoTime() - t0;
            long[] add = new long[1];
            try {
                index.write(txn -> {
                    List<ChunkLocation> locs = new ArrayList<>(adds);
                    for (int i = 0; i < adds; i++) {
                        locs.add(index.chunks.location(txn, ids.get(i)));
                    }
                    long s = System.nanoTime();
                    for (int i = 0; i < adds; i++) {
                        if (index.chunks.add(txn, ids.get(i), locs.get(i))) {
                            throw new IllegalStateException("an id the index has was added");
                        }
                    }
                    add[0] = System.nanoTime() - s;
                    throw new Abandon();
                });
            } catch (Abandon expected) {
                // nothing committed
            }
            System.out.printf("round %d of %d ids: lookup %.2f us, add (refused) %.2f us%n",
                    round, ids.size(), lookup / 1e3 / n, add[0] / 1e3 / adds);
            if (found != n) {
                throw new IllegalStateException(found + " of " + n + " ids found");
            }
        }
        index.close();
    }

    private static final class Abandon extends RuntimeException {
        Abandon() {
            super(null, null, false, false);
        }
    }
}
