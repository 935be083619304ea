package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * cowfs inside the image built from the repository's Dockerfile, with podman, on a locally
 * debootstrapped Debian 12 (BASE; no registry is reached). The Debian base is made once per
 * machine (scripts/container-images.sh, about 2 minutes); podman keeps the images' package layers.
 * Most tests use the jar of this build (JAR=prebuilt, seconds);
 * {@link #theMavenBuildStageCompilesAWorkingImage} builds the default way, the jar compiled by the
 * Dockerfile's Maven stage (about 45 s where podman has that stage's package layer and the Maven
 * cache, 3.5 minutes on a fresh machine; COWFS_TEST_MAVEN_STAGE=0 skips it).
 */
class DockerImageIT {
    static final String IMAGE = "localhost/cowfs:test";
    static final String MAVEN_STAGE_IMAGE = "localhost/cowfs:test-maven-stage";

    @TempDir
    static Path shared;

    @TempDir
    Path tmp;

    @BeforeAll
    static void buildImage() throws Exception {
        if (!Cowfs.fuseAvailable() || Podman.WHY_NOT != null) {
            return;
        }
        Cowfs.sh(Podman.repo(), "bash scripts/container-images.sh debian");
        Path ctx = Podman.buildContext(shared);
        Podman.ok("build", "-q", "-t", IMAGE, "--build-arg", "BASE=" + Podman.DEBIAN, "--build-arg", "JAR=prebuilt", ctx.toString());
    }

