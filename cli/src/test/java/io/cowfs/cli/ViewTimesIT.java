package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With its writeback cache the kernel keeps a view's file times and sends them when they change;
 * what a mount shows must be what is stored. Files rewritten three times each in quick
 * succession (each write closed) show the same mtime and ctime, to the nanosecond, after an
 * unmount and a new mount, and export writes that mtime. Before the fix each WRITE stamped the
 * mount's own clock, which was stored when the kernel's time had not moved between two writes (it
 * then sends none), and the kernel's ctime was never stored: ~3 in 4 files showed other times
 * after the remount, some older than the file written before them.
 */
class ViewTimesIT {
    @TempDir
    Path tmp;

    private static String times(Path dir, int files) throws Exception {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < files; i++) {
            Path f = dir.resolve("f" + i);
            out.append(f.getFileName()).append(' ').append(Files.getAttribute(f, "unix:lastModifiedTime"))
                    .append(' ').append(Files.getAttribute(f, "unix:ctime")).append('\n');
        }
        return out.toString();
    }

    @Test
    void timesAMountShowsAreTheTimesStored() throws Exception {
        Cowfs.assumeFuse();
        Cowfs.sh(tmp, "mkdir -p src && echo base > src/base");
        int files = 120;
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            String shown;
            try (Cowfs.Mounted m = c.mount("v")) {
                for (int i = 0; i < files; i++) {
                    Path f = m.dir.resolve("f" + i);
                    for (int k = 0; k < 3; k++) {
                        Files.write(f, String.valueOf(k).repeat(1000).getBytes(), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    }
                }
                shown = times(m.dir, files);
            }
            try (Cowfs.Mounted again = c.mount("v")) {
                assertEquals(shown, times(again.dir, files), "times after a remount");
            }
            Path out = tmp.resolve("out");
            c.run("export", "v", out.toString()).ok();
            StringBuilder exported = new StringBuilder();
            StringBuilder want = new StringBuilder();
            for (String line : shown.split("\n")) {
                String[] f = line.split(" ");
                want.append(f[0]).append(' ').append(f[1]).append('\n');
                exported.append(f[0]).append(' ').append(Files.getAttribute(out.resolve(f[0]), "unix:lastModifiedTime")).append('\n');
            }
            assertEquals(want.toString(), exported.toString(), "exported mtimes");
        }
    }
}
