package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.zip.ZipEntry;
import org.junit.jupiter.api.Assumptions;

/**
 * Test fixture for the container tests: a real podman (rootful, from Debian's packages), the
 * test images made locally (no registry is reached: scripts/container-images.sh imports a
 * busybox-static tree and a debootstrapped Debian 12), and the cowfs jar assembled from the test's
 * own class path (the test phase runs before Maven's package phase, so cli/target/cowfs.jar may
 * not exist yet or be stale).
 */
final class Podman {
    static final String BUSYBOX = "localhost/cowfs-test-busybox:latest";
    static final String DEBIAN = "localhost/cowfs-test-debian:bookworm";

    private Podman() {
    }

    /** Why containers cannot run here, or null (probed once: podman, runc, a container that starts). */
    static final String WHY_NOT = probe();

    private static String probe() {
        try {
            if (Cowfs.shRc(Path.of("/"), "command -v podman").rc() != 0) {
                return "podman is not installed (scripts/deps.sh installs it: apt-get install -y podman runc)";
            }
            Cowfs.Result images = Cowfs.shRc(repo(), "bash scripts/container-images.sh busybox 2>&1");
            if (images.rc() != 0) {
                return "cannot make the busybox test image: " + images.out().strip();
            }
            Cowfs.Result r = Cowfs.shRc(Path.of("/"), "podman run --rm " + BUSYBOX + " true 2>&1");
            if (r.rc() != 0) {
                return "podman cannot start a container here: " + r.out().strip();
            }
            return null;
        } catch (IOException | InterruptedException e) {
            return "podman probe failed: " + e;
        }
    }

    /** Skips the calling test, saying why, where no container can start. */
    static void assume() {
        if (WHY_NOT != null) {
            System.out.println("skipped: " + WHY_NOT);
        }
        Assumptions.assumeTrue(WHY_NOT == null, () -> "skipped: " + WHY_NOT);
    }

