package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store made with 4 KiB blocks: every FUSE read spans many blocks, a 9 MB file needs several
 * block-list pages, 600 files several inode pages; the tree still reads back exactly.
 */
class BlockSizeIT {
    @TempDir
    Path tmp;

    @Test
    void fourKibBlocksMountAndExportTheSameTree() throws Exception {
        Cowfs.assumeFuse();
        Path src = SourceTree.build(tmp.resolve("src"));
        // more than one inode page (256 inodes) and a block list of more than one page (2048 blocks)
        Cowfs.sh(src, """
                set -e
                mkdir many
                for i in $(seq 1 600); do echo "file $i" > many/f$i; done
                head -c 3000000 /dev/urandom > multi-page
                truncate -s 9000000 multi-page
                head -c 123457 /dev/urandom >> multi-page
                """);
        String store = "--store=" + tmp.resolve("store4k");
        Cowfs.runRaw("init", store, "--block-size", "4").ok();
        assertEquals(4096, new ObjectMapper().readTree(Cowfs.runRaw("stats", store, "--json").ok().out()).get("blockSize").asInt());
        Cowfs.runRaw("import", store, src.toString(), "--name", "small-blocks").ok();
        Path mp = Files.createDirectories(tmp.resolve("mp"));
        try {
            Cowfs.runRaw("mount", store, "small-blocks", mp.toString()).ok();
            Cowfs.sh(tmp, "diff -r --no-dereference -x fifo " + src + " " + mp);
            assertEquals(SourceTree.listing(src), SourceTree.listing(mp));
            assertEquals(SourceTree.hashes(src), SourceTree.hashes(mp));
            Cowfs.runRaw("umount", mp.toString()).ok();
        } finally {
            Cowfs.unmountHard(mp);
        }
        Path out = tmp.resolve("out");
        Cowfs.runRaw("export", store, "small-blocks", out.toString()).ok();
        assertEquals(SourceTree.listing(src), SourceTree.listing(out));
        assertEquals(SourceTree.hashes(src), SourceTree.hashes(out));
        Cowfs.runRaw("verify", store).ok();
    }
}
