package io.cowfs.blockstore.store;

import com.kenai.jffi.MemoryIO;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.IgnoreError;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.intptr_t;

/**
 * SHA-256 of several buffers at once, through Intel's multi-buffer library (intel-ipsec-mb,
 * Debian's libipsec-mb1): its job API hashes independent messages in parallel lanes, 16 in the
 * AVX-512 registers or two interleaved in the SHA extensions. On this project's machine kind
 * (`bench-scripts`, 64 KiB messages, one core): libcrypto's one-at-a-time SHA-256 1.67 GB/s;
 * two lanes of SHA-NI 2.5 GB/s; sixteen AVX-512 lanes 5.0 GB/s (eight: 2.7). A cold read verifies
 * every block and a write names every block, so hashing was a third of both (docs/PERFORMANCE.md).
 *
 * <p>The digests are SHA-256's, bit for bit: the library is loaded only if it hashes a set of
 * test messages (every length the store hashes this way, 1 byte to 64 KiB, in batches of 1 to 17)
 * exactly as the one-at-a-time digest does; else, or without the library (another CPU
 * architecture, or not installed), {@link #available()} is false and callers hash one at a time.
 * {@code -Dcowfs.sha.multi=off} turns it off.
 *
 * <p>Messages are submitted with the library's unchecked submit: its checked one refuses
 * messages of more than 65,534 bytes for every algorithm (a limit of its 16-bit AES lengths),
 * which would exclude a whole 64 KiB block, while its SHA-256 lanes count 64-byte blocks and
 * hash 64 KiB right (the self-test above includes 65,535 and 65,536 bytes).
 *
 * <p>Thread-safety: a manager (the library's per-thread state, 200 KiB) is used by one thread
 * at a time, taken from a pool and given back; the pool is a concurrent queue.
 */
final class MultiSha256 {
    /** The library's calls used (the job API's per-architecture entry points, exported by libIPSec_MB.so.1). */
    public interface Imb {
        @IgnoreError
        @intptr_t
        long alloc_mb_mgr(long flags);

        @IgnoreError
        void free_mb_mgr(@intptr_t long mgr);

        @IgnoreError
        void init_mb_mgr_auto(@intptr_t long mgr, @Out int[] arch);

        @IgnoreError
        void init_mb_mgr_sse(@intptr_t long mgr);

        @IgnoreError
        void init_mb_mgr_avx512(@intptr_t long mgr);

        @IgnoreError
        @intptr_t
        long get_next_job_sse(@intptr_t long mgr);

        @IgnoreError
        @intptr_t
        long submit_job_nocheck_sse(@intptr_t long mgr);

        @IgnoreError
        @intptr_t
        long get_completed_job_sse(@intptr_t long mgr);

        @IgnoreError
        @intptr_t
        long flush_job_sse(@intptr_t long mgr);

        @IgnoreError
        @intptr_t
        long get_next_job_avx512(@intptr_t long mgr);

        @IgnoreError
        @intptr_t
        long submit_job_nocheck_avx512(@intptr_t long mgr);

        @IgnoreError
        @intptr_t
        long get_completed_job_avx512(@intptr_t long mgr);

        @IgnoreError
        @intptr_t
        long flush_job_avx512(@intptr_t long mgr);

        @IgnoreError
        int imb_get_version();
    }

    /** The longest message hashed here: a block of the default size (longer ones are hashed one at a time). */
    static final int MAX_LEN = 65536;
    /** Batches at least this large go to the 16-lane AVX-512 manager (where there is one); smaller ones to SHA-NI's two lanes. */
    static final int WIDE = 8;

