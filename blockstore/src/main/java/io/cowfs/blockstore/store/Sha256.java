package io.cowfs.blockstore.store;

import com.kenai.jffi.MemoryIO;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.concurrent.ConcurrentLinkedQueue;
import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.IgnoreError;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.Pinned;
import jnr.ffi.types.intptr_t;
import jnr.ffi.types.size_t;

/**
 * SHA-256 of chunk bytes: OpenSSL's libcrypto (its SHA-NI/AVX2 code) when the machine has
 * it, else the JDK's MessageDigest. Same digest either way; what differs is when it is fast.
 * The JDK's is fast only once the JIT's C2 compiler has compiled its caller (the interpreter and
 * C1 run SHA-256 as Java code, ~10x slower), and it digests a direct buffer through a 4 KiB heap
 * array; libcrypto runs at full speed from a fresh process's first call and reads direct memory
 * where it is. A mount verifies every block it reads from disk, so on a fresh mount the JDK's
 * path cost the cold read of 1 GiB about a second (docs/PERFORMANCE.md).
 *
 * <p>{@code -Dcowfs.sha=jdk} forces the JDK's implementation (benchmarks, or a libcrypto
 * that misbehaves). Thread-safe: the native call keeps no state; JDK digests are pooled.
 */
public final class Sha256 {
    /** The libcrypto calls used; SHA256() is the one-shot digest (deprecated in OpenSSL 3, still exported). */
    public interface Crypto {
        @IgnoreError
        @intptr_t
        long SHA256(@intptr_t long data, @size_t long n, @Pinned @Out byte[] md);

        @IgnoreError
        @intptr_t
        long SHA256(@Pinned @In byte[] data, @size_t long n, @Pinned @Out byte[] md);
    }

    /**
     * Where libcrypto is looked for, in order (jnr-ffi names: a file name or path, or "crypto" for
     * libcrypto.so); {@code -Dcowfs.sha.libraries=a,b} names others (another OpenSSL build; tests).
     */
    static final String[] LIBRARIES = System.getProperty("cowfs.sha.libraries", "libcrypto.so.3,crypto").split(",");
    private static final Crypto CRYPTO = "jdk".equals(System.getProperty("cowfs.sha")) ? null : load(LIBRARIES);
    private static final MemoryIO IO = MemoryIO.getInstance();
    /** Digests are pooled, not thread-local: jffi re-attaches FUSE threads, which would rebuild a ThreadLocal often. */
    private static final ConcurrentLinkedQueue<MessageDigest> DIGESTS = new ConcurrentLinkedQueue<>();

    private Sha256() {
    }

    /** The first of libs that loads and digests "abc" right, or null (then the JDK's digest is used). */
    static Crypto load(String... libs) {
        for (String lib : libs) {
            try {
                Crypto c = LibraryLoader.create(Crypto.class).failImmediately().load(lib);
                byte[] md = new byte[32];
                c.SHA256(new byte[] {'a', 'b', 'c'}, 3, md);
                if (java.util.HexFormat.of().formatHex(md).equals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")) {
                    return c;
                }
            } catch (LinkageError | RuntimeException e) {
                // not on this machine: the JDK's digest below
            }
        }
        return null;
    }

    /** "libcrypto" or "jdk": which implementation this process uses. */
    public static String implementation() {
        return CRYPTO != null ? "libcrypto" : "jdk";
    }

    /**
     * A warning for the user if this process hashes with the JDK's digest although nobody asked
     * for it (libcrypto missing), else null. The mount prints it into its log, and `cowfs mount` to stderr.
     */
    public static String fallbackWarning() {
        if (CRYPTO == null && !"jdk".equals(System.getProperty("cowfs.sha"))) {
            return "cowfs: libcrypto (OpenSSL 3) not found: hashing with the JDK's SHA-256, reads and writes are slower"
                    + " (Debian/Ubuntu: apt-get install libssl3)";
        }
        // whether the library is there, not whether it loads: that waits for the first batch
        // (MultiSha256, which says so in the log if it fails its self-test)
        if (!"amd64".equals(System.getProperty("os.arch")) || System.getProperty("cowfs.sha.multi") != null
                || System.getProperty("cowfs.sha.multi.library") != null || MultiSha256.installed() != null) {
            return null;
        }
        return "cowfs: intel-ipsec-mb not found: hashing one block at a time, cold reads and writes are slower"
                + " (Debian/Ubuntu: apt-get install libipsec-mb1)";
    }

