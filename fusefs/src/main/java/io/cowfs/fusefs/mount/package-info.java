/**
 * The process side of a mount: {@link io.cowfs.fusefs.mount.MountDaemon} wires the registry claim,
 * the vfs, the control socket and the FUSE session together and is the one owner that closes them;
 * {@link io.cowfs.fusefs.mount.IdleTrimmer} gives memory back when idle. The {@code run/} registry
 * and the control protocol themselves live in blockstore's {@code run} package (FUSE-free, so gc
 * and fsck use them too).
 */
package io.cowfs.fusefs.mount;
