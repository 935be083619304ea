package io.cowfs.cli;

import static io.cowfs.cli.NonUtf8ImportTest.targetHex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A symlink target is any bytes, through every FUSE adapter: one imported from the host, and one
 * made in a view, reads back exactly (readlink through the mount, then export); a new name that
 * is not UTF-8 is still refused (docs/DESIGN-DECISIONS.md, 7).
 */
class NonUtf8SymlinkIT {
    @TempDir
    Path tmp;

    Cowfs cowfs;
    Path src;

    @BeforeEach
    void importTree() throws Exception {
        Cowfs.assumeFuse();
        src = Files.createDirectories(tmp.resolve("src"));
        Cowfs.sh(src, "ln -s $'t\\xe9st' lnk && echo f > f");
        cowfs = new Cowfs(tmp);
        cowfs.run("import", src.toString(), "--name", "snap").ok();
    }

    @ParameterizedTest
    @ValueSource(strings = {"kernel", "libfuse2"})
    void anImportedTargetReadsBackExactlyThroughAMount(String api) throws Exception {
        try (Cowfs.Mounted m = cowfs.mount("snap", "--fuse-api=" + api)) {
            assertEquals("74 e9 73 74", targetHex(m.dir.resolve("lnk")));
            assertEquals("4", Cowfs.sh(m.dir, "stat -c %s lnk").trim());
        } finally {
            cowfs.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"kernel", "libfuse2"})
    void aTargetMadeInAViewSurvivesSnapshotAndExport(String api) throws Exception {
        try {
            cowfs.run("fork", "snap", "--name", "v").ok();
            try (Cowfs.Mounted m = cowfs.mount("v", "--fuse-api=" + api)) {
                Cowfs.sh(m.dir, "ln -s $'\\xff\\xfe/t\\xe9' L");
                assertEquals("ff fe 2f 74 e9", targetHex(m.dir.resolve("L")), "readlink right after symlink");
                Cowfs.Result bad = Cowfs.shRc(m.dir, "ln -s x $'bad\\xff'");
                assertTrue(bad.rc() != 0 && bad.out().contains("Invalid argument"), "a name that is not UTF-8: EINVAL; " + bad.out());
                cowfs.run("snapshot", "v", "--name", "vs").ok();
            }
            try (Cowfs.Mounted m = cowfs.mount("vs", "--fuse-api=kernel")) {
                assertEquals("ff fe 2f 74 e9", targetHex(m.dir.resolve("L")));
            }
            Path out = tmp.resolve("out");
            cowfs.run("export", "vs", out.toString()).ok();
            assertEquals("ff fe 2f 74 e9", targetHex(out.resolve("L")));
            assertEquals("74 e9 73 74", targetHex(out.resolve("lnk")));
            cowfs.run("fsck").ok();
        } finally {
            cowfs.close();
        }
    }
}
