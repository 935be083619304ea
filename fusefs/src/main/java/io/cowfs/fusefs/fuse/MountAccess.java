package io.cowfs.fusefs.fuse;

/**
 * Who may use a mount and what the kernel honours in it, beyond the defaults (only the mounting
 * user, {@code nosuid}, {@code nodev}).
 *
 * @param allowOther every user may enter the mount ({@code allow_other}); the files' modes decide the rest
 * @param suid set-user-ID and set-group-ID bits and file capabilities take effect on exec (no {@code nosuid});
 *             root only: the kernel and fusermount3 give an ordinary user's FUSE mounts {@code nosuid} always
 * @param dev device nodes in the mount open their devices (no {@code nodev}); root only, likewise
 */
public record MountAccess(boolean allowOther, boolean suid, boolean dev) {
    /** Only the mounting user, nosuid, nodev. */
    public static final MountAccess PRIVATE = new MountAccess(false, false, false);

    /** The kernel mount options this adds to the defaults, each with a leading comma ("" for none). */
    public String kernelOptions() {
        return (allowOther ? ",allow_other" : "") + (suid ? ",suid" : ",nosuid") + (dev ? ",dev" : ",nodev");
    }
}
