package io.cowfs.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/** What every subcommand shares: the store option, output streams, formatting. */
abstract class Base implements Callable<Integer> {
    /** Loaded on first use only: a mount process never needs Jackson's classes. */
    private static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    }

    @Mixin
    StoreOptions storeOptions;

    @Spec
    CommandLine.Model.CommandSpec spec;

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }

    /** A record's JSON fields in order (what printJson would print), as plain values. */
    static java.util.Map<String, Object> jsonFields(Object o) {
        return Json.MAPPER.convertValue(o, new com.fasterxml.jackson.core.type.TypeReference<java.util.LinkedHashMap<String, Object>>() { });
    }

    void printJson(Object o) throws Exception {
        out().println(Json.MAPPER.writeValueAsString(o));
        out().flush();
    }

    /**
     * Opens the store for a command that only reads: on a damaged index it says once, on stderr,
     * that it shows what the salvaged index still holds.
     */
    io.cowfs.blockstore.store.Store openToRead() {
        io.cowfs.blockstore.store.Store store = storeOptions.openToRead();
        if (store.index().damage() != null) {
            err().println("cowfs: warning: " + store.index().damage() + "; showing what could be read (run 'cowfs fsck --repair')");
            err().flush();
        }
        return store;
    }

    static String bytes(long b) {
        String[] u = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = b;
        int i = 0;
        while (v >= 1024 && i < u.length - 1) {
            v /= 1024;
            i++;
        }
        return i == 0 ? b + " B" : String.format(Locale.ROOT, "%.1f %s", v, u[i]);
    }

    static String ratio(double r) {
        return Double.isFinite(r) ? String.format(Locale.ROOT, "%.2fx", r) : "-";
    }

    static boolean interactive() {
        return System.console() != null && System.getenv("CI") == null;
    }
}
