package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * lseek(SEEK_DATA/SEEK_HOLE) in a view finds holes to the 4 KiB page inside a 64 KiB block, as
 * ext4 does, through the real mount: {@code seek_pages.py} (test resources) writes single pages
 * into a new file's holes, punches and zeroes pages of a snapshot's file, and walks the segments
 * while the pages are dirty, after fsync (stored as sub-block deltas), after a second write to
 * a stored block (a delta over a delta), after a remount and in a snapshot. Two places differ
 * from ext4 on purpose: a view reserves nothing for fallocate, so the fallocated block is a hole
 * (ext4 says data, unwritten extents), and a zeroed page is a hole (ext4 keeps it as data). Before
 * pages were looked at, every block holding any data was data throughout (xfstests generic/285,
 * 436, 490 failed on that).
 */
class SeekPagesIT {
    @TempDir
    Path tmp;

    Cowfs cowfs;
    Path script;

    static final String WRITTEN = "f: data 0-1 hole 1-3 data 3-4 hole 4-21 data 21-22 hole 22-76 data 76-77 hole 77-96\n";
    static final String MORE = "f: data 0-1 hole 1-3 data 3-4 hole 4-8 data 8-9 hole 9-21 data 21-22 hole 22-76 data 76-77 hole 77-96\n";
    static final String BASE = "base.bin: data 0-23 hole 23-24 data 24-32 hole 32-34 data 34-64\n";

    @BeforeEach
    void setUp() throws Exception {
        Cowfs.assumeFuse();
        cowfs = new Cowfs(tmp);
        Path src = Files.createDirectories(tmp.resolve("src"));
        byte[] data = new byte[4 * 65536];
        new java.util.Random(7).nextBytes(data);
        for (int i = 0; i < data.length; i++) {
            data[i] = data[i] == 0 ? 1 : data[i]; // no zero byte: a hole is told from data by reading
        }
        Files.write(src.resolve("base.bin"), data);
        cowfs.run("import", src.toString(), "--name", "base").ok();
        cowfs.run("fork", "base", "--name", "v").ok();
        script = tmp.resolve("seek_pages.py");
        try (InputStream in = SeekPagesIT.class.getResourceAsStream("/seek_pages.py")) {
            Files.write(script, in.readAllBytes());
        }
    }

    private String run(Path dir, String phase) throws Exception {
        return Cowfs.sh(tmp, "python3 " + script + " " + dir + " " + phase);
    }

    @Test
    void holesArePagesWhetherDirtyStoredOrRemounted() throws Exception {
        try {
            try (Cowfs.Mounted m = cowfs.mount("v")) {
                assertEquals(WRITTEN + BASE, run(m.dir, "write"), "dirty pages");
                assertEquals(WRITTEN + BASE, run(m.dir, "sync"), "stored as sub-block deltas");
                assertEquals(MORE + BASE, run(m.dir, "more"), "a delta over a delta");
            }
            try (Cowfs.Mounted m = cowfs.mount("v")) {
                assertEquals(MORE + BASE, run(m.dir, "read"), "after a remount");
            }
            cowfs.run("snapshot", "v", "--name", "s").ok();
            try (Cowfs.Mounted m = cowfs.mount("s")) {
                // a snapshot names whole chunks only (deltas are folded at the freeze): a block
                // that holds any data is data throughout, a block of holes is a hole
                assertEquals("f: data 0-32 hole 32-64 data 64-80 hole 80-96\nbase.bin: data 0-64\n", run(m.dir, "read"));
            }
            cowfs.run("fsck").ok();
        } finally {
            cowfs.close();
        }
    }

    @Test
    void aSeekPastTheEndIsEnxioAndAFileOfHolesHasNoData() throws Exception {
        try (Cowfs.Mounted m = cowfs.mount("v")) {
            assertEquals("ENXIO ENXIO 0 196608\n", Cowfs.sh(m.dir, "python3 -c \"import errno, os\n"
                    + "fd = os.open('h', os.O_RDWR | os.O_CREAT); os.ftruncate(fd, 3 * 65536)\n"
                    + "def s(o, w):\n"
                    + "    try: return os.lseek(fd, o, w)\n"
                    + "    except OSError as e: return errno.errorcode[e.errno]\n"
                    + "print(s(0, os.SEEK_DATA), s(3 * 65536, os.SEEK_HOLE), s(0, os.SEEK_HOLE), os.fstat(fd).st_size)\""));
        } finally {
            cowfs.close();
        }
    }
}