    // IMB_JOB (intel-ipsec-mb 1.x, struct IMB_JOB): the fields a plain SHA-256 job sets
    private static final int JOB_SIZE = 200;
    private static final int SRC = 24;
    private static final int HASH_START = 56;
    private static final int HASH_LEN = 64;
    private static final int TAG_OUT = 88;
    private static final int TAG_LEN = 96;
    private static final int STATUS = 128;
    private static final int CIPHER_MODE = 132;
    private static final int CIPHER_DIRECTION = 136;
    private static final int HASH_ALG = 140;
    private static final int CHAIN_ORDER = 144;
    private static final int IMB_AUTH_SHA_256 = 15;
    private static final int IMB_CIPHER_NULL = 3;
    private static final int IMB_DIR_ENCRYPT = 1;
    private static final int IMB_ORDER_HASH_CIPHER = 2;
    private static final int IMB_STATUS_COMPLETED = 3;
    private static final int IMB_ARCH_AVX512 = 5;
    /** IMB_MGR.features (offset 8), IMB_FEATURE_SHANI. */
    private static final int FEATURES = 8;
    private static final long FEATURE_SHANI = 1;

    private static final MemoryIO IO = MemoryIO.getInstance();

    /**
     * Loaded at the first batch, not at class load: a mount that never hashes a batch (an idle
     * view, a walk) does not map the library (12 MiB of code) or run the self-test; twenty idle
     * views measured 1.51 GiB resident with it loaded at mount, 1.44 before it.
     */
    private static final class Loaded {
        static final MultiSha256 INSTANCE = loadConfigured();
    }

    private static MultiSha256 loadConfigured() {
        if ("off".equals(System.getProperty("cowfs.sha.multi"))) {
            return null;
        }
        MultiSha256 m = load(System.getProperty("cowfs.sha.multi.library", SONAME));
        String at = installed();
        if (m == null && at != null) {
            System.err.println("cowfs: " + at + " is installed but failed its self-test (or this CPU has neither SHA-NI"
                    + " nor AVX-512): hashing one block at a time");
        }
        loaded = m;
        return m;
    }

