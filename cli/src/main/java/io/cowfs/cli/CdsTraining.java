package io.cowfs.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The training run of the class-data-sharing archive (the launcher and the image run it once
 * with -XX:ArchiveClassesAtExit): the commands a CI runner calls most, on a throwaway store in
 * the directory given, in one JVM, so the archive holds the classes they load. jnr-ffi runs as
 * it does for those commands ({@link Main#FEW_LMDB_CALLS}).
 */
public final class CdsTraining {
    private CdsTraining() {
    }

    public static void main(String[] args) throws IOException {
        train(Path.of(args[0]));
    }

    /** Runs the commands on a store made in dir (the CLI agent warms up with it too). */
    static void train(Path dir) throws IOException {
        Path src = Files.createDirectories(dir.resolve("src/sub"));
        for (int i = 0; i < 8; i++) {
            Files.writeString(src.resolve("f" + i), "cowfs " + i);
        }
        String store = "--store=" + dir.resolve("store");
        System.setProperty("jnr.ffi.asm.enabled", "false");
        run("init", store);
        run("import", store, dir.resolve("src").toString(), "--name", "t");
        run("fork", store, "t", "--name", "v");
        run("list", store);
        run("list", store, "--names");
        run("list", store, "--json");
        run("show", store, "v");
        run("rm", store, "v");
        run("--help");
    }

    private static void run(String... args) {
        Main.commandLineFor(args).setOut(new PrintWriter(new StringWriter())).setErr(new PrintWriter(new StringWriter()))
                .execute(args);
    }
}
