package io.cowfs.blockstore.store;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/**
 * Which liblmdb this process loads, chosen once before lmdbjava's {@code Library} class is
 * initialised (lmdbjava reads the system property {@code lmdbjava.native.lib} then).
 *
 * <p>Left alone, lmdbjava copies the library it bundles to a new temporary file in
 * {@code java.io.tmpdir} on every start and deletes it only at a normal exit: every killed
 * mount process left 310 KB behind. Instead the bundled library is copied once, named by its
 * SHA-256, into {@code $XDG_CACHE_HOME/cowfs/lib} (else {@code ~/.cache/cowfs/lib}, a 0700
 * directory), and loaded from there by every later process; a file already there is used only
 * if its bytes hash to its name. The bundled build (LMDB 0.9.31) is kept rather than the
 * system's (Debian 12 ships 0.9.24) so that every process on a store runs the same liblmdb,
 * the one lmdbjava is tested with; lmdbjava's own {@code -Dlmdbjava.native.lib=PATH} (for
 * example the system's {@code /usr/lib/x86_64-linux-gnu/liblmdb.so.0}) always wins. Where no
 * cache directory can be written, lmdbjava's own extraction is left to run.
 * See docs/CONTAINERS.md, "Nothing left behind".
 */
public final class LmdbLibrary {
    /** lmdbjava's property (TargetName.LMDB_NATIVE_LIB_PROP): a path loads that file as liblmdb. */
    public static final String NATIVE_LIB_PROP = "lmdbjava.native.lib";

    private static volatile boolean selected;

    private LmdbLibrary() {
    }

    /** Sets {@code lmdbjava.native.lib} for this process (once; later calls do nothing). */
    public static synchronized void select() {
        if (selected) {
            return;
        }
        selected = true;
        if (System.getProperty(NATIVE_LIB_PROP) != null) {
            return;
        }
        Path lib = cachedBundled(cacheDir());
        if (lib != null) {
            System.setProperty(NATIVE_LIB_PROP, lib.toString());
        }
    }

    /** $XDG_CACHE_HOME/cowfs/lib, else ~/.cache/cowfs/lib; null without a home. */
    static Path cacheDir() {
        Path d = userCacheDir();
        return d == null ? null : d.resolve("lib");
    }

    /**
     * The user's cowfs cache directory, the launcher's rule: $XDG_CACHE_HOME/cowfs, else
     * ~/.cache/cowfs; null without a home. Holds liblmdb, the class-data-sharing archives and
     * the CLI agent's state.
     */
    public static Path userCacheDir() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank() && xdg.startsWith("/")) {
            return Path.of(xdg, "cowfs");
        }
        String home = System.getenv("HOME"); // as XDG says; user.home is "?" for a uid without a passwd entry
        if (home == null || !home.startsWith("/")) {
            home = System.getProperty("user.home");
        }
        if (home == null || !home.startsWith("/")) {
            return null;
        }
        return Path.of(home, ".cache", "cowfs");
    }

    /** The resource lmdbjava would extract for this machine, as lmdbjava names it. */
    static String bundledResource() {
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (!os.contains("linux")) {
            return null;
        }
        if (arch.equals("amd64") || arch.equals("x86_64")) {
            return "org/lmdbjava/x86_64-linux-gnu.so";
        }
        if (arch.equals("aarch64") || arch.equals("arm64")) {
            return "org/lmdbjava/aarch64-linux-gnu.so";
        }
        return null;
    }

    /**
     * The bundled library copied into dir under its hash (copied now if missing or not matching),
     * or null if that cannot be done (then lmdbjava extracts as it always did).
     */
    static Path cachedBundled(Path dir) {
        String resource = bundledResource();
        if (dir == null || resource == null) {
            return null;
        }
        byte[] bytes;
        try (InputStream in = LmdbLibrary.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                return null;
            }
            bytes = in.readAllBytes();
        } catch (IOException e) {
            return null;
        }
        String hash = sha256(bytes);
        Path target = dir.resolve("liblmdb-" + hash.substring(0, 16) + ".so");
        try {
            if (Files.isRegularFile(target) && sha256(Files.readAllBytes(target)).equals(hash)) {
                return target;
            }
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            Path tmp = Files.createTempFile(dir, ".liblmdb-", ".tmp");
            try {
                Files.write(tmp, bytes);
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
            return target;
        } catch (IOException | SecurityException | UnsupportedOperationException e) {
            return null;
        }
    }

    private static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
