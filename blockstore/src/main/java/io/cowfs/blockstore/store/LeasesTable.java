package io.cowfs.blockstore.store;

import java.util.ArrayList;
import java.util.List;
import org.lmdbjava.Txn;

/**
 * The {@code leases} database (docs/FORMAT.md, "LMDB databases", row {@code leases}): key
 * leaseId:u64, value pid:u64 gen:u64 — the one place that layout is encoded and decoded.
 */
public final class LeasesTable extends Table {
    /** A lease's value: the process that holds it and the generation it pins. */
    public record Holder(long pid, long gen) {
        byte[] encode() {
            return BigEndian.longKey(pid, gen);
        }
    }

    LeasesTable(Handle h) {
        super(h);
    }

    /** The holder recorded in a value of this database. */
    public static Holder decode(byte[] value) {
        return new Holder(BigEndian.getLong(value, 0), BigEndian.getLong(value, 8));
    }

    void put(Txn<byte[]> txn, long leaseId, Holder h) {
        put(txn, BigEndian.longKey(leaseId), h.encode());
    }

    boolean delete(Txn<byte[]> txn, long leaseId) {
        return delete(txn, BigEndian.longKey(leaseId));
    }

    /**
     * Oldest generation pinned by a lease of a live process (Long.MAX_VALUE if none); deletes
     * the leases of dead processes (needs a write transaction).
     */
    long floor(Txn<byte[]> txn) {
        long floor = Long.MAX_VALUE;
        List<byte[]> dead = new ArrayList<>();
        for (var kv : iterate(txn)) {
            Holder h = decode(kv.val());
            if (ProcessHandle.of(h.pid()).map(ProcessHandle::isAlive).orElse(false)) {
                floor = Math.min(floor, h.gen());
            } else {
                dead.add(kv.key());
            }
        }
        for (byte[] k : dead) {
            delete(txn, k);
        }
        return floor;
    }

    /** The lease id of a key of this database. */
    static long leaseId(byte[] key) {
        return BigEndian.getLong(key, 0);
    }
}
