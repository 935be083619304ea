/**
 * A store's {@code run/} directory and the mount control protocol: which process has which view
 * (or snapshot) mounted ({@link io.cowfs.blockstore.run.MountRegistry}, the only code that reads or
 * writes {@code run/view-ID.mount} and {@code .lock} files), and the control socket through which
 * other processes ask a mount to persist or roll its pack over ({@link io.cowfs.blockstore.run.ControlServer},
 * {@link io.cowfs.blockstore.run.MountControl}), which answers only the peers
 * {@link io.cowfs.blockstore.run.Peers} admits (docs/SECURITY.md). Used by gc, fsck, rm, freeze, umount and the mount
 * daemon. Must not import FUSE or the vfs: a mount plugs in through
 * {@link io.cowfs.blockstore.run.ControlServer.Target}.
 */
package io.cowfs.blockstore.run;
