package io.cowfs.blockstore.store;

import java.io.IOException;
import java.io.InputStream;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Properties;

/**
 * The format file of a store, cowfs-store.properties (docs/FORMAT.md, "Store directory"): what
 * init writes (last, atomically) and open checks before anything else.
 *
 * @param format    the store's format version ({@link Store#FORMAT} for new stores)
 * @param blockSize the size files are split at
 * @param access    who may use the store ({@link StoreAccess}; private unless the file names a group)
 */
record StoreFormat(int format, int blockSize, StoreAccess access) {
    /**
     * Checks that dir can become a store (missing or empty), makes its directories and writes
     * the format file under a temporary name; {@link #publish} gives it its name once the
     * index is made.
     */
    static Path prepare(Path dir, int blockSize, StoreAccess access) throws IOException {
        if (blockSize < 4096 || blockSize > (4 << 20) || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("block size must be a power of two between 4 KiB and 4 MiB, got " + blockSize);
        }
        if (Files.exists(dir.resolve(Store.FORMAT_FILE))) {
            throw new StoreException.StoreFormatException(dir + " is already a cowfs store");
        }
        if (Files.exists(dir)) {
            if (!Files.isDirectory(dir)) {
                throw new StoreException.StoreFormatException(dir + " exists and is not a directory");
            }
            try (var s = Files.list(dir)) {
                if (s.findAny().isPresent()) {
                    throw new StoreException.StoreFormatException(dir + " is not empty; choose an empty or new directory for a store");
                }
            }
        }
        access.initDirectory(dir);
        access.createDirectories(dir.resolve("packs"));
        access.createDirectories(dir.resolve("run"));
        Properties p = new Properties();
        p.setProperty("format", Integer.toString(Store.FORMAT));
        p.setProperty("blockSize", Integer.toString(blockSize));
        p.setProperty("created", Instant.now().toString());
        if (access.shared()) {
            p.setProperty(StoreAccess.PROPERTY, access.group());
        }
        Path tmp = dir.resolve(Store.FORMAT_FILE + ".tmp");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        p.store(out, "cowfs store: do not edit (docs/FORMAT.md)");
        access.writeForced(tmp, out.toByteArray());
        return tmp;
    }

    /** Gives the prepared format file its name: from now on dir is a store. */
    static void publish(Path dir, Path prepared) throws IOException {
        StoreAccess.publishDurably(prepared, dir.resolve(Store.FORMAT_FILE), false);
    }

    /**
     * Rewrites the format file of the store at dir with format f, every other key kept
     * (atomically: a new file renamed over the old one).
     */
    static void upgrade(Path dir, int f, StoreAccess access) throws IOException {
        Path file = dir.resolve(Store.FORMAT_FILE);
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            p.load(in);
        }
        p.setProperty("format", Integer.toString(f));
        p.setProperty("upgraded", Instant.now().toString());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        p.store(out, "cowfs store: do not edit (docs/FORMAT.md)");
        Path tmp = dir.resolve(Store.FORMAT_FILE + ".tmp");
        access.writeForced(tmp, out.toByteArray());
        StoreAccess.publishDurably(tmp, file, true);
    }

    /** Reads and checks the format file of the store at dir; makes run/ and packs/ if missing. */
    static StoreFormat read(Path dir) {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new StoreException.NotFoundException("no store at " + dir + ": it is not a directory (a store is a directory: cowfs init --store DIR)");
        }
        if (!Files.isDirectory(dir)) {
            if (StoreAccess.closedAncestor(dir) != null) { // not missing: out of sight
                throw new StoreException(StoreAccess.refusal(dir));
            }
            throw new StoreException.NotFoundException("no store at " + dir + " (create one with: cowfs init --store " + dir + ")");
        }
        Path f = dir.resolve(Store.FORMAT_FILE);
        if (!Files.isExecutable(dir) || !Files.isReadable(dir) || (Files.exists(f) && !Files.isReadable(f))) {
            throw new StoreException(StoreAccess.refusal(dir));
        }
        if (!Files.exists(f)) {
            throw new StoreException.NotFoundException(dir + " is not a cowfs store (no " + Store.FORMAT_FILE
                    + "; create one with: cowfs init --store DIR)");
        }
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(f)) {
            p.load(in);
        } catch (IOException e) {
            throw new StoreException.StoreFormatException("cannot read " + f + ": " + e.getMessage());
        }
        int format;
        int bs;
        try {
            format = Integer.parseInt(p.getProperty("format", "?"));
            bs = Integer.parseInt(p.getProperty("blockSize", "?"));
        } catch (NumberFormatException e) {
            throw new StoreException.StoreFormatException(f + " is damaged (format/blockSize unreadable)");
        }
        if (format > Store.FORMAT) {
            throw new StoreException.StoreFormatException("store " + dir + " has format " + format
                    + ", newer than this cowfs reads (" + Store.FORMAT + "); upgrade cowfs");
        }
        if (format < 1) {
            throw new StoreException.StoreFormatException(f + " names an unknown format " + format);
        }
        String group = p.getProperty(StoreAccess.PROPERTY);
        StoreAccess access = group == null || group.isBlank() ? StoreAccess.PRIVATE : new StoreAccess(group.strip());
        try {
            access.createDirectories(dir.resolve("run"));
            access.createDirectories(dir.resolve("packs"));
        } catch (IOException e) {
            throw StoreException.io("cannot prepare " + dir, e);
        }
        return new StoreFormat(format, bs, access);
    }
}
