package io.cowfs.fusefs.mount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jnr.ffi.LibraryLoader;
import jnr.ffi.types.size_t;

/**
 * Gives the C heap's free pages back to the system: glibc's {@code malloc_trim(0)}. glibc returns
 * freed memory from the top of a heap only; what the JVM frees in the middle (the arenas of C1's
 * compilations, class parsing, a burst of JNI buffers) stays resident until trimmed. An idle mount
 * process carried 13 MiB of such pages out of 74 MiB just after it started, 7 of 83 MiB after use
 * (docs/PERFORMANCE.md, 2026-12-03). Where the C library has no malloc_trim (musl), {@link #trim}
 * does nothing.
 *
 * <p>Thread-safety: malloc_trim takes glibc's arena locks itself; any thread may call this.
 */
public final class NativeHeap {
    /** The binding: only glibc has it. */
    public interface Malloc {
        int malloc_trim(@size_t long pad);
    }

    private static final Malloc LIBC = load("c");

    private NativeHeap() {
    }

    /** The C library's malloc_trim, or null where lib has none. */
    static Malloc load(String lib) {
        try {
            return LibraryLoader.create(Malloc.class).failImmediately().load(lib);
        } catch (LinkageError | RuntimeException e) {
            return null;
        }
    }

    /** Trims the C heap; false where there is no malloc_trim. */
    public static boolean trim() {
        return trim(LIBC);
    }

    static boolean trim(Malloc m) {
        if (m == null) {
            return false;
        }
        try {
            m.malloc_trim(0);
            return true;
        } catch (UnsatisfiedLinkError e) {
            // jnr-ffi binds a name the library lacks to a stub that throws at the call, also with
            // failImmediately: a C library without malloc_trim (musl) gets here, not to load's null
            return false;
        }
    }

    /** This process's resident bytes (VmRSS), or -1 if /proc cannot tell. */
    static long resident() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmRSS:")) {
                    return Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // no /proc: the caller reports no numbers
        }
        return -1;
    }

    /** "resident 74.8 -> 61.9 MiB" for a log line. */
    static String describe(long before, long after) {
        return String.format(java.util.Locale.ROOT, "resident %.1f -> %.1f MiB", before / 1048576.0, after / 1048576.0);
    }
}