    private static String[] run(String... args) {
        String[] base = {"run", "--rm", "--device", "/dev/fuse", "--cap-add", "SYS_ADMIN"};
        String[] all = new String[base.length + args.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(args, 0, all, base.length, args.length);
        return all;
    }

    @Test
    void cowfsInTheImageImportsForksMountsAndWrites() throws Exception {
        Cowfs.assumeFuse();
        Podman.assume();
        importForkMountWrite(IMAGE);
    }

    @Test
    void theMavenBuildStageCompilesAWorkingImage() throws Exception {
        Cowfs.assumeFuse();
        Podman.assume();
        boolean skip = "0".equals(System.getenv("COWFS_TEST_MAVEN_STAGE"));
        if (skip) {
            System.out.println("skipped: COWFS_TEST_MAVEN_STAGE=0 (the Dockerfile's Maven build stage is not built)");
        }
        Assumptions.assumeFalse(skip, "skipped: COWFS_TEST_MAVEN_STAGE=0");
        // the default build: no JAR argument, BUILD_IMAGE defaults to BASE; the stage reaches
        // Debian's archive and Maven Central (podman's default network suffices)
        List<String> build = new ArrayList<>(List.of("build", "-t", MAVEN_STAGE_IMAGE, "--build-arg", "BASE=" + Podman.DEBIAN));
        Path ca = Podman.buildCaCertificates(tmp);
        if (ca != null) {
            build.addAll(List.of("--secret", "id=cacerts,src=" + ca));
        }
        build.add(Podman.sourceContext(tmp).toString());
        long t0 = System.nanoTime();
        Cowfs.Result r = Podman.podman(build.toArray(String[]::new));
        String tail = r.out().lines().skip(Math.max(0, r.out().lines().count() - 60)).collect(Collectors.joining("\n"));
        assertEquals(0, r.rc(), () -> "podman " + String.join(" ", build) + " failed:\n" + tail);
        System.out.printf("the Maven stage's image built in %d s%s%n", (System.nanoTime() - t0) / 1_000_000_000L,
                ca == null ? "" : " (build stage trusting " + ca + ")");
        try {
            importForkMountWrite(MAVEN_STAGE_IMAGE);
        } finally {
            // its own layers (jar, start-up archive) go; the package layers stay cached
            Podman.podman("rmi", MAVEN_STAGE_IMAGE);
        }
    }

    /** In a container of image: init, import, fork, mount, write; remount through mount -t fuse.cowfs; the host reads the store. */
    private void importForkMountWrite(String image) throws Exception {
        Cowfs.sh(tmp, "mkdir -p src/d && seq 1 5000 > src/numbers && echo hi > src/d/hello && mkdir store");
        assertTrue(Podman.ok("run", "--rm", image, "--version").contains("cowfs"), "the entrypoint is the cowfs CLI");
        String out = Podman.ok(run("-v", tmp.resolve("store") + ":/store", "-v", tmp.resolve("src") + ":/src:ro",
                "--entrypoint", "sh", image, "-c",
                "set -e; cowfs init; cowfs import /src --name base; cowfs fork base --name job; mkdir -p /mnt/job;"
                        + " cowfs mount job /mnt/job; cat /mnt/job/d/hello; echo written >> /mnt/job/numbers;"
                        + " cowfs umount /mnt/job;"
                        // the mount(8) helper the image installs, and umount(8)'s
                        + " mount -t fuse.cowfs job /mnt/job -o store=/store; tail -n 1 /mnt/job/numbers; umount /mnt/job;"
                        + " grep -c fuse.cowfs /proc/mounts || true"));
        assertTrue(out.contains("hi\n"), out);
        assertTrue(out.contains("written\n"), "the write is there after a remount through mount -t fuse.cowfs: " + out);
        assertTrue(out.strip().endsWith("0"), "nothing left mounted in the container: " + out);
        if (Cowfs.sh(tmp, "dpkg --print-architecture").strip().equals("amd64")) {
            // the image has libipsec-mb1: its mounts hash blocks several at a time and do not warn
            assertFalse(out.contains("intel-ipsec-mb not found"), out);
        }
        // the store is the host's volume: the host's cowfs reads what the container wrote
        String exported = tmp.resolve("exported").toString();
        Cowfs.runRaw("export", "--store=" + tmp.resolve("store"), "job", exported).ok();
        assertEquals("written", Files.readAllLines(Path.of(exported, "numbers")).get(5000));
    }

    @Test
    void aMountMadeInAContainerIsVisibleOnTheHostThroughASharedDirectory() throws Exception {
        Cowfs.assumeFuse();
        Podman.assume();
        Cowfs.sh(tmp, "mkdir -p src store mnt && echo shared > src/file");
        Path mnt = tmp.resolve("mnt").toRealPath();
        String ctr = "cowfs-test-image-" + UUID.randomUUID().toString().substring(0, 8);
        Cowfs.runRaw("shared-dir", mnt.toString()).ok();
        try {
            String store = tmp.resolve("store") + ":/store";
            Podman.ok(run("-v", store, "-v", tmp.resolve("src") + ":/src:ro", "--entrypoint", "sh", IMAGE, "-c",
                    "cowfs init && cowfs import /src --name base"));
            Files.createDirectories(mnt.resolve("base"));
            Podman.ok("run", "-d", "--name", ctr, "--device", "/dev/fuse", "--cap-add", "SYS_ADMIN", "-v", store,
                    "-v", mnt + ":/mnt/cowfs:rshared", IMAGE, "mount", "base", "/mnt/cowfs/base", "--foreground", "--allow-other");
            Path file = mnt.resolve("base/file");
            for (int i = 0; i < 600 && !Files.exists(file); i++) {
                Thread.sleep(100);
            }
            assertEquals("shared\n", Files.readString(file), "the container's mount reaches the host");
            // the container's command (the mount) ends with the unmount, and podman kills the exec'd
            // umount with it: its exit status says nothing, the container's does
            Podman.podman("exec", ctr, "cowfs", "umount", "/mnt/cowfs/base");
            assertEquals("0", Podman.ok("wait", ctr).strip(), "the foreground mount exited cleanly");
            assertFalse(Cowfs.isMounted(mnt.resolve("base")), "unmounted on the host too");
        } finally {
            Podman.removeContainer(ctr);
            if (Cowfs.isMounted(mnt.resolve("base"))) {
                Cowfs.sh(tmp, "umount -l " + mnt.resolve("base"));
            }
            Cowfs.runRaw("shared-dir", "--undo", mnt.toString()).ok();
        }
    }

    @Test
    void aUserWithoutAHomeSeesNoJvmWarnings() throws Exception {
        Cowfs.assumeFuse();
        Podman.assume();
        String out = Podman.podman("run", "--rm", "--user", "1000:1000", "--entrypoint", "sh", IMAGE, "-c",
                "cowfs init --store /tmp/s >/dev/null && cowfs list --store /tmp/s 2>&1 >/dev/null; cowfs fork x --name y --store /tmp/s 2>&1").out();
        assertEquals("cowfs: no snapshot or view named 'x' (see: cowfs list)", out.strip().lines().reduce((a, b) -> b).orElse(""),
                "only cowfs's own message, no JVM warning: " + out);
        assertFalse(out.contains("warning"), out);
    }
}
