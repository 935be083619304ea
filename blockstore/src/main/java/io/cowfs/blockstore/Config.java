package io.cowfs.blockstore;

import java.time.Duration;
import java.util.Map;
import java.util.function.Function;

/**
 * Every {@code cowfs.*} tuning property in one place (docs/CONFIG.md describes each: name,
 * default, what it bounds). {@link #fromSystemProperties()} is the only code in blockstore that
 * reads them; tests build a value with {@link #of} and hand it to {@code Store.open} or
 * {@code Store.init} instead of setting JVM-wide properties.
 *
 * <p>The fusefs and cli modules read their fields through {@link #fromSystemProperties()} too (once,
 * when a class loads); the names and defaults live only here.
 *
 * @param cacheBytes          {@code cowfs.cacheBytes}: decompressed-block cache of a store, bytes
 * @param lmdbInitialMapSize  {@code cowfs.lmdb.initialMapSize}: first LMDB map size, bytes (it doubles when full)
 * @param packRollover        {@code cowfs.pack.rollover}: a process starts a new pack past this many bytes
 * @param gcMaxSmallPacks     {@code cowfs.gc.maxSmallPacks}: small packs gc lets gather before it merges them
 * @param gcPendingGrace      {@code cowfs.gc.pendingGraceSeconds}: how long gc leaves a pack with unknown
 *                            records alone after a writable mount last wrote it
 * @param mountRolloverMin    {@code cowfs.mount.rolloverMin}: a mount asked by gc finishes its pack from this size
 * @param idleTrim            {@code cowfs.idleTrimSeconds}: idle time after which a mount drops its block cache and runs a full GC
 * @param dirtyLimit          {@code cowfs.dirtyLimit}: unpersisted file data above which a view's write persists first
 * @param parallelFlush       {@code cowfs.parallelFlush}: hash and compress dirty blocks on a shared pool
 * @param readAheadBlocks     {@code cowfs.readAheadBlocks}: blocks a view reads ahead of a sequential reader
 * @param readAheadKb         {@code cowfs.readAheadKb}: the mount's kernel read-ahead (max_readahead), KiB
 * @param fuseDebug           {@code cowfs.fuseDebug}: libfuse's debug output of every request
 * @param debug               {@code cowfs.debug}: the CLI prints stack traces of errors
 * @param fuseTimeoutSeconds  {@code cowfs.fuse.timeout}: how long the kernel adapter lets the kernel cache
 *                            entries, attributes and negative lookups, seconds (0: no caching)
 * @param fuseWorkers         {@code cowfs.fuse.workers}: request-serving threads of the kernel adapter
 * @param fuseWriteback       {@code cowfs.fuse.writeback}: the kernel's writeback cache on writable views
 * @param blockCacheBytes     {@code cowfs.blockCacheBytes}: the direct-memory cache of decoded file blocks
 *                            that reads copy from (allocated as used, dropped when a mount idles), bytes
 * @param indexPrefetchBytes  {@code cowfs.indexPrefetchBytes}: a mount reads the index into the page cache
 *                            at start if it is no bigger than this (0: never), bytes
 * @param remotePackBytes     {@code cowfs.remote.packBytes}: size push makes a remote's pack objects, bytes
 * @param remoteFetchWindow   {@code cowfs.remote.fetchWindow}: how far past a missed record a lazy read
 *                            reaches into its pack object (0: the record only), bytes
 * @param streamReadAheadKb   {@code cowfs.streamReadAheadKb}: from this read-ahead of the packs' block device
 *                            (KiB), a reader streaming through a pack is left to the kernel's own read-ahead
 *                            instead of being advised ahead (0: always; unknown devices are advised)
 * @param pushAheadNodes      {@code cowfs.fuse.pushAhead}: how many node ids past a reader of small files on a
 *                            read-only mount the kernel adapter stores in the page cache ahead of it (0: never)
 * @param fuseDirAhead        {@code cowfs.fuse.dirAhead}: the kernel adapter reads the directory a walk lists
 *                            next while the kernel takes in the one before (false: never)
 * @param warmInodes          {@code cowfs.warmInodes}: a mount reads up to this many of its snapshot's first
 *                            inodes and their directories into its caches once it is up (0: never)
 */
