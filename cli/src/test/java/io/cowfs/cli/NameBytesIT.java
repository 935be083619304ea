package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Names are UTF-8 in cowfs (docs/DESIGN-DECISIONS.md, 7). Through the kernel adapter a name that
 * is not UTF-8 names nothing: looking it up, removing or renaming it says ENOENT, making it says
 * EINVAL (ENAMETOOLONG past 255 bytes), an attribute of that name is ENODATA. It is never read
 * with U+FFFD in place of its bad bytes, which made {@code stat caf\xe9} find, and {@code rm
 * caf\xe9} remove, the file {@code caf\uFFFD}. A name that holds U+FFFD of its own is valid UTF-8
 * and is made, kept by a snapshot and exported. The libfuse 2 adapter gets paths decoded by
 * jnr-fuse, U+FFFD in place of bad bytes, so it refuses every new name with U+FFFD in it.
 * Each case runs {@code name_bytes.py} (test resources) in the mount.
 */
class NameBytesIT {
    @TempDir
    Path tmp;

    Cowfs cowfs;
    Path script;

    @BeforeEach
    void importTree() throws Exception {
        Cowfs.assumeFuse();
        Path src = Files.createDirectories(tmp.resolve("src"));
        Cowfs.sh(src, "printf real > $'caf\\xef\\xbf\\xbd'"); // the name's bytes, whatever the JVM's locale
        cowfs = new Cowfs(tmp);
        cowfs.run("import", src.toString(), "--name", "snap").ok();
        cowfs.run("fork", "snap", "--name", "v").ok();
        script = tmp.resolve("name_bytes.py");
        try (InputStream in = NameBytesIT.class.getResourceAsStream("/name_bytes.py")) {
            Files.write(script, in.readAllBytes());
        }
    }

    private String run(Path root, String mode) throws Exception {
        return Cowfs.sh(tmp, "python3 " + script + " " + root + " " + mode);
    }

    private static String names(Path dir) throws Exception {
        return Cowfs.sh(dir, "python3 -c \"import os; print(' '.join(sorted(n.hex() for n in os.listdir(b'.'))))\"").trim();
    }

    private static final String LOOKUPS = String.join("\n",
            "stat bad: ENOENT",
            "open bad: ENOENT",
            "listxattr bad: ENOENT", "");

    @Test
    void aNameThatIsNotUtf8NamesNothingAndOneWithUFFFDIsMade() throws Exception {
        try {
            try (Cowfs.Mounted m = cowfs.mount("v", "--fuse-api=kernel")) {
                assertEquals(LOOKUPS + String.join("\n",
                        "unlink bad: ENOENT",
                        "rmdir bad: ENOENT",
                        "rename bad to x: ENOENT",
                        "create bad: EINVAL",
                        "mkdir bad: EINVAL",
                        "symlink bad: EINVAL",
                        "mkfifo bad: EINVAL",
                        "link to bad: EINVAL",
                        "rename to bad: EINVAL",
                        "create 255 bad bytes: EINVAL",
                        "create 256 bad bytes: ENAMETOOLONG",
                        "create U+FFFD: ok",
                        "mkdir U+FFFD: ok",
                        "rename to U+FFFD: ok",
                        "setxattr U+FFFD: ok",
                        "setxattr bad: EINVAL",
                        "getxattr bad: ENODATA",
                        "removexattr bad: ENODATA",
                        "getxattr U+FFFD: ok b'1'",
                        "read real: ok b'real'",
                        // caf\uFFFD, d\uFFFD, m\uFFFD: nothing else was made, nothing removed
                        "tree: 636166efbfbd 64efbfbd 6defbfbd", ""), run(m.dir, "view"));
                cowfs.run("snapshot", "v", "--name", "vs").ok();
            }
            try (Cowfs.Mounted m = cowfs.mount("vs", "--fuse-api=kernel")) {
                assertEquals(LOOKUPS + "read real: ok b'real'\ntree: 636166efbfbd 64efbfbd 6defbfbd\n", run(m.dir, "ro"));
            }
            Path out = tmp.resolve("out");
            cowfs.run("export", "vs", out.toString()).ok();
            assertEquals("636166efbfbd 64efbfbd 6defbfbd", names(out));
            assertEquals("b'1'\n", Cowfs.sh(out, "python3 -c \"import os; print(os.getxattr(b'caf\\xef\\xbf\\xbd', b'user.x\\xef\\xbf\\xbd'))\""));
            cowfs.run("fsck").ok();
        } finally {
            cowfs.close();
        }
    }

    @Test
    void theLibfuse2AdapterRefusesNewNamesWithUFFFD() throws Exception {
        try (Cowfs.Mounted m = cowfs.mount("v", "--fuse-api=libfuse2")) {
            assertEquals(String.join("\n",
                    "create bad: EINVAL",
                    "create U+FFFD: EINVAL",
                    "setxattr bad: EINVAL",
                    "read real: ok b'real'",
                    "tree: 636166efbfbd", ""), run(m.dir, "libfuse2"));
        } finally {
            cowfs.close();
        }
    }
}
