/**
 * One view's POSIX semantics, addressed by inode number, with a path layer on top; it behaves
 * like a kernel filesystem (no libfuse conventions such as {@code .fuse_hidden} names). FUSE-free:
 * must not import jnr-fuse (adapters map {@link io.cowfs.fusefs.vfs.FsException} to
 * {@code -errno}, through {@link io.cowfs.fusefs.vfs.Errno#of} for anything else). Storage comes
 * from {@code io.cowfs.blockstore}. {@code ViewFs} is the API; {@code ViewNamespace},
 * {@code WriteBack}, {@code FileRanges}, {@code Attributes} and {@code ReadAhead} do the work under
 * its lock.
 */
package io.cowfs.fusefs.vfs;
