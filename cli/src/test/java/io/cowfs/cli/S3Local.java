package io.cowfs.cli;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Test fixture: a local S3-compatible server (s3proxy through scripts/s3-local.sh) of this test
 * alone, with its data, keys and port in a directory of the test's temp dir. The bucket "cowfs"
 * exists. {@link #env()} is what a child process needs to reach it (credentials, region,
 * COWFS_S3_ENDPOINT); {@link #restart()} keeps the endpoint and the data. close() stops it.
 */
final class S3Local implements AutoCloseable {
    static final String BUCKET = "cowfs";

    private final Path dir;
    private final Map<String, String> env;

    private S3Local(Path dir, Map<String, String> env) {
        this.dir = dir;
        this.env = env;
    }

    /** Starts a server with its state in tmp/s3 (fresh). */
    static S3Local start(Path tmp) throws IOException, InterruptedException {
        Path dir = tmp.resolve("s3");
        return new S3Local(dir, exports(script("start", dir)));
    }

    /** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and COWFS_S3_ENDPOINT of this server. */
    Map<String, String> env() {
        return env;
    }

    URI endpoint() {
        return URI.create(env.get("COWFS_S3_ENDPOINT"));
    }

    /** The remote URL of a prefix in the bucket "cowfs" (s3://cowfs/prefix). */
    String url(String prefix) {
        return "s3://" + BUCKET + (prefix.isEmpty() ? "" : "/" + prefix);
    }

    /** Where the server keeps the objects (the filesystem backend: one directory per bucket). */
    Path data() {
        return dir.resolve("data");
    }

    void stop() throws IOException, InterruptedException {
        script("stop", dir);
    }

    /** Starts the server again after stop(): same endpoint, same credentials, same objects. */
    void restart() throws IOException, InterruptedException {
        Map<String, String> again = exports(script("start", dir));
        if (!again.equals(env)) {
            throw new AssertionError("restart changed the server's exports: " + env.get("COWFS_S3_ENDPOINT") + " -> "
                    + again.get("COWFS_S3_ENDPOINT"));
        }
    }

    boolean running() throws IOException, InterruptedException {
        return run("status", dir).rc() == 0;
    }

    @Override
    public void close() throws IOException, InterruptedException {
        stop();
    }

    /** Runs the script; fails with its stderr unless it exits 0; returns its stdout. */
    private static String script(String verb, Path dir) throws IOException, InterruptedException {
        Cowfs.Result r = run(verb, dir);
        if (r.rc() != 0) {
            throw new AssertionError("scripts/s3-local.sh " + verb + " " + dir + " exited " + r.rc() + ":\n" + r.err());
        }
        return r.out();
    }

    private static Cowfs.Result run(String verb, Path dir) throws IOException, InterruptedException {
        Path err = Files.createTempFile("s3-local", ".err");
        try {
            Process p = new ProcessBuilder("bash", Podman.repo().resolve("scripts/s3-local.sh").toString(), verb, dir.toString())
                    .redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            // the script's stdout is closed when it exits (the server it starts never holds it)
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("scripts/s3-local.sh " + verb + " timed out:\n" + Files.readString(err));
            }
            return new Cowfs.Result(p.exitValue(), out, Files.readString(err));
        } finally {
            Files.deleteIfExists(err);
        }
    }

    /** The "export NAME=VALUE" lines as a map (nothing else may be on stdout). */
    private static Map<String, String> exports(String out) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : out.strip().split("\n")) {
            if (!line.startsWith("export ") || line.indexOf('=') < 0) {
                throw new AssertionError("not an export line on s3-local.sh's stdout: '" + line + "'");
            }
            int eq = line.indexOf('=');
            m.put(line.substring("export ".length(), eq), line.substring(eq + 1));
        }
        for (String k : List.of("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "COWFS_S3_ENDPOINT")) {
            if (!m.containsKey(k)) {
                throw new AssertionError("s3-local.sh printed no " + k + ": " + out);
            }
        }
        return Map.copyOf(m);
    }
}
