import io.cowfs.blockstore.store.ChunkId;
import io.cowfs.blockstore.store.ChunkLocation;
import io.cowfs.blockstore.store.StoreIndex;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * What a commit's chunk adds cost by the order of their keys (docs/DESIGN-DECISIONS.md, "Sequenced
 * delta ids"): N new ids added to the chunks database of an index in one committed write
 * transaction, four rounds in one process (round 0 is a fresh mount's first commit: new memory
 * for liblmdb's dirty pages, code not compiled yet). ORDER: random (ids as SHA-256 gives them, in
 * hash-map order), sorted (the same, in key order: PendingChunks.inKeyOrder) or seq (sequenced
 * ids, which grow). Prints per round: page faults, ms for the puts, ms with the commit.
 * Usage (in the mount JVM's settings, on a COPY of an index: it commits):
 *   java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 --add-opens=java.base/java.nio=ALL-UNNAMED \
 *        --add-opens=java.base/sun.nio.ch=ALL-UNNAMED -cp cowfs.jar IndexAdds.java INDEX_COPY N ORDER
 */
public class IndexAdds {
    public static void main(String[] args) throws Exception {
        StoreIndex index = new StoreIndex(Path.of(args[0]));
        int n = Integer.parseInt(args[1]);
        String order = args[2];
        Random r = new Random();
        long[] seq = {System.currentTimeMillis() << 14};
        for (int round = 0; round < 4; round++) {
            List<ChunkId> ids = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                byte[] b = new byte[32];
                r.nextBytes(b);
                ChunkId id = ChunkId.of(b);
                ids.add(order.equals("seq") ? ChunkId.sequenced(id, seq[0]++) : id);
            }
            if (order.equals("sorted")) {
                ids.sort(null);
            }
            long f0 = minorFaults();
            long t0 = System.nanoTime();
            long[] puts = new long[1];
            index.write(txn -> {
                for (int i = 0; i < n; i++) {
                    index.chunks.add(txn, ids.get(i), new ChunkLocation(1, 4096L * i, 4000, 4096, 1));
                }
                puts[0] = System.nanoTime() - t0;
                return null;
            });
            long all = System.nanoTime() - t0;
            System.out.printf("%s n=%d round %d: faults %d, puts %.1f ms, with the commit %.1f ms%n",
                    order, n, round, minorFaults() - f0, puts[0] / 1e6, all / 1e6);
        }
    }

    private static long minorFaults() throws Exception {
        String stat = Files.readString(Path.of("/proc/self/stat"));
        return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[7]);
    }
}
