package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * renameat2(RENAME_EXCHANGE) in a view, as on the host's filesystem: {@code rename_exchange.py}
 * (test resources) swaps files, directories across parents (their link counts), a symlink and a
 * file, two names of one file, and tries the cases that fail (a name missing, NOREPLACE with it,
 * a directory with its own descendant). The view must print what the host's directory printed,
 * keep the result across a remount and a snapshot, and refuse in a read-only mount.
 */
class RenameExchangeIT {
    @TempDir
    Path tmp;

    Cowfs cowfs;
    Path script;

    @BeforeEach
    void setUp() throws Exception {
        Cowfs.assumeFuse();
        cowfs = new Cowfs(tmp);
        cowfs.run("import", Files.createDirectories(tmp.resolve("empty")).toString(), "--name", "base").ok();
        cowfs.run("fork", "base", "--name", "v").ok();
        script = tmp.resolve("rename_exchange.py");
        try (InputStream in = RenameExchangeIT.class.getResourceAsStream("/rename_exchange.py")) {
            Files.write(script, in.readAllBytes());
        }
    }

    private String run(Path root, String mode) throws Exception {
        return Cowfs.sh(tmp, "python3 " + script + " " + root + " " + mode);
    }

    private static String treeLines(String out) {
        return out.lines().filter(l -> l.startsWith("tree ")).collect(Collectors.joining("\n", "", "\n"));
    }

    @Test
    void exchangeSwapsTwoNamesAsOnTheHostAndTheViewKeepsIt() throws Exception {
        String host = run(Files.createDirectories(tmp.resolve("host")), "do");
        try {
            try (Cowfs.Mounted m = cowfs.mount("v", "--fuse-api=kernel")) {
                assertEquals(host, run(m.dir, "do"));
            }
            try (Cowfs.Mounted m = cowfs.mount("v", "--fuse-api=kernel")) {
                assertEquals(treeLines(host), run(m.dir, "tree"));
            }
            cowfs.run("snapshot", "v", "--name", "s").ok();
            try (Cowfs.Mounted m = cowfs.mount("s", "--fuse-api=kernel")) {
                assertEquals("exchange in a read-only mount: EROFS\n  d/two still: ok 2\n", run(m.dir, "ro"));
                assertEquals(treeLines(host), run(m.dir, "tree"));
            }
            cowfs.run("fsck").ok();
        } finally {
            cowfs.close();
        }
    }

    @Test
    void theLibfuse2AdapterSaysEinval() throws Exception {
        // libfuse 2 has no RENAME2: the kernel answers EINVAL for any flag, and nothing moves
        try (Cowfs.Mounted m = cowfs.mount("v", "--fuse-api=libfuse2")) {
            Files.writeString(m.dir.resolve("a"), "A");
            Files.writeString(m.dir.resolve("b"), "B");
            assertEquals("EINVAL A B\n", Cowfs.sh(m.dir, "python3 -c \"import ctypes, errno, os; l = ctypes.CDLL(None, use_errno=True); "
                    + "r = l.renameat2(-100, b'a', -100, b'b', 2); "
                    + "print(errno.errorcode[ctypes.get_errno()] if r else 'ok', open('a').read(), open('b').read())\""));
        } finally {
            cowfs.close();
        }
    }
}
