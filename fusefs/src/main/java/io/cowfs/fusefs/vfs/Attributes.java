package io.cowfs.fusefs.vfs;

import io.cowfs.blockstore.tree.FileType;
import io.cowfs.blockstore.tree.Inode;
import java.util.ArrayList;
import java.util.List;

/**
 * Per-inode attributes of a view: stat, mode, ownership, times, extended attributes. Changing
 * them copies no data (only the inode record changes in the view's delta).
 *
 * <p>Locking: no state of its own; every method runs with the owning {@link ViewFs}'s lock held
 * (the read lock to read, the write lock to change).
 */
final class Attributes {
    private static final int S_ISUID = 04000;
    private static final String ACL_ACCESS = "system.posix_acl_access";
    private static final String ACL_DEFAULT = "system.posix_acl_default";

    private final ViewNamespace ns;

    Attributes(ViewNamespace ns) {
        this.ns = ns;
    }

    static Stat stat(Inode n) {
        long size = n.size;
        long blocks = n.type == FileType.DIRECTORY || n.type == FileType.REGULAR ? (size + 511) / 512 : 0;
        return new Stat(n.reportedIno(), n.mode(), n.nlink, n.uid, n.gid, size, blocks, n.atimeNs, n.mtimeNs, n.ctimeNs, n.rdev);
    }

    void chmod(long ino, int mode) {
        Inode n = ns.mutable(ino);
        n.perm = mode & 07777;
        byte[] acl = n.xattrs.get(ACL_ACCESS);
        if (acl != null) {
            n.xattrs.put(ACL_ACCESS, aclChmod(acl, mode)); // export applies it: it must say what the mode says
        }
        n.ctimeNs = ViewNamespace.now();
    }

    /**
     * An access ACL (the system.posix_acl_access xattr: a version-2 header, then 8-byte entries of
     * tag, perm, id, little-endian) after chmod to mode, as the kernel's posix_acl_chmod makes it:
     * the owner and other entries take the mode's owner and other bits, and the mask entry (the
     * group entry if there is no mask) the group bits. An ACL imported from the host is kept and
     * exported again; left as it was, a chmod 600 in a view came back out as 670 with the named
     * entries' rights. A value that is not such an ACL is returned as it is.
     */
    static byte[] aclChmod(byte[] acl, int mode) {
        if (acl.length < 4 || (acl.length - 4) % 8 != 0 || acl[0] != 2 || acl[1] != 0 || acl[2] != 0 || acl[3] != 0) {
            return acl;
        }
        byte[] out = acl.clone();
        int mask = -1;
        int group = -1;
        for (int at = 4; at < out.length; at += 8) {
            int tag = (out[at] & 0xff) | (out[at + 1] & 0xff) << 8;
            switch (tag) {
                case 0x01 -> out[at + 2] = (byte) ((mode >> 6) & 7); // ACL_USER_OBJ
                case 0x04 -> group = at; // ACL_GROUP_OBJ
                case 0x10 -> mask = at; // ACL_MASK
                case 0x20 -> out[at + 2] = (byte) (mode & 7); // ACL_OTHER
                default -> {
                    continue;
                }
            }
            out[at + 3] = 0;
        }
        int g = mask >= 0 ? mask : group;
        if (g >= 0) {
            out[g + 2] = (byte) ((mode >> 3) & 7);
            out[g + 3] = 0;
        }
        return out;
    }

    void chown(long ino, int uid, int gid) {
        Inode n = ns.mutable(ino);
        if (uid != -1) {
            n.uid = uid;
        }
        if (gid != -1) {
            n.gid = gid;
        }
        if (n.type != FileType.DIRECTORY) {
            n.perm &= ~S_ISUID; // as the kernel does for unprivileged chown; root keeps it below
        }
        n.ctimeNs = ViewNamespace.now();
    }

