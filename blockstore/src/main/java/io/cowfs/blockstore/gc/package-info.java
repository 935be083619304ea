/**
 * A store's whole life: which chunks are reachable from which names (du), reclaiming the rest
 * (gc), and checking structure (fsck). Knows nothing of FUSE.
 */
package io.cowfs.blockstore.gc;