    /** The repository root (the test runs in cli/). */
    static Path repo() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.exists(p.resolve("Dockerfile"))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException("no Dockerfile above " + Path.of("").toAbsolutePath());
        }
        return p;
    }

    /** Runs podman with these arguments; returns exit code and output (stdout and stderr together). */
    static Cowfs.Result podman(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add("podman");
        cmd.addAll(Arrays.asList(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(900, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("podman timed out: " + cmd);
        }
        return new Cowfs.Result(p.exitValue(), out, out);
    }

    /** podman with these arguments must succeed; returns its output. */
    static String ok(String... args) throws IOException, InterruptedException {
        Cowfs.Result r = podman(args);
        assertEquals(0, r.rc(), () -> "podman " + String.join(" ", args) + " failed:\n" + r.out());
        return r.out();
    }

    /** Removes a container whatever its state (for finally blocks). */
    static void removeContainer(String name) {
        try {
            podman("rm", "-f", "-t", "0", name);
        } catch (IOException | InterruptedException e) {
            // nothing to remove
        }
    }

    /**
     * The cowfs jar made from the test's class path (main classes and runtime dependencies; not
     * the test classes or test libraries), as Maven's shade step makes it: service files merged,
     * signatures dropped.
     */
    static synchronized Path jar(Path dir) throws IOException {
        Path out = dir.resolve("cowfs.jar");
        Set<String> seen = new HashSet<>();
        Map<String, StringBuilder> services = new LinkedHashMap<>();
        try (JarOutputStream jo = new JarOutputStream(Files.newOutputStream(out))) {
            for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
                if (e.isBlank() || e.contains("test-classes") || e.matches(".*(junit|opentest4j|apiguardian|surefire|hamcrest).*")) {
                    continue;
                }
                Path p = Path.of(e);
                if (Files.isDirectory(p)) {
                    try (var walk = Files.walk(p)) {
                        for (Path f : walk.filter(Files::isRegularFile).toList()) {
                            String name = p.relativize(f).toString().replace('\\', '/');
                            try (InputStream in = Files.newInputStream(f)) {
                                add(jo, seen, services, name, in);
                            }
                        }
                    }
                } else if (Files.isRegularFile(p) && e.endsWith(".jar")) {
                    try (JarFile jf = new JarFile(p.toFile())) {
                        for (JarEntry je : java.util.Collections.list(jf.entries())) {
                            if (!je.isDirectory()) {
                                try (InputStream in = jf.getInputStream(je)) {
                                    add(jo, seen, services, je.getName(), in);
                                }
                            }
                        }
                    }
                }
            }
            for (Map.Entry<String, StringBuilder> s : services.entrySet()) {
                jo.putNextEntry(new ZipEntry(s.getKey()));
                jo.write(s.getValue().toString().getBytes(StandardCharsets.UTF_8));
                jo.closeEntry();
            }
        }
        return out;
    }

    private static void add(JarOutputStream jo, Set<String> seen, Map<String, StringBuilder> services, String name,
                            InputStream in) throws IOException {
        String upper = name.toUpperCase(java.util.Locale.ROOT);
        if (upper.equals("META-INF/MANIFEST.MF") || upper.endsWith(".SF") || upper.endsWith(".DSA") || upper.endsWith(".RSA")
                || name.equals("module-info.class") || name.endsWith("/module-info.class")) {
            return;
        }
        if (name.startsWith("META-INF/services/")) {
            services.computeIfAbsent(name, k -> new StringBuilder()).append(new String(in.readAllBytes(), StandardCharsets.UTF_8)).append('\n');
            return;
        }
        if (!seen.add(name)) {
            return;
        }
        jo.putNextEntry(new ZipEntry(name));
        in.transferTo(jo);
        jo.closeEntry();
    }

    /** Copies what the Dockerfile's prebuilt stage needs into a fresh build context. */
    static Path buildContext(Path dir) throws IOException {
        Path repo = repo();
        Path ctx = Files.createDirectories(dir.resolve("context"));
        Files.copy(repo.resolve("Dockerfile"), ctx.resolve("Dockerfile"));
        Files.copy(repo.resolve(".dockerignore"), ctx.resolve(".dockerignore"));
        Files.copy(repo.resolve("cowfs"), ctx.resolve("cowfs"));
        Files.createDirectories(ctx.resolve("cli/target"));
        Path jar = jar(dir);
        Files.move(jar, ctx.resolve("cli/target/cowfs.jar"));
        return ctx;
    }

    /**
     * A build context for the Dockerfile's Maven build stage: the Dockerfile, the launcher and this
     * checkout's sources (pom.xml and the modules the Dockerfile copies), without any target directory.
     */
    static Path sourceContext(Path dir) throws IOException {
        Path repo = repo();
        Path ctx = Files.createDirectories(dir.resolve("source-context"));
        for (String f : List.of("Dockerfile", ".dockerignore", "cowfs", "pom.xml")) {
            Files.copy(repo.resolve(f), ctx.resolve(f), java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
        }
        for (String module : List.of("blockstore", "fusefs", "cli")) {
            Path from = repo.resolve(module);
            try (var walk = Files.walk(from)) {
                for (Path f : walk.filter(q -> !from.relativize(q).startsWith("target")).toList()) {
                    Path to = ctx.resolve(module).resolve(from.relativize(f).toString());
                    if (Files.isDirectory(f)) {
                        Files.createDirectories(to);
                    } else if (Files.isRegularFile(f)) {
                        Files.copy(f, to, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
                    }
                }
            }
        }
        return ctx;
    }

    /**
     * CA certificates (PEM) for the Dockerfile's build stage ({@code --secret id=cacerts}), or null:
     * the file $COWFS_BUILD_CACERTS names, else the CAs this host added itself
     * (/usr/local/share/ca-certificates, Debian's update-ca-certificates), which a TLS-intercepting
     * proxy between this machine and Maven Central needs trusted; the stage has only Debian's.
     */
    static Path buildCaCertificates(Path dir) throws IOException {
        String env = System.getenv("COWFS_BUILD_CACERTS");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        Path local = Path.of("/usr/local/share/ca-certificates");
        if (!Files.isDirectory(local)) {
            return null;
        }
        List<Path> crts;
        try (var walk = Files.walk(local)) {
            crts = walk.filter(f -> f.toString().endsWith(".crt") && Files.isRegularFile(f)).sorted().toList();
        }
        if (crts.isEmpty()) {
            return null;
        }
        Path out = dir.resolve("build-cacerts.pem");
        StringBuilder pem = new StringBuilder();
        for (Path c : crts) {
            pem.append(Files.readString(c)).append('\n');
        }
        Files.writeString(out, pem);
        return out;
    }

    /** Copies stream to a file (helper for small scripts written by tests). */
    static void write(Path p, String text) throws IOException {
        try (OutputStream o = Files.newOutputStream(p)) {
            o.write(text.getBytes(StandardCharsets.UTF_8));
        }
    }
}
