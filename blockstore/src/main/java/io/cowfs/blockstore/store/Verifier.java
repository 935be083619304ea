package io.cowfs.blockstore.store;

import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/** Re-reads and re-hashes every chunk in the index; reports each one that is bad. */
public final class Verifier {
    /** One bad chunk and why. */
    public record Problem(ChunkId id, String pack, long offset, String message) {
    }

    public record Report(long chunks, long bytes, List<Problem> problems) {
    }

    private Verifier() {
    }

    public static long count(Store store) {
        return store.index().read(txn -> store.index().chunks.stat(txn).entries);
    }

    /** Chunks read before their hashes are checked together (Sha256.digestAll: parallel lanes). */
    static final int GROUP = 16;

    /**
     * Reads every chunk the index names, in pack and offset order (the disk reads each pack
     * front to back), on one thread per core, each taking GROUP chunks at a time and checking
     * their hashes together; chunks larger than a block are read and checked one at a time.
     * progress gets one call per chunk (from several threads, one at a time).
     */
    public static Report run(Store store, LongConsumer progress) {
        List<ChunkId> ids = new ArrayList<>();
        List<ChunkLocation> locs = new ArrayList<>();
        store.index().read(txn -> {
            for (var kv : store.index().chunks.iterate(txn)) {
                ids.add(ChunkId.of(kv.key()));
                locs.add(ChunkLocation.decode(kv.val()));
            }
            return null;
        });
        Integer[] order = new Integer[ids.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, java.util.Comparator.comparingLong((Integer i) -> locs.get(i).pack())
                .thenComparingLong(i -> locs.get(i).offset()));
        List<Problem> problems = java.util.Collections.synchronizedList(new ArrayList<>());
        java.util.concurrent.atomic.AtomicLong bytes = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
        int bs = store.blockSize();
        Runnable work = () -> {
            java.nio.ByteBuffer[] slots = new java.nio.ByteBuffer[GROUP];
            java.nio.ByteBuffer[] check = new java.nio.ByteBuffer[GROUP];
            int[] at = new int[GROUP];
            for (int from; (from = next.getAndAdd(GROUP)) < order.length; ) {
                int k = 0;
                for (int j = from; j < Math.min(order.length, from + GROUP); j++) {
                    int i = order[j];
                    ChunkId id = ids.get(i);
                    ChunkLocation loc = locs.get(i);
                    try {
                        if (loc.rawLen() <= bs) {
                            if (slots[k] == null) {
                                slots[k] = java.nio.ByteBuffer.allocateDirect(bs);
                            }
                            int n = store.packs().readInto(id, loc, slots[k], null, false);
                            check[k] = slots[k].duplicate().position(0).limit(n);
                            at[k++] = i;
                        } else {
                            bytes.addAndGet(store.packs().read(id, loc).length);
                        }
                    } catch (NoSuchFileException e) {
                        problems.add(new Problem(id, Packs.fileName(loc.pack()), loc.offset(), "pack file is missing"));
                    } catch (StoreException e) {
                        problems.add(new Problem(id, Packs.fileName(loc.pack()), loc.offset(), e.getMessage()));
                    }
                }
                byte[][] digests = Sha256.digestAll(check, k);
                for (int c = 0; c < k; c++) {
                    int i = at[c];
                    ChunkLocation loc = locs.get(i);
                    if (ids.get(i).names(digests[c])) {
                        bytes.addAndGet(check[c].remaining());
                    } else {
                        String where = Packs.fileName(loc.pack()) + " offset " + loc.offset(); // as PackRecord.decode says it
                        problems.add(new Problem(ids.get(i), Packs.fileName(loc.pack()), loc.offset(),
                                new StoreException.ChunkCorruptException(ids.get(i), "content does not match its hash in " + where).getMessage()));
                    }
                }
                synchronized (progress) {
                    for (int j = from; j < Math.min(order.length, from + GROUP); j++) {
                        progress.accept(1);
                    }
                }
            }
        };
        int threads = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), order.length / GROUP));
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "cowfs-verify");
            t.setDaemon(true);
            return t;
        });
        try {
            List<java.util.concurrent.Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                fs.add(pool.submit(work));
            }
            for (java.util.concurrent.Future<?> f : fs) {
                f.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreException("verify interrupted");
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new StoreException("verify: " + e.getCause(), e.getCause());
        } finally {
            pool.shutdownNow();
        }
        List<Problem> sorted = new ArrayList<>(problems);
        sorted.sort(java.util.Comparator.comparing(Problem::pack).thenComparingLong(Problem::offset));
        return new Report(ids.size(), bytes.get(), sorted);
    }
}
