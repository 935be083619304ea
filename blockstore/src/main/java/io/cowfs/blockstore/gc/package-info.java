/**
 * A store's whole life: which chunks are reachable from which names (du), reclaiming the rest
 * (gc), and checking structure (fsck, and the repair of a damaged index). All three walk the
 * object graph through {@link io.cowfs.blockstore.gc.ObjectGraph}, as visitors. Knows nothing of
 * FUSE.
 */
package io.cowfs.blockstore.gc;
