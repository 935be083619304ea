package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * File handles (name_to_handle_at, open_by_handle_at: NFS exports, fanotify, backup tools) in a
 * view, after the kernel forgot the files (drop_caches) and after a remount: the kernel adapter
 * offers FUSE_EXPORT_SUPPORT and answers its LOOKUPs of "." and "..". {@code file_handles.py}
 * (test resources) prints what each handle opens, a file, a directory, a renamed file, a file
 * whose other name was removed, and a removed file (ESTALE), and must print what the host's
 * filesystem printed. Before 2026-12-07 every handle was ESTALE once its file left the kernel's
 * cache (xfstests generic/426, 467, 477).
 */
@org.junit.jupiter.api.extension.ExtendWith(MachineWide.Held.class) // it syncs or drops the machine's caches, or a test that does would disturb it
class FileHandlesIT {
    @TempDir
    Path tmp;

    @Test
    void handlesOpenTheirFilesAfterTheCacheIsDroppedAndAfterARemount() throws Exception {
        Cowfs.assumeFuse();
        assumeTrue(Cowfs.shRc(tmp, "test $(id -u) = 0").rc() == 0, "needs root (open_by_handle_at, drop_caches)");
        Path script = tmp.resolve("file_handles.py");
        try (InputStream in = FileHandlesIT.class.getResourceAsStream("/file_handles.py")) {
            Files.write(script, in.readAllBytes());
        }
        Path host = Files.createDirectories(tmp.resolve("host"));
        Cowfs.Result control = Cowfs.shRc(tmp, "python3 " + script + " " + host + " make " + tmp.resolve("h.host"));
        assumeTrue(control.rc() == 0, () -> "the host's filesystem gives no file handles: " + control.out());
        assertEquals("d/f file eff\nd/sub dir deep moved-here\nd/sub/deep file deep\ngone ESTALE\nmoved file moved\n"
                + "linked file two names\n", control.out());
        Cowfs cowfs = new Cowfs(tmp);
        try {
            cowfs.run("import", Files.createDirectories(tmp.resolve("empty")).toString(), "--name", "base").ok();
            cowfs.run("fork", "base", "--name", "v").ok();
            try (Cowfs.Mounted m = cowfs.mount("v", "--fuse-api=kernel")) {
                assertEquals(control.out(), Cowfs.sh(tmp, "python3 " + script + " " + m.dir + " make " + tmp.resolve("h.view")));
            }
            try (Cowfs.Mounted m = cowfs.mount("v", "--fuse-api=kernel")) {
                assertEquals(control.out(), Cowfs.sh(tmp, "python3 " + script + " " + m.dir + " open " + tmp.resolve("h.view")));
            }
            cowfs.run("fsck").ok();
        } finally {
            cowfs.close();
        }
    }
}
