package io.cowfs.blockstore;

import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/** Probes of a lock from a process of its own (python3), as another cowfs process would see it. */
public final class OtherProcess {
    private OtherProcess() {
    }

    /** Skips the test where python3 cannot run. */
    public static void assumePython() throws Exception {
        Assumptions.assumeTrue(new ProcessBuilder("python3", "-c", "0").start().waitFor() == 0, "needs python3");
    }

    /**
     * Exit code of python's lockf(LOCK_EX | LOCK_NB) of the whole of file in a process of its own
     * (a POSIX lock, as gc's probe and fsck --repair of a cowfs before OfdLock): 0 taken (and let go
     * as that process ends), 1 refused.
     */
    public static int lockf(Path file) throws Exception {
        Process p = new ProcessBuilder("python3", "-c", "import fcntl, sys\nf = open(sys.argv[1], 'r+b')\ntry:\n"
                + "    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    sys.exit(1)", file.toString()).inheritIO().start();
        return p.waitFor();
    }
}
