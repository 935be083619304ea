/**
 * The thin jnr-fuse adapter: the only package that imports jnr-fuse. Each callback turns a
 * path and arguments into one {@link io.cowfs.fusefs.vfs.ViewFs} call inside {@code guard}, which
 * maps errors to {@code -errno} and never lets an exception reach libfuse. What only libfuse 2's
 * path API needs lives here too: its hidden names of unlinked open files ({@code HiddenNames})
 * and refusing to move a directory into itself from the paths.
 */
package io.cowfs.fusefs.fuse;
