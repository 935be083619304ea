package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.store.Store;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store on a read-only filesystem (here a read-only bind mount of a real store, as a container
 * or read-only media would give it): the commands that only read work through it, every command
 * that would write says so in one line and exits 1, and a process that has the store open where
 * it is writable makes a read-only open busy (exit 4). Snapshots and views mount from it read-only.
 * docs/READ-ONLY-STORES.md.
 */
class ReadOnlyStoreIT {
    @TempDir
    Path tmp;

    /** What a test does with the store's read-only bind (ro) and the fixture (c, where it is writable). */
    private interface Body {
        void run(Cowfs c, Path ro) throws Exception;
    }

    /**
     * A store with snapshots s1 and s2 (s2 adds src/c) and a view v of s1, bound read-only at
     * tmp/ro for body; afterwards, through the writable path: the same list, fsck and verify
     * clean, and an import works.
     */
    private void withReadOnlyStore(Body body) throws Exception {
        Assumptions.assumeTrue(Accounts.isRoot(), "skipped: a read-only bind mount needs root");
        Cowfs.sh(tmp, "mkdir -p src/d && echo hello > src/a && head -c 3000000 /dev/urandom > src/d/big && ln -s a src/link");
        Path ro = tmp.resolve("ro");
        Files.createDirectories(ro);
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tmp.resolve("src").toString(), "--name", "s1").ok();
            Cowfs.sh(tmp, "echo more > src/c");
            c.run("import", tmp.resolve("src").toString(), "--name", "s2").ok();
            c.run("fork", "s1", "--name", "v").ok();
            String listed = c.run("list").ok().out();
            try {
                Cowfs.sh(tmp, "mount --bind store ro && mount -o remount,bind,ro ro");
                assertTrue(Cowfs.shRc(tmp, "touch ro/x").rc() != 0, "the bind mount is read-only");
                assertEquals(listed, ro(ro, "list").ok().out(), "list");
                body.run(c, ro);
            } finally {
                Cowfs.shRc(tmp, "umount ro");
            }
            assertEquals(listed, c.run("list").ok().out());
            c.run("fsck").ok();
            c.run("verify").ok();
            c.run("import", tmp.resolve("src").toString(), "--name", "s3").ok(); // writable where it is writable
        }
    }

    @Test
    void readCommandsWorkWritesAreRefusedInOneLineAndAWriterElsewhereMakesItBusy() throws Exception {
        withReadOnlyStore((c, ro) -> {
            assertTrue(ro(ro, "show", "s1").ok().out().contains("/src"), "show");
            assertEquals(List.of("m /", "A /c"), ro(ro, "diff", "s1", "s2").ok().out().lines().toList(), "diff of snapshots");
            assertTrue(ro(ro, "du").ok().out().contains("s2"), "du");
            assertTrue(ro(ro, "stats").ok().out().contains("unique data"), "stats");
            ro(ro, "export", "s2", tmp.resolve("out").toString()).ok();
            Cowfs.sh(tmp, "diff -r --no-dereference src out");
            assertTrue(ro(ro, "verify").ok().out().contains("all good"), "verify");
            assertTrue(ro(ro, "fsck").ok().out().contains("clean"), "fsck");

            String[][] writes = {
                {"import", tmp.resolve("src").toString(), "--name", "s3"},
                {"fork", "s1", "--name", "v2"},
                {"snapshot", "v", "--name", "s4"},
                {"rm", "s1"},
                {"gc"},
                {"fsck", "--repair"},
                {"upgrade"},
                {"mount", "v", tmp.resolve("mp").toString(), "--rw"},
                {"export", "v", tmp.resolve("out-v").toString()},
                {"diff", "s1", "v"},
            };
            for (String[] w : writes) {
                Cowfs.Result r = ro(ro, w).fails(1);
                assertEquals(1, r.err().strip().lines().count(), () -> String.join(" ", w) + ": one line\n" + r.err());
                assertTrue(r.err().contains("read-only filesystem"), () -> String.join(" ", w) + ": " + r.err());
            }
            assertTrue(Files.notExists(tmp.resolve("out-v")), "a refused export writes nothing");

            // a process with the store open where it is writable: a read-only open must not read beside it
            try (Store writable = Store.open(c.store)) {
                Cowfs.Result busy = ro(ro, "list").fails(4);
                assertTrue(busy.err().contains("open where it is writable"), busy.err());
            }
            ro(ro, "list").ok();
        });
    }

    @Test
    void snapshotsAndViewsMountReadOnlyFromIt() throws Exception {
        Cowfs.assumeFuse();
        withReadOnlyStore((c, ro) -> {
            Path mp = tmp.resolve("mp-s2");
            Path mv = tmp.resolve("mp-v");
            Files.createDirectories(mp);
            Files.createDirectories(mv);
            try {
                assertTrue(ro(ro, "mount", "s2", mp.toString()).ok().out().contains("read-only"));
                Cowfs.sh(tmp, "diff -r --no-dereference src mp-s2");
                Cowfs.Result v = ro(ro, "mount", "v", mv.toString()).ok();
                assertTrue(v.err().contains("mounting view 'v' read-only"), v.err());
                Cowfs.sh(tmp, "diff -r --no-dereference -x c src mp-v"); // v is a fork of s1, made before c
                Cowfs.Result w = Cowfs.shRc(tmp, "echo x > mp-v/new");
                assertTrue(w.rc() != 0 && w.out().contains("Read-only file system"), w.out());
                ro(ro, "umount", mp.toString()).ok();
                ro(ro, "umount", mv.toString()).ok();
                assertTrue(!Cowfs.isMounted(mp) && !Cowfs.isMounted(mv), "unmounted");
            } finally {
                Cowfs.unmountHard(mp);
                Cowfs.unmountHard(mv);
                // the mounts' logs (outside the read-only store): those naming this test's mountpoints
                Cowfs.shRc(tmp, "grep -lF " + tmp + " \"${XDG_CACHE_HOME:-$HOME/.cache}\"/cowfs/logs/read-only-store-*.log"
                        + " \"$XDG_RUNTIME_DIR\"/cowfs/read-only-store-*.log 2>/dev/null | xargs -r rm -f");
            }
        });
    }

    private static Cowfs.Result ro(Path store, String... args) {
        String[] a = new String[args.length + 1];
        a[0] = args[0];
        a[1] = "--store=" + store;
        System.arraycopy(args, 1, a, 2, args.length - 1);
        return Cowfs.runRaw(a);
    }
}