public record Config(long cacheBytes, long lmdbInitialMapSize, long packRollover, int gcMaxSmallPacks,
                     Duration gcPendingGrace, long mountRolloverMin, Duration idleTrim, long dirtyLimit,
                     boolean parallelFlush, int readAheadBlocks, int readAheadKb, boolean fuseDebug, boolean debug,
                     long fuseTimeoutSeconds, int fuseWorkers, boolean fuseWriteback,
                     long blockCacheBytes, long indexPrefetchBytes, long remotePackBytes, long remoteFetchWindow,
                     long streamReadAheadKb, int pushAheadNodes, boolean fuseDirAhead, long warmInodes) {

    /** The defaults, whatever the system properties say. */
    public static Config defaults() {
        return read(name -> null);
    }

    /** The defaults overridden by the {@code cowfs.*} system properties set now. */
    public static Config fromSystemProperties() {
        return read(System::getProperty);
    }

    /**
     * The defaults overridden by properties (the same names and syntax as the system
     * properties): how a test injects a setting without touching the JVM's properties.
     */
    public static Config of(Map<String, String> properties) {
        return read(properties::get);
    }

    private static Config read(Function<String, String> p) {
        return new Config(
                num(p, "cowfs.cacheBytes", 64L << 20),
                num(p, "cowfs.lmdb.initialMapSize", 256L << 20),
                num(p, "cowfs.pack.rollover", 64L << 20),
                (int) num(p, "cowfs.gc.maxSmallPacks", 64),
                Duration.ofSeconds(num(p, "cowfs.gc.pendingGraceSeconds", 120)),
                num(p, "cowfs.mount.rolloverMin", 4L << 20),
                Duration.ofSeconds(num(p, "cowfs.idleTrimSeconds", 30)),
                num(p, "cowfs.dirtyLimit", 32L << 20),
                Boolean.parseBoolean(p.apply("cowfs.parallelFlush")),
                (int) num(p, "cowfs.readAheadBlocks", 8),
                (int) num(p, "cowfs.readAheadKb", 1024),
                Boolean.parseBoolean(p.apply("cowfs.fuseDebug")),
                Boolean.parseBoolean(p.apply("cowfs.debug")),
                num(p, "cowfs.fuse.timeout", 1_000_000L),
                (int) num(p, "cowfs.fuse.workers", 2),
                !"false".equals(p.apply("cowfs.fuse.writeback")),
                num(p, "cowfs.blockCacheBytes", 32L << 20),
                num(p, "cowfs.indexPrefetchBytes", 512L << 20),
                num(p, "cowfs.remote.packBytes", 8L << 20),
                num(p, "cowfs.remote.fetchWindow", 1L << 20),
                num(p, "cowfs.streamReadAheadKb", 1024),
                (int) num(p, "cowfs.fuse.pushAhead", 64),
                !"false".equals(p.apply("cowfs.fuse.dirAhead")),
                num(p, "cowfs.warmInodes", 65_536));
    }

    /** As Long.getLong: a missing or unparsable value gives the default. */
    private static long num(Function<String, String> p, String name, long dflt) {
        String v = p.apply(name);
        if (v == null) {
            return dflt;
        }
        try {
            return Long.decode(v.strip());
        } catch (NumberFormatException e) {
            return dflt;
        }
    }

    public Config withCacheBytes(long v) {
        return new Config(v, lmdbInitialMapSize, packRollover, gcMaxSmallPacks, gcPendingGrace, mountRolloverMin, idleTrim,
                dirtyLimit, parallelFlush, readAheadBlocks, readAheadKb, fuseDebug, debug, fuseTimeoutSeconds, fuseWorkers,
                fuseWriteback, blockCacheBytes, indexPrefetchBytes, remotePackBytes, remoteFetchWindow, streamReadAheadKb, pushAheadNodes,
                fuseDirAhead, warmInodes);
    }
}
