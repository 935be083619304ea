/**
 * Which process has which view mounted, and how other processes talk to it: the per-view lock
 * and record in the store's {@code run/} directory, and the control socket through which
 * {@code cowfs snapshot} asks a mount to persist before freezing. FUSE-free.
 */
package io.cowfs.fusefs.mount;
