package io.cowfs.fusefs.kernel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Facts about a mountpoint as the host sees it (no FUSE involved). */
public final class MountPoints {
    private MountPoints() {
    }

    /**
     * One line of /proc/self/mountinfo (proc(5)), the fields cowfs reads. Two lines with one
     * device are one filesystem (for FUSE: one connection, one mount process) mounted twice.
     *
     * @param id         the mount's id
     * @param parent     its parent mount's id
     * @param device     st_dev as "major:minor"
     * @param root       the directory of the filesystem mounted there ("/" unless a bind of a subdirectory)
     * @param mountPoint where, unescaped
     * @param tags       the optional fields: "shared:N", "master:N", ...
     * @param fsType     e.g. "fuse.cowfs", "tmpfs"
     * @param source     e.g. "cowfs:NAME"
     * @param options    the filesystem's own (super block) options, e.g. "rw,user_id=1000,group_id=1000"; "" if none
     */
    public record Mount(int id, int parent, String device, String root, String mountPoint, List<String> tags,
            String fsType, String source, String options) {
        static Mount parse(String line) {
            String[] f = line.split(" ");
            int dash = Arrays.asList(f).indexOf("-");
            if (f.length < 7 || dash < 6 || f.length < dash + 3) {
                return null;
            }
            try {
                return new Mount(Integer.parseInt(f[0]), Integer.parseInt(f[1]), f[2], unescape(f[3]), unescape(f[4]),
                        List.of(f).subList(6, dash), unescape(f[dash + 1]), unescape(f[dash + 2]),
                        f.length > dash + 3 ? unescape(f[dash + 3]) : "");
            } catch (NumberFormatException e) {
                return null;
            }
        }

        /**
         * The uid that made this FUSE mount (its "user_id=" option: only that user and root may
         * unmount it), or -1 if it names none (not a FUSE mount).
         */
        public int fuseOwner() {
            if (!fsType.startsWith("fuse")) {
                return -1;
            }
            for (String o : options.split(",")) {
                if (o.startsWith("user_id=")) {
                    try {
                        return Integer.parseInt(o.substring("user_id=".length()));
                    } catch (NumberFormatException e) {
                        return -1;
                    }
                }
            }
            return -1;
        }

        /** The peer group N of "shared:N" or "master:N" (tag "shared" or "master"), or -1. */
        int group(String tag) {
            for (String t : tags) {
                if (t.startsWith(tag + ":")) {
                    return Integer.parseInt(t.substring(tag.length() + 1));
                }
            }
            return -1;
        }
    }

    /** This process's mount table, in mount order (a later mount on one path hides an earlier one); empty if unreadable. */
    public static List<Mount> table() {
        try {
            List<Mount> out = new ArrayList<>();
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
                Mount m = Mount.parse(line);
                if (m != null) {
                    out.add(m);
                }
            }
            return out;
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }

    /** The mount visible at path (real, as {@link #realPath} gives it), or null if path is no mount point. */
    public static Mount at(List<Mount> table, Path path) {
        String want = path.toString();
        Mount top = null;
        for (Mount m : table) {
            if (m.mountPoint().equals(want)) {
                top = m;
            }
        }
        return top;
    }

    /**
     * The other mounts of m's filesystem that unmounting m leaves in place: bind mounts of it,
     * made by hand or by a container runtime in this mount namespace. Copies that mount
     * propagation made of m (below a peer or a slave of m's parent, at the same place) are not
     * among them: the kernel unmounts them with m.
     */
    public static List<Mount> elsewhere(List<Mount> table, Mount m) {
        Mount parent = byId(table, m.parent());
        List<Mount> out = new ArrayList<>();
        for (Mount o : table) {
            if (o.id() != m.id() && o.device().equals(m.device()) && !o.mountPoint().equals(m.mountPoint())
                    && !propagated(parent, byId(table, o.parent()), m, o)) {
                out.add(o);
            }
        }
        return out;
    }

    /** Whether o is the copy of m that propagation from m's parent made below o's parent. */
    private static boolean propagated(Mount parent, Mount oParent, Mount m, Mount o) {
        if (parent == null || oParent == null || parent.group("shared") < 0) {
            return false;
        }
        int g = parent.group("shared");
        if (oParent.group("shared") != g && oParent.group("master") != g) {
            return false;
        }
        return inParent(parent, m).equals(inParent(oParent, o));
    }

    /** Where child is mounted, as a path in its parent's filesystem. */
    private static String inParent(Mount parent, Mount child) {
        Path rel = Path.of(parent.mountPoint()).relativize(Path.of(child.mountPoint()));
        return Path.of(parent.root()).resolve(rel).normalize().toString();
    }

    private static Mount byId(List<Mount> table, int id) {
        for (Mount m : table) {
            if (m.id() == id) {
                return m;
            }
        }
        return null;
    }

    /**
     * p's real path, as the mount table names it (symbolic links resolved); for a dead mount,
     * which cannot be resolved itself, its parent's real path and its name.
     */
    public static Path realPath(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        try {
            return abs.toRealPath();
        } catch (IOException e) {
            try {
                return abs.getParent() == null ? abs : abs.getParent().toRealPath().resolve(abs.getFileName());
            } catch (IOException e2) {
                return abs;
            }
        }
    }

    /** Whether the mount table lists mp (absolute, normalised) as a mount point. */
    public static boolean isMounted(Path mp) {
        return at(table(), mp.toAbsolutePath().normalize()) != null;
    }

    /** Undoes mountinfo's escapes: space, tab, newline and backslash as \ooo. */
    public static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() && s.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** st_dev of p, or -1 if it cannot be had. */
    public static long device(Path p) {
        try {
            return ((Number) Files.getAttribute(p, "unix:dev")).longValue();
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * Sets the kernel read-ahead of the filesystem mounted at mp (its bdi), in KiB, so that a
     * sequential reader keeps several reads in flight. Needs root; silently skipped otherwise.
     */
    public static void setReadAhead(Path mp, int kb) {
        long dev = device(mp);
        if (dev < 0) {
            return;
        }
        long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
        long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
        try {
            Files.writeString(Path.of("/sys/class/bdi/" + major + ":" + minor + "/read_ahead_kb"), Integer.toString(kb));
        } catch (IOException | RuntimeException e) {
            // not root, or no sysfs: the kernel default stays
        }
    }

    public static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
