package io.cowfs.blockstore.run;

import io.cowfs.blockstore.store.StoreAccess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.UserPrincipal;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.byref.IntByReference;
import jdk.net.UnixDomainPrincipal;

/**
 * Who may talk to a mount's control socket (docs/SECURITY.md): the peer's credentials (the
 * kernel's SO_PEERCRED, as {@link UnixDomainPrincipal}) against the store. Allowed: root, the
 * user the mount runs as, the store's owner, and for a shared store members of its group
 * (primary or supplementary, as the group database says).
 */
final class Peers {
    /** The libc calls of this package: the lookups that turn a peer's user name into numbers, open and close (jnr-ffi, as lmdbjava uses it). */
    public interface Lib {
        Pointer getpwnam(String name);

        Pointer getgrnam(String name);

        int getgrouplist(String user, int group, int[] groups, IntByReference ngroups);

        int geteuid();

        /** For a directory's descriptor ({@link UnixSockets}): java.nio opens no directories. */
        int open(String path, int flags);

        int close(int fd);
    }

    static final Lib LIB = LibraryLoader.create(Lib.class).load("c");

    private final UserPrincipal self;
    private final UserPrincipal owner;
    private final StoreAccess access;
    private final int groupId; // the shared store's gid, or -1

    /** @param self a file this process made (its owner is the user the mount runs as) */
    Peers(Path storeDir, Path self, StoreAccess access) throws IOException {
        this.self = Files.getOwner(self, LinkOption.NOFOLLOW_LINKS);
        PosixFileAttributes a = Files.readAttributes(storeDir, PosixFileAttributes.class);
        this.owner = a.owner();
        this.access = access;
        this.groupId = access.shared() ? (Integer) Files.getAttribute(storeDir, "unix:gid") : -1;
    }

    boolean shared() {
        return access.shared();
    }

    /** Whether peer may send commands. */
    boolean allowed(UnixDomainPrincipal peer) {
        UserPrincipal u = peer.user();
        if (u.equals(self) || u.equals(owner) || uid(u) == 0) {
            return true;
        }
        if (!access.shared()) {
            return false;
        }
        int primary = gid(peer.group().getName());
        if (primary == groupId) {
            return true;
        }
        int[] groups = new int[256];
        IntByReference n = new IntByReference(groups.length);
        if (primary >= 0 && LIB.getgrouplist(u.getName(), primary, groups, n) >= 0) {
            for (int i = 0; i < n.getValue(); i++) {
                if (groups[i] == groupId) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * The numeric uid of a user principal: the JDK names a user by its passwd entry, or by the
     * number itself when it has none. -1 if neither works.
     */
    static int uid(UserPrincipal u) {
        return id(u.getName(), true);
    }

    static int gid(String group) {
        return id(group, false);
    }

    private static int id(String name, boolean user) {
        if (name.chars().allMatch(Character::isDigit) && !name.isEmpty()) {
            return Integer.parseInt(name);
        }
        Pointer p = user ? LIB.getpwnam(name) : LIB.getgrnam(name);
        if (p == null) {
            return -1;
        }
        // struct passwd { char *pw_name; char *pw_passwd; uid_t pw_uid; ... } and struct group
        // { char *gr_name; char *gr_passwd; gid_t gr_gid; ... }: the id follows two pointers
        return p.getInt(2L * jnr.ffi.Runtime.getSystemRuntime().addressSize());
    }
}
