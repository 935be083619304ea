/**
 * The thin jnr-fuse adapter: the only package that imports jnr-fuse. Each callback turns a
 * path and arguments into one {@link io.cowfs.fusefs.vfs.ViewFs} call inside {@code guard}, which
 * maps errors to {@code -errno} and never lets an exception reach libfuse.
 */
package io.cowfs.fusefs.fuse;
