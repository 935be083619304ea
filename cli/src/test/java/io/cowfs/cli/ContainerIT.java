package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Views and snapshots used from containers, with a real podman (docs/CONTAINERS.md): host mounts
 * bind-mounted into containers (root and uid 1000, :ro, propagation to a container started before
 * the mount, a dead mount and its recovery). cowfs running inside the image built from the
 * Dockerfile is DockerImageIT. Skipped, saying why, only where FUSE or containers cannot run.
 */
class ContainerIT {
    @TempDir
    Path tmp;

    private static String name(String what) {
        return "cowfs-test-" + what + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** A source tree: a root-owned 0755 directory, a 0777 one, a file. */
    private Path tree() throws Exception {
        Cowfs.sh(tmp, "mkdir -p src/locked src/open && echo hello > src/hello && echo inside > src/locked/f"
                + " && chmod 0755 src/locked && chmod 0777 src/open");
        return tmp.resolve("src");
    }

    @Test
    void hostViewBindMountedIsReadAndWrittenByRootAndUid1000() throws Exception {
        Cowfs.assumeFuse();
        Podman.assume();
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tree().toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "job").ok();
            try (Cowfs.Mounted m = c.mount("job", "--allow-other")) {
                String v = m.dir + ":/work";
                String out = Podman.ok("run", "--rm", "-v", v, Podman.BUSYBOX, "sh", "-c",
                        "cat /work/hello && echo by-root > /work/by-root && mkdir /work/built && cp /work/hello /work/built/copy && ls -n /work/built");
                assertTrue(out.contains("hello"), out);
                assertEquals("by-root\n", Files.readString(m.dir.resolve("by-root")), "a write in the container shows on the host");
                assertEquals("hello\n", Files.readString(m.dir.resolve("built/copy")));

                out = Podman.ok("run", "--rm", "--user", "1000:1000", "-v", v, Podman.BUSYBOX, "sh", "-c",
                        "id -u; echo by-user > /work/open/by-user; cat /work/locked/f;"
                                + " (echo x > /work/locked/g) 2>&1 && echo WROTE; true");
                assertTrue(out.contains("inside"), "uid 1000 reads a 0755 directory: " + out);
                assertTrue(out.contains("Permission denied"), "uid 1000 may not write a root-owned 0755 directory: " + out);
                assertFalse(out.contains("WROTE"), out);
                Path byUser = m.dir.resolve("open/by-user");
                assertEquals("by-user\n", Files.readString(byUser));
                assertEquals(1000, (int) Files.getAttribute(byUser, "unix:uid"), "the file belongs to the container's user");
                assertFalse(Files.exists(m.dir.resolve("locked/g")));
            }
        }
    }

    @Test
    void readOnlyBindsAreHonoured() throws Exception {
        Cowfs.assumeFuse();
        Podman.assume();
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tree().toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "job").ok();
            try (Cowfs.Mounted snap = c.mount("base", "--allow-other"); Cowfs.Mounted view = c.mount("job", "--allow-other")) {
                String out = Podman.ok("run", "--rm", "-v", snap.dir + ":/snap:ro", "-v", view.dir + ":/view:ro", Podman.BUSYBOX,
                        "sh", "-c", "cat /snap/hello /view/hello;"
                                + " for d in /snap /view; do touch $d/new 2>&1 && echo WROTE $d; done; true");
                assertEquals(2, out.split("hello", -1).length - 1, out);
                assertFalse(out.contains("WROTE"), out);
                assertEquals(2, out.split("Read-only file system", -1).length - 1, out);
                assertFalse(Files.exists(view.dir.resolve("new")), "a :ro bind of a writable view writes nothing");
            }
        }
    }

    /**
     * A container started before the mount sees it through a shared parent (cowfs shared-dir); a
     * killed mount shows as ENOTCONN there, and cowfs umount + mount on the host recover it
     * without restarting the container.
     */
    @Test
    void containerStartedBeforeTheMountSeesItAndADeadMountRecovers() throws Exception {
        Cowfs.assumeFuse();
        Podman.assume();
        Path shared = Files.createDirectories(tmp.resolve("shared"));
        String ctr = name("prop");
        boolean sharedMade = false;
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tree().toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "job").ok();
            Cowfs.runRaw("shared-dir", shared.toString()).ok();
            sharedMade = true;
            Podman.ok("run", "-d", "--name", ctr, "-v", shared + ":/x:rslave", Podman.BUSYBOX, "sleep", "600");
            Path mp = Files.createDirectories(shared.resolve("job"));
            try {
                c.run("mount", "job", mp.toString(), "--allow-other").ok();
                assertEquals("hello\n", Podman.ok("exec", ctr, "cat", "/x/job/hello"), "the later mount propagated");
                Podman.ok("exec", ctr, "sh", "-c", "echo from-container > /x/job/note");
                assertEquals("from-container\n", Files.readString(mp.resolve("note")));

                Fx.killMount(c.store, mp);
                Cowfs.Result dead = Podman.podman("exec", ctr, "ls", "/x/job");
                assertNotEquals(0, dead.rc());
                assertTrue(dead.out().contains("Transport endpoint is not connected"), dead.out());

                c.run("umount", mp.toString()).ok(); // clears the dead mount
                c.run("mount", "job", mp.toString(), "--allow-other").ok();
                assertEquals("from-container\n", Podman.ok("exec", ctr, "cat", "/x/job/note"),
                        "after umount + mount the container sees the view again, closed writes kept");
            } finally {
                Cowfs.unmountHard(mp);
            }
        } finally {
            Podman.removeContainer(ctr);
            if (sharedMade) {
                Cowfs.runRaw("shared-dir", "--undo", shared.toString()).ok();
            }
            assertFalse(SharedDirCommand.isMountPoint(shared.toRealPath()), "the shared bind is gone");
        }
    }

    /**
     * A view as a container's root filesystem ({@code podman run --rootfs}): the container runs
     * from the view, its writes land in the view (and in a snapshot of it), the base stays as it
     * was; its uid 1000 gets the permission checks of the image's modes. A view mounted without
     * --allow-other runs no container user but the mounting one.
     */
    @Test
    void aViewIsAContainersRootFilesystem() throws Exception {
        Cowfs.assumeFuse();
        Podman.assume();
        String ctr = name("rootfs");
        Path rootfs = Files.createDirectories(tmp.resolve("rootfs"));
        try {
            Podman.ok("create", "--name", ctr, Podman.BUSYBOX);
            Cowfs.sh(tmp, "podman export " + ctr + " | tar -C " + rootfs + " -xf - && chmod 1777 " + rootfs + "/tmp");
        } finally {
            Podman.removeContainer(ctr);
        }
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", rootfs.toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "ctr").ok();
            try (Cowfs.Mounted m = c.mount("ctr", "--allow-other", "--suid", "--dev")) {
                String out = Podman.ok("run", "--rm", "--rootfs", m.dir.toString(), "/bin/sh", "-c",
                        "mkdir -p /srv/out && echo built > /srv/out/result && rm /bin/vi && ls /srv/out && cat /etc/passwd | wc -l");
                assertTrue(out.contains("result"), out);
                assertEquals("built\n", Files.readString(m.dir.resolve("srv/out/result")), "the container's write is in the view");
                assertFalse(Files.exists(m.dir.resolve("bin/vi"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
                out = Podman.ok("run", "--rm", "--user", "1000:1000", "--rootfs", m.dir.toString(), "/bin/sh", "-c",
                        "id -u; echo tmp > /tmp/by-user && cat /tmp/by-user; (echo x > /etc/by-user) 2>&1; true");
                assertTrue(out.startsWith("1000\ntmp\n"), out);
                assertTrue(out.contains("Permission denied"), "uid 1000 may not write the image's root-owned /etc: " + out);
                c.run("snapshot", "ctr", "--name", "after").ok();
            }
            Path exported = tmp.resolve("after");
            c.run("export", "after", exported.toString()).ok();
            assertEquals("built\n", Files.readString(exported.resolve("srv/out/result")));
            assertFalse(Files.exists(exported.resolve("bin/vi"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
            assertEquals("tmp\n", Files.readString(exported.resolve("tmp/by-user")));
            assertEquals(1000, (int) Files.getAttribute(exported.resolve("tmp/by-user"), "unix:uid"));
            try (Cowfs.Mounted base = c.mount("base", "--allow-other")) {
                assertTrue(Files.exists(base.dir.resolve("bin/vi"), java.nio.file.LinkOption.NOFOLLOW_LINKS), "the base is untouched");
                assertFalse(Files.exists(base.dir.resolve("srv/out")));
            }
            // without --allow-other the kernel lets no other uid into the mount, a container's included
            try (Cowfs.Mounted m = c.mount("ctr")) {
                Cowfs.Result denied = Podman.podman("run", "--rm", "--user", "1000:1000", "--rootfs", m.dir.toString(), "/bin/sh", "-c", "id -u");
                assertNotEquals(0, denied.rc(), denied.out());
                assertTrue(denied.out().contains("ermission denied"), denied.out());
            }
        }
    }
}
