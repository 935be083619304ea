package io.cowfs.blockstore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The defaults are those docs/CONFIG.md lists; a map overrides by property name, as -D would. */
class ConfigTest {
    @Test
    void defaultsAreTheDocumentedOnes() {
        Config c = Config.defaults();
        assertEquals(64L << 20, c.cacheBytes());
        assertEquals(256L << 20, c.lmdbInitialMapSize());
        assertEquals(64L << 20, c.packRollover());
        assertEquals(64, c.gcMaxSmallPacks());
        assertEquals(Duration.ofSeconds(120), c.gcPendingGrace());
        assertEquals(4L << 20, c.mountRolloverMin());
        assertEquals(Duration.ofSeconds(30), c.idleTrim());
        assertEquals(32L << 20, c.dirtyLimit());
        assertFalse(c.parallelFlush());
        assertEquals(8, c.readAheadBlocks());
        assertEquals(1024, c.readAheadKb());
        assertEquals(1024, c.streamReadAheadKb());
        assertFalse(c.fuseDebug());
        assertFalse(c.debug());
    }

    @Test
    void propertiesOverrideByNameAndBadValuesGiveTheDefault() {
        Config c = Config.of(Map.of("cowfs.gc.maxSmallPacks", "8", "cowfs.pack.rollover", "0x100000",
                "cowfs.cacheBytes", "lots", "cowfs.parallelFlush", "true", "cowfs.streamReadAheadKb", "-"));
        assertEquals(8, c.gcMaxSmallPacks());
        assertEquals(1 << 20, c.packRollover(), "hex, as Long.getLong reads it");
        assertEquals(64L << 20, c.cacheBytes(), "unparsable: the default");
        assertTrue(c.parallelFlush());
        assertEquals(1024, c.streamReadAheadKb(), "unparsable: the default");
        assertEquals(0, Config.of(Map.of("cowfs.streamReadAheadKb", "0")).streamReadAheadKb());
    }
}