    /** The digest of data[off, off+len). */
    static byte[] digest(byte[] data, int off, int len) {
        return digest(CRYPTO, data, off, len);
    }

    /** The digest of the bytes between b's position and limit (b's position is not moved). */
    static byte[] digest(ByteBuffer b) {
        return digest(CRYPTO, b);
    }

    /** As {@link #digest(byte[], int, int)} with crypto, or the JDK's digest if crypto is null (tests pass both). */
    static byte[] digest(Crypto crypto, byte[] data, int off, int len) {
        if (crypto != null && off == 0) {
            byte[] md = new byte[32];
            crypto.SHA256(data, len, md);
            return md;
        }
        MessageDigest d = jdk();
        d.update(data, off, len);
        return release(d);
    }

    /** As {@link #digest(ByteBuffer)} with crypto, or the JDK's digest if crypto is null. */
    static byte[] digest(Crypto crypto, ByteBuffer b) {
        if (crypto != null && b.isDirect()) {
            byte[] md = new byte[32];
            crypto.SHA256(IO.getDirectBufferAddress(b) + b.position(), b.remaining(), md);
            java.lang.ref.Reference.reachabilityFence(b); // its memory is read by address until here
            return md;
        }
        if (b.hasArray()) {
            return digest(crypto, b.array(), b.arrayOffset() + b.position(), b.remaining());
        }
        MessageDigest d = jdk();
        d.update(b.duplicate());
        return release(d);
    }

    /**
     * The digests of in[0..n), each the bytes between its position and limit (not moved): in
     * parallel lanes ({@link MultiSha256}) when the batch qualifies, else one at a time.
     */
    static byte[][] digestAll(ByteBuffer[] in, int n) {
        byte[][] out = new byte[n][];
        if (!MultiSha256.digestAll(in, n, out)) {
            for (int i = 0; i < n; i++) {
                out[i] = digest(in[i]);
            }
        }
        return out;
    }

    /**
     * The digests of data[i][0, lens[i]) for i in [0, n): copied into direct memory and hashed
     * in parallel lanes when that is available (a 64 KiB copy costs an eighth of hashing it one
     * at a time), else one at a time where they lie.
     */
    static byte[][] digestAll(byte[][] data, int[] lens, int n) {
        byte[][] out = new byte[n][];
        if (n > 1 && MultiSha256.available()) {
            ByteBuffer[] in = new ByteBuffer[n];
            ByteBuffer area = STAGING.poll();
            int need = 0;
            for (int i = 0; i < n; i++) {
                need += lens[i];
            }
            if (area == null || area.capacity() < need) {
                area = ByteBuffer.allocateDirect(Math.max(need, 16 * MultiSha256.MAX_LEN));
            }
            try {
                int at = 0;
                for (int i = 0; i < n; i++) {
                    area.put(at, data[i], 0, lens[i]);
                    in[i] = area.slice(at, lens[i]);
                    at += lens[i];
                }
                if (MultiSha256.digestAll(in, n, out)) {
                    return out;
                }
            } finally {
                if (STAGING.size() < 2) {
                    STAGING.offer(area);
                }
            }
        }
        for (int i = 0; i < n; i++) {
            out[i] = digest(data[i], 0, lens[i]);
        }
        return out;
    }

    /** Frees what batches keep between calls (an idle mount's trim: Store.dropCache). */
    static void dropBuffers() {
        STAGING.clear();
        MultiSha256.trim();
    }

    /** Direct memory that {@link #digestAll(byte[][], int[], int)} copies heap bytes into, pooled. */
    private static final ConcurrentLinkedQueue<ByteBuffer> STAGING = new ConcurrentLinkedQueue<>();

    private static byte[] release(MessageDigest d) {
        byte[] md = d.digest();
        DIGESTS.offer(d);
        return md;
    }

    private static MessageDigest jdk() {
        MessageDigest md = DIGESTS.poll();
        if (md != null) {
            return md;
        }
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
