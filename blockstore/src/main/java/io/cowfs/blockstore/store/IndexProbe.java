package io.cowfs.blockstore.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.lmdbjava.Dbi;

/**
 * Reads every page of a store's index in a child process. LMDB keeps no page checksums, and a
 * damaged branch or leaf page can make liblmdb itself crash the process reading it; fsck and
 * verify run this first so that such damage is named instead of taking them down.
 */
public final class IndexProbe {
    private IndexProbe() {
    }

    /** Null if the whole index reads back; otherwise one line saying what is wrong. */
    public static String check(Path storeDir) {
        Path index = storeDir.resolve("index");
        Path data = index.resolve("data.mdb");
        if (!Files.exists(data)) {
            return null; // a fresh or damaged store: Store.open says what it is
        }
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        try {
            Path out = Files.createTempFile("cowfs-probe", ".txt");
            Path crash = out.resolveSibling(out.getFileName() + ".crash");
            try {
                Process p = new ProcessBuilder(java.toString(), "-XX:+UseSerialGC", "-Xshare:auto",
                        "-XX:ErrorFile=" + crash, "-XX:-CreateCoredumpOnCrash",
                        "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                        IndexProbe.class.getName(), index.toString())
                        .redirectErrorStream(true).redirectOutput(out.toFile()).start();
                if (!p.waitFor(30, TimeUnit.MINUTES)) {
                    p.destroyForcibly();
                    return "reading the index " + data + " did not finish in 30 minutes";
                }
                List<String> lines = Files.readAllLines(out);
                String last = lines.isEmpty() ? "" : lines.get(lines.size() - 1);
                if (p.exitValue() == 0 && last.startsWith("ok")) {
                    return null;
                }
                String where = lines.stream().filter(l -> l.startsWith("db ")).reduce((a, b) -> b).map(l -> l.substring(3)).orElse("?");
                if (p.exitValue() >= 128 || lines.stream().anyMatch(l -> l.contains("SIGSEGV") || l.contains("SIGBUS"))) {
                    return "the index " + data + " is damaged: reading its '" + where
                            + "' database crashed the LMDB library (LMDB pages carry no checksums); restore the store from a copy";
                }
                String why = lines.stream().filter(l -> l.startsWith("error ")).findFirst().map(l -> l.substring(6)).orElse(last);
                return "the index " + data + " is damaged (" + why + ")";
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(crash);
            }
        } catch (IOException e) {
            return null; // cannot run the probe: the in-process checks still run
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** The child: walks every database of the index at args[0] and prints "ok". */
    public static void main(String[] args) {
        try (StoreIndex idx = new StoreIndex(Path.of(args[0]))) {
            long n = idx.read(txn -> {
                long count = 0;
                List<Dbi<byte[]>> dbs = List.of(idx.meta, idx.catalog, idx.leases, idx.chunks, idx.vinode, idx.vdirent, idx.vblock);
                for (Dbi<byte[]> db : dbs) {
                    System.out.println("db " + new String(db.getName(), java.nio.charset.StandardCharsets.UTF_8));
                    System.out.flush();
                    for (var kv : db.iterate(txn)) {
                        count += kv.key().length + kv.val().length > 0 ? 1 : 0;
                    }
                }
                return count;
            });
            System.out.println("ok " + n);
        } catch (Throwable t) {
            System.out.println("error " + t.getMessage());
            System.exit(1);
        }
    }
}
