package io.cowfs.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * A source tree with every kind of thing an import must keep (built with real tools, as root),
 * and the tool-based views of a tree that must be identical for the source, a mount and an export.
 */
final class SourceTree {
    /** Hardlink groups of the tree (names of one inode). */
    static final List<List<String>> HARDLINKS = List.of(List.of("hl2-a", "a/hl2-b"), List.of("hl3-a", "a/b/hl3-b", "hl3-c"));
    static final Map<String, String> SYMLINKS = Map.of("a/rel-link", "b/c/d/deep.txt", "a/up-link", "../numbers",
            "abs-link", "/etc/hostname", "dangling", "does/not/exist", "dir-link", "a");
    static final String NAME255 = "n".repeat(255);

    /**
     * Regular files (multi-block with and without an aligned size, empty, sparse with a hole in the
     * middle and a trailing one, all zeros, a copy), nested and odd directories, relative, absolute
     * and dangling symlinks, hardlinks with 2 and 3 names, a fifo, setuid/setgid/sticky/000/0600
     * modes, other owners (also on a symlink), nanosecond and pre-1970 mtimes, xattrs (binary,
     * empty, long, many), non-ASCII names and 255-byte names.
     *
     * <p>Xattrs are set in name order: ext4 lists them in the order they were set, cowfs in name
     * order (listxattr promises no order), and the tar comparison sees the order.
     */
    static final String SCRIPT = """
            set -euo pipefail
            mkdir -p a/b/c/d empty-dir 'sp ace' sticky setgid-dir ro-dir 日本語
            head -c 300001 /dev/urandom > a/big
            head -c 262144 /dev/urandom > a/b/aligned
            head -c 3000000 /dev/urandom > large
            cp a/big a/b/big-copy
            : > empty
            printf 'hello\\n' > a/b/c/d/deep.txt
            seq 1 50000 > numbers
            printf 'in a space\\n' > 'sp ace/file name'
            truncate -s 1M sparse
            printf 'start' | dd of=sparse conv=notrunc status=none
            printf 'middle' | dd of=sparse bs=1 seek=524288 conv=notrunc status=none
            head -c 10485760 /dev/zero > zeros
            ln -s b/c/d/deep.txt a/rel-link
            ln -s ../numbers a/up-link
            ln -s /etc/hostname abs-link
            ln -s does/not/exist dangling
            ln -s a dir-link
            printf 'two\\n' > hl2-a && ln hl2-a a/hl2-b
            printf 'three\\n' > hl3-a && ln hl3-a a/b/hl3-b && ln hl3-a hl3-c
            mkfifo fifo
            printf 'j\\n' > 日本語/ファイル
            printf 'u\\n' > 'héllo wörld.txt'
            printf 'long\\n' > "$(printf 'n%.0s' $(seq 1 255))"
            printf 'longmb\\n' > "日本語/$(printf '語%.0s' $(seq 1 85))"
            printf 'x\\n' > ro-dir/inside
            printf 's\\n' > setuid
            printf 'g\\n' > setgid-file
            printf 'z\\n' > mode000
            printf 'p\\n' > mode600
            chown 1234:5678 a/big
            chown -h 4321:8765 dangling
            chown 0:100 numbers
            chown 65534:65534 a/b
            chown 1000:1000 setuid
            chmod 4755 setuid
            chmod 2711 setgid-file
            chmod 1777 sticky
            chmod 2755 setgid-dir
            chmod 000 mode000
            chmod 600 mode600
            chmod 500 ro-dir
            setfattr -n user.bin -v 0x00ff10 a/big
            setfattr -n user.color -v blue a/big
            setfattr -n user.empty empty
            setfattr -n user.dir -v yes a/b
            setfattr -n user.root -v r .
            setfattr -n user.long -v "$(head -c 1500 /dev/zero | tr '\\0' x)" numbers
            for i in $(seq -w 1 40); do setfattr -n "user.attribute-with-a-rather-long-name-$i" -v "$i" hl3-a; done
            find . -depth -exec touch -h -d '2019-05-06 07:08:09.123456789' {} +
            touch -h -d '2001-02-03 04:05:06.987654321' a/big dangling fifo
            touch -d '1999-12-31 23:59:59.5' a/b
            touch -d '1960-01-01 00:00:00.25' mode600
            touch -d '2038-02-01 00:00:00.000000001' large
            """;

    private SourceTree() {
    }

    static Path build(Path src) throws IOException, InterruptedException {
        Files.createDirectories(src);
        Cowfs.sh(src, SCRIPT);
        return src;
    }

    /** Names, types, modes, owners, sizes, link targets, link counts, mtimes (ns) of every entry. */
    static String listing(Path dir) throws IOException, InterruptedException {
        return Cowfs.sh(dir, "{ find . ! -type d -printf '%p %y %m %u %g %s %l %n %T@\\n'; find . -type d -printf '%p %y %m %u %g %s %l "
                + DIR_LINKS + " %T@\\n'; } | LC_ALL=C sort");
    }

    /**
     * True where the temp directory's filesystem counts every directory as one link (btrfs); a
     * view counts 2 and one per subdirectory, as ext4 and XFS do. Its listings then leave
     * directories' link counts out ({@link #DIR_LINKS}).
     */
    static final boolean ONE_LINK_DIRS = oneLinkDirs();

    /** The find -printf directive for a directory's link count in a listing: "-" where {@link #ONE_LINK_DIRS}. */
    static final String DIR_LINKS = ONE_LINK_DIRS ? "-" : "%n";

    private static boolean oneLinkDirs() {
        try {
            Path d = Files.createTempDirectory("links-");
            try {
                Files.createDirectory(d.resolve("sub"));
                return (Integer) Files.getAttribute(d, "unix:nlink") == 1;
            } finally {
                Files.delete(d.resolve("sub"));
                Files.delete(d);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Every extended attribute of every entry (symlinks not followed), hex-encoded. */
    static String xattrs(Path dir) throws IOException, InterruptedException {
        return Cowfs.sh(dir, "find . -print0 | LC_ALL=C sort -z | xargs -0 getfattr -h -d -m - -e hex");
    }

    /** The verbose listing of a tar of the tree (readable form of {@link #tarDigest}). */
    static String tarListing(Path dir) throws IOException, InterruptedException {
        return Cowfs.sh(dir, "set -o pipefail; tar --sort=name --numeric-owner --xattrs --xattrs-include='*' "
                + "--pax-option=delete=atime,delete=ctime -cf - . | tar --numeric-owner --xattrs --full-time -tvvf -");
    }

    /** SHA-256 of a tar of the tree (names, types, modes, owners, mtimes, hardlinks, xattrs, contents). */
    static String tarDigest(Path dir) throws IOException, InterruptedException {
        return Cowfs.sh(dir, "set -o pipefail; tar --sort=name --numeric-owner --xattrs --xattrs-include='*' "
                + "--pax-option=delete=atime,delete=ctime -cf - . | sha256sum");
    }

    /** Relative path -> SHA-256 of every regular file. */
    static Map<String, String> hashes(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    out.put(dir.relativize(p).toString(), sha256(p));
                }
            }
        }
        return out;
    }

    static String sha256(Path p) throws IOException {
        try (InputStream in = Files.newInputStream(p)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[7001]; // odd size: reads cross block boundaries
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