    /** The library's soname (major version 1: the job layout this class knows). */
    static final String SONAME = "libIPSec_MB.so.1";
    /**
     * Where distributions install libraries (Debian/Ubuntu's multiarch directory first), searched
     * after LD_LIBRARY_PATH's directories by {@link #installed}.
     */
    static final java.util.List<String> LIBRARY_DIRS = java.util.List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
            "/lib/x86_64-linux-gnu", "/lib64", "/usr/local/lib64", "/usr/local/lib");

    /**
     * The path of the library if a file of its soname is in LD_LIBRARY_PATH or a usual library
     * directory, else null: whether it is installed, without loading it (12 MiB of code, see
     * Loaded), for the warning a mount prints when it is missing.
     */
    static String installed() {
        java.util.List<String> dirs = new java.util.ArrayList<>();
        String env = System.getenv("LD_LIBRARY_PATH");
        if (env != null) {
            for (String d : env.split(":")) {
                if (!d.isEmpty()) {
                    dirs.add(d);
                }
            }
        }
        dirs.addAll(LIBRARY_DIRS);
        return find(dirs, SONAME);
    }

    /** The first dir/name that exists, or null. */
    static String find(java.util.List<String> dirs, String name) {
        for (String d : dirs) {
            java.nio.file.Path p = java.nio.file.Path.of(d, name);
            if (java.nio.file.Files.exists(p)) {
                return p.toString();
            }
        }
        return null;
    }
    /** The instance once loaded (null before the first batch, or without one): what {@link #trim} frees from. */
    private static volatile MultiSha256 loaded;

    /**
     * Frees the pooled managers and digest areas (an idle mount's trim); batches after this
     * allocate new ones. Managers in use now are given back to the pool after their batch.
     */
    static void trim() {
        MultiSha256 m = loaded;
        if (m == null) {
            return;
        }
        for (ConcurrentLinkedQueue<Long> pool : List.of(m.pairManagers, m.wideManagers)) {
            for (Long mgr; (mgr = pool.poll()) != null; ) {
                m.imb.free_mb_mgr(mgr);
            }
        }
        for (Long area; (area = m.digestAreas.poll()) != null; ) {
            IO.freeMemory(area);
        }
    }

    private final Imb imb;
    /** The CPU has SHA-NI (two-lane manager worth using) / AVX-512 (sixteen lanes). */
    private final boolean pairs;
    private final boolean wide;
    private final ConcurrentLinkedQueue<Long> pairManagers = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Long> wideManagers = new ConcurrentLinkedQueue<>();
    /** Per batch: native room for the digests (32 bytes per message), pooled with the managers' users. */
    private final ConcurrentLinkedQueue<Long> digestAreas = new ConcurrentLinkedQueue<>();
    private static final int MAX_BATCH = 64;

    private MultiSha256(Imb imb, boolean pairs, boolean wide) {
        this.imb = imb;
        this.pairs = pairs;
        this.wide = wide;
    }

    /** True if batches are hashed in parallel lanes in this process. */
    static boolean available() {
        return Loaded.INSTANCE != null;
    }

    /** "avx512+sha-ni", "sha-ni", "avx512" or "off": what this process uses (for logs and stats). */
    static String lanes() {
        MultiSha256 m = Loaded.INSTANCE;
        if (m == null) {
            return "off";
        }
        return m.wide && m.pairs ? "avx512+sha-ni" : m.wide ? "avx512" : "sha-ni";
    }

    /**
     * The digests of in[0..n) (each direct, its bytes from position to limit, 1 to
     * {@link #MAX_LEN} of them; positions not moved) into out[0..n). Returns false, having done
     * nothing, if this process hashes no batches or the batch does not qualify (then hash one at a time).
     */
    static boolean digestAll(ByteBuffer[] in, int n, byte[][] out) {
        if (n < 2 || n > MAX_BATCH) {
            return false;
        }
        MultiSha256 m = Loaded.INSTANCE;
        if (m == null) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            int len = in[i].remaining();
            if (!in[i].isDirect() || len < 1 || len > MAX_LEN) {
                return false;
            }
        }
        return m.digest(in, n, out);
    }

    /** Hashes with the wide manager if the batch is large enough and there is one, else pairs; false if neither fits. */
    private boolean digest(ByteBuffer[] in, int n, byte[][] out) {
        boolean useWide = wide && (n >= WIDE || !pairs);
        if (!useWide && !pairs) {
            return false;
        }
        ConcurrentLinkedQueue<Long> pool = useWide ? wideManagers : pairManagers;
        Long mgr = pool.poll();
        if (mgr == null) {
            mgr = newManager(useWide);
        }
        Long area = digestAreas.poll();
        if (area == null) {
            area = IO.allocateMemory(32L * MAX_BATCH, false);
        }
        boolean ok = false;
        try {
            run(mgr, useWide, in, n, area);
            for (int i = 0; i < n; i++) {
                out[i] = new byte[32];
                IO.getByteArray(area + 32L * i, out[i], 0, 32);
            }
            ok = true;
            return true;
        } finally {
            java.lang.ref.Reference.reachabilityFence(in); // their memory is read by address until here
            // the library works only inside its calls: once run returned or threw, nothing writes
            // into area. A manager whose batch failed may still hold jobs that would complete in
            // the next batch, into this area's digests: it is freed, never pooled.
            digestAreas.offer(area);
            if (ok) {
                pool.offer(mgr);
            } else {
                imb.free_mb_mgr(mgr);
            }
        }
    }

    private long newManager(boolean useWide) {
        long mgr = imb.alloc_mb_mgr(0);
        if (mgr == 0) {
            throw new OutOfMemoryError("intel-ipsec-mb: cannot allocate a manager");
        }
        if (useWide) {
            imb.init_mb_mgr_avx512(mgr);
        } else {
            imb.init_mb_mgr_sse(mgr);
        }
        return mgr;
    }

    /** Submits in[0..n) to mgr and flushes it; digest i lands at area + 32 i. */
    private void run(long mgr, boolean useWide, ByteBuffer[] in, int n, long area) {
        int done = 0;
        for (int i = 0; i < n; i++) {
            long job = useWide ? imb.get_next_job_avx512(mgr) : imb.get_next_job_sse(mgr);
            IO.setMemory(job, JOB_SIZE, (byte) 0);
            IO.putAddress(job + SRC, IO.getDirectBufferAddress(in[i]) + in[i].position());
            IO.putLong(job + HASH_START, 0);
            IO.putLong(job + HASH_LEN, in[i].remaining());
            IO.putAddress(job + TAG_OUT, area + 32L * i);
            IO.putLong(job + TAG_LEN, 32);
            IO.putInt(job + CIPHER_MODE, IMB_CIPHER_NULL);
            IO.putInt(job + CIPHER_DIRECTION, IMB_DIR_ENCRYPT);
            IO.putInt(job + HASH_ALG, IMB_AUTH_SHA_256);
            IO.putInt(job + CHAIN_ORDER, IMB_ORDER_HASH_CIPHER);
            long c = useWide ? imb.submit_job_nocheck_avx512(mgr) : imb.submit_job_nocheck_sse(mgr);
            while (c != 0) {
                done += completed(c);
                c = useWide ? imb.get_completed_job_avx512(mgr) : imb.get_completed_job_sse(mgr);
            }
        }
        for (long c; (c = useWide ? imb.flush_job_avx512(mgr) : imb.flush_job_sse(mgr)) != 0; ) {
            done += completed(c);
        }
        if (done != n) {
            throw new IllegalStateException("intel-ipsec-mb completed " + done + " of " + n + " jobs");
        }
    }

    private static int completed(long job) {
        int status = IO.getInt(job + STATUS);
        if (status != IMB_STATUS_COMPLETED) {
            throw new IllegalStateException("intel-ipsec-mb: job status " + status);
        }
        return 1;
    }

    /** The library at lib if it loads and passes {@link #selfTest}, else null. */
    static MultiSha256 load(String lib) {
        try {
            Imb imb = LibraryLoader.create(Imb.class).failImmediately().load(lib);
            if ((imb.imb_get_version() >>> 16) != 1) {
                return null; // the job layout above is version 1's
            }
            long probe = imb.alloc_mb_mgr(0);
            if (probe == 0) {
                return null;
            }
            int[] arch = new int[1];
            imb.init_mb_mgr_auto(probe, arch);
            boolean shaNi = (IO.getLong(probe + FEATURES) & FEATURE_SHANI) != 0;
            MultiSha256 m = new MultiSha256(imb, shaNi, arch[0] == IMB_ARCH_AVX512);
            imb.init_mb_mgr_sse(probe); // auto chose for the machine; the pools hold managers of one kind each
            m.pairManagers.offer(probe);
            if (!m.pairs && !m.wide) {
                return null; // neither lane kind beats one-at-a-time libcrypto
            }
            return m.selfTest() ? m : null;
        } catch (LinkageError | RuntimeException e) {
            return null;
        }
    }

    /** Every length class hashed here, in batches of 1..17, through both managers: the same digests as one at a time. */
    boolean selfTest() {
        int[] lens = {1, 3, 55, 56, 63, 64, 65, 119, 120, 4096, 40000, 65471, 65472, 65473, 65535, 65536};
        SplittableRandom r = new SplittableRandom(42);
        ByteBuffer[] in = new ByteBuffer[17];
        byte[][] want = new byte[17][];
        for (int i = 0; i < in.length; i++) {
            int len = lens[i % lens.length];
            byte[] b = new byte[len];
            for (int j = 0; j < len; j++) {
                b[j] = (byte) r.nextInt();
            }
            in[i] = ByteBuffer.allocateDirect(len).put(b).flip();
            want[i] = Sha256.digest(null, b, 0, len); // the JDK's digest: independent of both native libraries
        }
        byte[][] got = new byte[17][];
        for (boolean w : new boolean[] {false, true}) {
            if (w ? !wide : !pairs) {
                continue;
            }
            for (int n = 1; n <= in.length; n++) {
                ConcurrentLinkedQueue<Long> pool = w ? wideManagers : pairManagers;
                Long mgr = pool.poll();
                if (mgr == null) {
                    mgr = newManager(w);
                }
                long area = IO.allocateMemory(32L * MAX_BATCH, false);
                try {
                    run(mgr, w, in, n, area);
                    for (int i = 0; i < n; i++) {
                        got[i] = new byte[32];
                        IO.getByteArray(area + 32L * i, got[i], 0, 32);
                        if (!Arrays.equals(got[i], want[i])) {
                            return false;
                        }
                    }
                } finally {
                    IO.freeMemory(area);
                    pool.offer(mgr);
                }
            }
        }
        return true;
    }
}
