/**
 * One view's POSIX semantics, addressed by inode number, with a path layer on top. FUSE-free:
 * must not import jnr-fuse (the adapter in {@code fuse} maps {@link io.cowfs.fusefs.vfs.FsException}
 * to {@code -errno}). Storage comes from {@code io.cowfs.blockstore}.
 */
package io.cowfs.fusefs.vfs;
