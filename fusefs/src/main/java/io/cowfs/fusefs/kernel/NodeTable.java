package io.cowfs.fusefs.kernel;

import java.util.concurrent.ConcurrentHashMap;

/**
 * The kernel's references to vfs inodes: every reply that hands the kernel a node id (LOOKUP,
 * CREATE, MKNOD, MKDIR, SYMLINK, LINK, each READDIRPLUS entry) adds one; FORGET and BATCH_FORGET
 * take them back. A node the kernel has forgotten has no entry here. The root is never counted
 * (the kernel never forgets it). A concurrent map: each update is one atomic merge.
 */
final class NodeTable {
    private final ConcurrentHashMap<Long, Long> lookups = new ConcurrentHashMap<>();

    void ref(long nodeid) {
        if (nodeid != Proto.ROOT_ID) {
            lookups.merge(nodeid, 1L, Long::sum);
        }
    }

    /** Takes back n references; true if the kernel now holds none. */
    boolean forget(long nodeid, long n) {
        return lookups.computeIfPresent(nodeid, (k, v) -> v - n <= 0 ? null : v - n) == null;
    }

    /** How many nodes the kernel holds references to. */
    int size() {
        return lookups.size();
    }

    long count(long nodeid) {
        return lookups.getOrDefault(nodeid, 0L);
    }
}
