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
     * as that process ends), {@link #REFUSED} refused (EAGAIN or EACCES); any other failure (no
     * such file, no python) is another code, so that a probe of a wrong path cannot pass for "refused".
     */
    public static int lockf(Path file) throws Exception {
        Process p = new ProcessBuilder("python3", "-c", "import errno, fcntl, sys\nf = open(sys.argv[1], 'r+b')\ntry:\n"
                + "    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError as e:\n"
                + "    sys.exit(" + REFUSED + " if e.errno in (errno.EAGAIN, errno.EACCES) else 1)", file.toString()).inheritIO().start();
        return p.waitFor();
    }

    /** {@link #lockf}'s exit code for a lock another holder has. */
    public static final int REFUSED = 3;
}
