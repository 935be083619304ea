package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * mount.cowfs as mount(8) runs it: {@code mount -t fuse.cowfs NAME
 * DIR -o store=...} and an fstab line ({@code mount -T FSTAB DIR}, a test's own fstab file; /etc/fstab
 * is never touched). mount(8) looks for helpers in /sbin only, so the test runs in a private mount
 * namespace whose /usr/sbin is a tmpfs holding the helpers that {@code cowfs install-helpers --root}
 * wrote: the machine's /usr/sbin is left as it is, and every mount made there dies with the namespace.
 */
class MountHelperIT {
    @TempDir
    Path tmp;

    @Test
    void installHelpersWritesHelpersAndCompletion() throws Exception {
        Path root = tmp.resolve("root");
        Cowfs.runRaw("install-helpers", "--root", root.toString(), "--cowfs", "/opt/cowfs/cowfs").ok();
        for (String f : List.of("usr/sbin/mount.cowfs", "usr/sbin/mount.fuse.cowfs",
                "usr/share/bash-completion/completions/cowfs", "usr/local/share/zsh/site-functions/_cowfs")) {
            assertTrue(Files.exists(root.resolve(f)), f);
        }
        assertTrue(Files.isExecutable(root.resolve("usr/sbin/mount.cowfs")));
        assertTrue(Files.readString(root.resolve("usr/sbin/mount.cowfs")).contains("COWFS=\"${COWFS:-/opt/cowfs/cowfs}\""));
        assertEquals(Path.of("mount.cowfs"), Files.readSymbolicLink(root.resolve("usr/sbin/mount.fuse.cowfs")));
    }

    @Test
    void mountDashTAndAnFstabLineMountAView() throws Exception {
        Cowfs.assumeFuse();
        try (Cowfs c = new Cowfs(tmp)) {
            Cowfs.sh(tmp, "mkdir -p src && echo hello > src/hello && mkdir -p mp1 mp2 helpers");
            c.run("import", tmp.resolve("src").toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "job").ok();
            Path helpers = tmp.resolve("helpers");
            String java = String.join(" ", Fx.javaCommand(List.of()));
            Cowfs.runRaw("install-helpers", "--root", helpers.toString(), "--cowfs", java, "--no-mount-helper").ok();
            Cowfs.runRaw("install-helpers", "--root", helpers.toString(), "--cowfs", java).ok();
            Path mp1 = tmp.resolve("mp1");
            Path mp2 = tmp.resolve("mp2");
            Path fstab = tmp.resolve("fstab");
            Files.writeString(fstab, "# a test's own fstab\njob " + mp2 + " fuse.cowfs store=" + c.store + ",allow_other,allow_suid,allow_dev,noauto 0 0\n");
            String script = String.join("\n",
                    "set -e",
                    "mount -t tmpfs tmpfs /usr/sbin && cp -a " + helpers.resolve("usr/sbin") + "/. /usr/sbin/",
                    "trap 'rc=$?; for m in " + mp1 + " " + mp2 + "; do umount -l $m 2>/dev/null || true; done; exit $rc' EXIT",
                    "mount -t fuse.cowfs base " + mp1 + " -o store=" + c.store + ",ro",
                    "cat " + mp1 + "/hello",
                    "grep ' " + mp1 + " ' /proc/self/mounts",
                    "umount " + mp1,
                    "mount -T " + fstab + " " + mp2,
                    "grep ' " + mp2 + " ' /proc/self/mounts",
                    "echo written > " + mp2 + "/new",
                    "cat " + mp2 + "/new",
                    "umount " + mp2,
                    "echo mounts-left: $(grep -c -e ' " + mp1 + " ' -e ' " + mp2 + " ' /proc/self/mounts || true)");
            Path sh = tmp.resolve("in-namespace.sh");
            Files.writeString(sh, script);
            String out = Cowfs.sh(tmp, "unshare --mount --propagation private bash " + sh);
            assertTrue(out.contains("hello"), out);
            assertTrue(out.contains("fuse.cowfs ro,"), "mount -t ... -o ro gives a read-only mount: " + out);
            assertTrue(out.contains("fuse.cowfs ro,nosuid,nodev,"), "nosuid,nodev unless asked: " + out);
            assertTrue(out.contains(" " + mp2 + " fuse.cowfs rw,noatime,"), "fstab's allow_suid,allow_dev reach the mount: " + out);
            assertTrue(out.contains("written"), out);
            assertTrue(out.contains("mounts-left: 0"), "umount(8) unmounted both: " + out);
            // plain umount(8): the mount process persists and exits by itself (cowfs umount would wait for it)
            for (int i = 0; i < 300 && Cowfs.runRaw("list", "--store=" + c.store, "--json").out().contains("\"mounted\" : true"); i++) {
                Thread.sleep(100);
            }
            Path exported = tmp.resolve("exported");
            c.run("export", "job", exported.toString()).ok();
            assertEquals("written\n", Files.readString(exported.resolve("new")));
        }
    }
}
