package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Who may use a store, and the modes every file and directory in it gets (docs/SECURITY.md): a
 * private store is its owner's alone (directories 0700, files 0600); a shared store belongs to one
 * group (directories 02770, so new entries inherit the group, files 0660). Recorded in the format
 * file ({@value #PROPERTY}; docs/FORMAT.md) so that whatever any process creates later follows it.
 *
 * <p>Every file or directory cowfs makes in a store is made through this class: the mode is given
 * to the system call that creates it (the umask can only narrow it, never widen a private store)
 * and set again right after (so a shared store's group bits survive a umask of 077). LMDB's files
 * get the mode through {@code Env.open} and {@link #fix} after it.
 *
 * @param group the group of a shared store, or null for a private store
 */
public record StoreAccess(String group) {
    /** The owner alone. */
    public static final StoreAccess PRIVATE = new StoreAccess(null);
    /** Key of the format file naming a shared store's group. */
    static final String PROPERTY = "sharedGroup";

    public boolean shared() {
        return group != null;
    }

    /** Mode of every directory in the store, the store's own included. */
    public int dirMode() {
        return shared() ? 02770 : 0700;
    }

    /** Mode of every file (and socket) in the store. */
    public int fileMode() {
        return shared() ? 0660 : 0600;
    }

    private FileAttribute<Set<PosixFilePermission>> attr(int mode) {
        return PosixFilePermissions.asFileAttribute(perms(mode));
    }

    static Set<PosixFilePermission> perms(int mode) {
        Set<PosixFilePermission> s = EnumSet.noneOf(PosixFilePermission.class);
        PosixFilePermission[] all = {PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.GROUP_WRITE,
            PosixFilePermission.GROUP_READ, PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE,
            PosixFilePermission.OWNER_READ};
        for (int i = 0; i < all.length; i++) {
            if ((mode & (1 << i)) != 0) {
                s.add(all[i]);
            }
        }
        return s;
    }

    /**
     * Creates dir (and its missing parents, which must lie inside the store) with the store's
     * directory mode; an existing directory is left as it is.
     */
    public void createDirectories(Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            return;
        }
        Path parent = dir.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            createDirectories(parent);
        }
        try {
            Files.createDirectory(dir, attr(dirMode() & 0777));
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw e;
            }
            return;
        }
        setMode(dir, dirMode());
    }

    /**
     * Opens file like {@link FileChannel#open}; if the options create it, it gets the store's
     * file mode. An existing file keeps its mode (fsck reports one that is too open).
     */
    public FileChannel open(Path file, OpenOption... options) throws IOException {
        Set<OpenOption> opts = Set.of(options);
        if (!opts.contains(StandardOpenOption.CREATE) && !opts.contains(StandardOpenOption.CREATE_NEW)) {
            return FileChannel.open(file, options);
        }
        boolean existed = !opts.contains(StandardOpenOption.CREATE_NEW) && Files.exists(file, LinkOption.NOFOLLOW_LINKS);
        FileChannel ch = FileChannel.open(file, opts, attr(fileMode()));
        if (!existed) {
            fix(file);
        }
        return ch;
    }

    /** Writes a new file (or replaces one this process owns) with the store's file mode. */
    public void write(Path file, byte[] bytes) throws IOException {
        write(file, bytes, false);
    }

    private void write(Path file, byte[] bytes, boolean force) throws IOException {
        try (FileChannel ch = open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
            if (force) {
                ch.force(true);
            }
        }
    }

    /**
     * Writes bytes to tmp and forces them to disk (the first half of {@link #publishDurably}):
     * a file renamed into place unforced can be empty after a machine crash (PowerCutIT found
     * the store's format file so, right after init).
     */
    public void writeForced(Path tmp, byte[] bytes) throws IOException {
        write(tmp, bytes, true);
    }

    /** Renames a forced tmp file over file and forces the directory: a crash leaves the old file or the new one. */
    public static void publishDurably(Path tmp, Path file, boolean replace) throws IOException {
        if (replace) {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } else {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        }
        fsyncDirectory(file.getParent());
    }

    /** fsync of a directory (on Linux a directory opens for reading, and its fsync persists its entries). */
    public static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    /**
     * Gives a file this process made (an LMDB file, a socket, a log) the store's file mode. A
     * file another member of a shared store owns is left as it is (only its owner may chmod it).
     */
    public void fix(Path file) throws IOException {
        int mode = (Integer) Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777;
        if (mode == fileMode()) {
            return;
        }
        try {
            setMode(file, fileMode());
        } catch (FileSystemException e) {
            if (!shared()) {
                throw e;
            }
        }
    }

    /** chmod by path: with NOFOLLOW_LINKS the JDK opens the file first, which a socket refuses (ENXIO). */
    static void setMode(Path p, int mode) throws IOException {
        Files.setAttribute(p, "unix:mode", mode);
    }

    /** The group principal of a shared store. */
    GroupPrincipal groupPrincipal(Path anyFile) throws IOException {
        try {
            return anyFile.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByGroupName(group);
        } catch (UserPrincipalNotFoundException e) {
            throw new StoreException.InvalidRequestException("no group named '" + group + "' (see: getent group)");
        }
    }

    /** Makes the store's own directory at init: its mode, and a shared store's group. */
    void initDirectory(Path dir) throws IOException {
        GroupPrincipal g = shared() ? groupPrincipal(dir.getFileSystem().getPath("/")) : null; // an unknown group makes nothing
        Path parent = dir.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent); // outside the store: the user's own (e.g. ~/.local/share)
        }
        if (!Files.exists(dir)) {
            Files.createDirectory(dir, attr(dirMode() & 0777));
        }
        if (shared()) {
            try {
                Files.getFileAttributeView(dir, PosixFileAttributeView.class).setGroup(g);
            } catch (FileSystemException e) {
                throw new StoreException.InvalidRequestException("cannot give " + dir + " to group '" + group
                        + "' (" + e.getMessage() + "); a user can only use a group they are a member of");
            }
        }
        setMode(dir, dirMode());
    }

    /** One entry more open than the store allows (or, in a shared store, not usable by its group). */
    public record Finding(Path path, int mode, int expected, String why) {
    }

    /**
     * Every file and directory under the store (itself included) that is more open than the
     * store's mode (someone ran {@code chmod -R a+r}), or in a shared store lacks its group or
     * the group's access. With repair, sets the store's mode (and group) on each, where this
     * process may.
     *
     * @return what was found (repaired or not: {@link #check} again to see what remains)
     */
    public List<Finding> check(Path storeDir, boolean repair) throws IOException {
        List<Finding> found = new ArrayList<>();
        GroupPrincipal g = shared() ? groupPrincipal(storeDir) : null;
        // walkFileTree, not Files.walk: a temporary file of another process may vanish mid-walk
        Files.walkFileTree(storeDir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                visit(dir, true);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                if (!attrs.isSymbolicLink()) {
                    visit(file, false);
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                if (e instanceof NoSuchFileException) {
                    return FileVisitResult.CONTINUE;
                }
                throw e;
            }

            private void visit(Path p, boolean dir) throws IOException {
                int expected = dir ? dirMode() : fileMode();
                int mode;
                GroupPrincipal has;
                try {
                    mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777;
                    has = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS).group();
                } catch (NoSuchFileException gone) {
                    return;
                }
                String why = null;
                if ((mode & 0777 & ~(expected & 0777)) != 0) {
                    why = "more open than the store allows";
                } else if (shared() && !has.equals(g)) {
                    why = "not in the store's group '" + group + "' (group " + has.getName() + ")";
                } else if (shared() && ((mode & 0060) != 0060 || (dir && (mode & 02010) != 02010))) {
                    why = "not usable by the store's group '" + group + "'";
                }
                if (why == null) {
                    return;
                }
                found.add(new Finding(p, mode, expected, why));
                if (repair) {
                    if (shared() && !has.equals(g)) {
                        Files.getFileAttributeView(p, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS).setGroup(g);
                    }
                    setMode(p, expected);
                }
            }
        });
        return found;
    }

    /**
     * Why this process may not enter the store at dir, in one line: a shared store (its directory
     * open to its group) names the group when the process is not in it; otherwise the owner. When
     * a directory above dir keeps the process out (dir itself then cannot even be seen), that
     * directory is named the same way.
     */
    static String refusal(Path dir) {
        Path closed = closedAncestor(dir);
        Path p = closed == null ? dir : closed;
        PosixFileAttributes a;
        int gid;
        try {
            a = Files.readAttributes(p, PosixFileAttributes.class);
            gid = (Integer) Files.getAttribute(p, "unix:gid");
        } catch (IOException | RuntimeException e) {
            return "permission denied: the store " + dir + (closed == null ? "" : " is inside " + closed + ", which")
                    + " is not open to you (see docs/SECURITY.md)";
        }
        String owner = a.owner().getName();
        String group = a.group().getName();
        boolean groupMayEnter = a.permissions().containsAll(Set.of(PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_EXECUTE));
        String addYou = " (root can add you: usermod -aG " + group + " " + System.getProperty("user.name", "USER")
                + ", effective at your next login; see docs/SECURITY.md)";
        if (closed != null) {
            return "permission denied: the store " + dir + " is inside " + closed + ", which "
                    + (groupMayEnter && !processGroups().contains(gid)
                    ? "is open to group " + group + " only, and you are not in it" + addYou
                    : "belongs to " + owner + " and is closed to you (see docs/SECURITY.md)");
        }
        if (groupMayEnter && !processGroups().contains(gid)) {
            return "permission denied: the store " + dir + " is shared with group " + group + ", which you are not in" + addYou;
        }
        return "permission denied: the store " + dir + " belongs to " + owner
                + " and is not shared with you (see docs/SECURITY.md; a store for several users: cowfs init --shared-group GROUP)";
    }

    /**
     * True if dir is on a filesystem mounted read-only here (statvfs ST_RDONLY: read-only media,
     * a read-only bind mount).
     */
    public static boolean onReadOnlyFilesystem(Path dir) {
        // not Files.getFileStore(dir).isReadOnly(): that reads the options of the mount table's entry
        // it matches by device, which for a read-only bind mount is the writable mount it binds
        jnr.ffi.Pointer buf = jnr.ffi.Memory.allocateDirect(jnr.ffi.Runtime.getRuntime(Libc.LIBC), Libc.STATVFS_SIZE, true);
        if (Libc.LIBC.statvfs(dir.toString(), buf) != 0) {
            return false; // whatever stops the store from opening says so itself
        }
        if ((buf.getLong(Libc.STATVFS_F_FLAG) & Libc.ST_RDONLY) != 0) {
            return true;
        }
        // an ext4 the kernel made read-only after an error (errors=remount-ro) still says rw to
        // statvfs on Linux 6.18 ("emergency_ro"); opening the lock file for writing tells
        int fd = Libc.LIBC.open(dir.resolve("run").resolve("store.lock").toString(), Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd >= 0) {
            Libc.LIBC.close(fd);
            return false;
        }
        return Libc.errno() == Libc.EROFS;
    }

    /** The nearest directory above dir, from the root down, that this process may not enter; null if none. */
    static Path closedAncestor(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        for (int i = 1; i < abs.getNameCount(); i++) {
            Path p = abs.getRoot().resolve(abs.subpath(0, i));
            if (!Files.isDirectory(p)) {
                return null; // missing (or not a directory): not a matter of permission
            }
            if (!Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** The group ids this process has (real, effective and supplementary), from /proc/self/status. */
    private static Set<Integer> processGroups() {
        Set<Integer> out = new java.util.HashSet<>();
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("Gid:") || l.startsWith("Groups:")) {
                    for (String f : l.substring(l.indexOf(':') + 1).trim().split("\\s+")) {
                        if (!f.isEmpty()) {
                            out.add(Integer.parseInt(f));
                        }
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // unknown: counted as in no group
        }
        return out;
    }
}