    /** ctimeNs {@link ViewFs#OMIT}: now. */
    void utimens(long ino, long atimeNs, long mtimeNs, long ctimeNs) {
        Inode n = ns.mutable(ino);
        long t = ctimeNs == ViewFs.OMIT ? ViewNamespace.now() : ctimeNs;
        if (atimeNs != ViewFs.OMIT) {
            n.atimeNs = atimeNs == ViewFs.NOW ? t : atimeNs;
        }
        if (mtimeNs != ViewFs.OMIT) {
            n.mtimeNs = mtimeNs == ViewFs.NOW ? t : mtimeNs;
        }
        n.ctimeNs = t;
    }

    /**
     * Names refused with EOPNOTSUPP: outside the namespaces Linux knows (user., trusted., security.,
     * system.), and POSIX ACLs. ACLs are not supported: the kernel passes their xattrs through to us (no
     * FUSE_POSIX_ACL in libfuse 2) but would not enforce them, and storing one would not change
     * the mode as it must. EOPNOTSUPP makes tools fall back to chmod (libacl's perm_copy_fd, as
     * used by sed -i, cp -p, vim); an ACL imported from the host stays stored, unseen, and is
     * exported again.
     */
    static void refuseUnsupported(String name) {
        refuseAcl(name);
        if (!knownNamespace(name)) {
            throw new FsException(Errno.EOPNOTSUPP, name);
        }
        if (name.indexOf('.') == name.length() - 1) {
            throw new FsException(Errno.EINVAL, "empty attribute name after " + name); // "user." alone, as the kernel says for local filesystems
        }
    }

    static void refuseAcl(String name) {
        if (name.equals(ACL_ACCESS) || name.equals(ACL_DEFAULT)) {
            throw new FsException(Errno.EOPNOTSUPP, name);
        }
    }

    /** The kernel hands FUSE every name; local filesystems know these namespaces only (the kernel checks who may use trusted.* and where user.* may go). */
    static boolean knownNamespace(String name) {
        return name.startsWith("user.") || name.startsWith("trusted.") || name.startsWith("security.") || name.startsWith("system.");
    }

    /**
     * The longest list of names listxattr(2) returns (the kernel's XATTR_LIST_MAX): a file with a
     * longer one fails with E2BIG for every reader (getfattr -d, cp -a, tar --xattrs, rsync -X,
     * cowfs import of the mount). A name that would make the list longer is refused with ENOSPC,
     * as ext4 refuses one when a file's attributes fill their block.
     */
    static final int LIST_MAX = 65536;

    void setxattr(long ino, String name, byte[] value, int flags) {
        Inode current = ns.inode(ino);
        boolean exists = current.xattrs.containsKey(name);
        if ((flags & ViewFs.XATTR_CREATE) != 0 && exists) {
            throw new FsException(Errno.EEXIST, name);
        }
        if ((flags & ViewFs.XATTR_REPLACE) != 0 && !exists) {
            throw new FsException(Errno.ENODATA, name);
        }
        if (!exists) {
            long list = utf8Length(name) + 1;
            for (String other : current.xattrs.keySet()) {
                list += utf8Length(other) + 1;
            }
            if (list > LIST_MAX) {
                throw new FsException(Errno.ENOSPC, "the names of the attributes of inode " + ino + " would pass " + LIST_MAX + " bytes");
            }
        }
        Inode n = ns.mutable(ino);
        n.xattrs.put(name, value.clone());
        n.ctimeNs = ViewNamespace.now();
    }

    private static int utf8Length(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    }

    byte[] getxattr(long ino, String name) {
        byte[] v = ns.inode(ino).xattrs.get(name);
        if (v == null) {
            throw new FsException(Errno.ENODATA, name);
        }
        return v;
    }

    List<String> listxattr(long ino) {
        List<String> names = new ArrayList<>(ns.inode(ino).xattrs.keySet());
        names.remove(ACL_ACCESS);
        names.remove(ACL_DEFAULT);
        names.removeIf(n -> !knownNamespace(n)); // stored before such names were refused: removable, not listed
        return names;
    }

    void removexattr(long ino, String name) {
        if (!ns.inode(ino).xattrs.containsKey(name)) {
            throw new FsException(Errno.ENODATA, name);
        }
        Inode n = ns.mutable(ino);
        n.xattrs.remove(name);
        n.ctimeNs = ViewNamespace.now();
    }
}
