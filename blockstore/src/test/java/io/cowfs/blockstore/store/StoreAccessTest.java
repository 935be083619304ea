package io.cowfs.blockstore.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.Config;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** StoreAccess: the modes a store's files get, recorded in the format file, checked and repaired. */
class StoreAccessTest {
    @TempDir
    Path tmp;

    private static int mode(Path p) throws Exception {
        return (Integer) Files.getAttribute(p, "unix:mode") & 07777;
    }

    private static void assertModes(Path store, int dir, int file) throws Exception {
        try (Stream<Path> all = Files.walk(store)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                assertEquals(Files.isDirectory(p) ? dir : file, mode(p), p::toString);
            }
        }
    }

    @Test
    void aNewStoreIsPrivateAndAWidenedOneIsFoundAndRepaired() throws Exception {
        Path dir = tmp.resolve("s");
        try (Store s = Store.init(dir, Store.DEFAULT_BLOCK_SIZE)) {
            s.put(new byte[] {1, 2, 3}, 0, 3);
            assertEquals(StoreAccess.PRIVATE, s.access());
        }
        assertModes(dir, 0700, 0600);
        Files.setAttribute(dir.resolve("packs"), "unix:mode", 0755);
        Files.setAttribute(dir.resolve("cowfs-store.properties"), "unix:mode", 0644);
        try (Store s = Store.open(dir)) {
            List<StoreAccess.Finding> found = s.access().check(dir, false);
            assertEquals(2, found.size(), found::toString);
            assertTrue(found.stream().allMatch(f -> f.why().contains("more open")), found::toString);
            s.access().check(dir, true);
            assertEquals(List.of(), s.access().check(dir, false));
        }
        assertModes(dir, 0700, 0600);
    }

    @Test
    void aSharedStoreRecordsItsGroupAndGivesItToEverything() throws Exception {
        String group = Files.readAttributes(tmp, java.nio.file.attribute.PosixFileAttributes.class).group().getName();
        Path dir = tmp.resolve("shared");
        try (Store s = Store.init(dir, Store.DEFAULT_BLOCK_SIZE, new StoreAccess(group), Config.fromSystemProperties())) {
            s.put(new byte[] {1, 2, 3}, 0, 3);
        }
        assertEquals(new StoreAccess(group), Store.accessOf(dir));
        assertModes(dir, 02770, 0660);
        Files.setAttribute(dir.resolve("packs"), "unix:mode", 0700);
        List<StoreAccess.Finding> found = Store.accessOf(dir).check(dir, true);
        assertEquals(1, found.size(), found::toString);
        assertTrue(found.get(0).why().contains("not usable by the store's group"), found::toString);
        assertModes(dir, 02770, 0660);
    }

    @Test
    void anUnknownGroupIsRefusedBeforeAnythingIsMade() {
        Path dir = tmp.resolve("nogroup");
        StoreException.InvalidRequestException e = assertThrows(StoreException.InvalidRequestException.class,
                () -> Store.init(dir, Store.DEFAULT_BLOCK_SIZE, new StoreAccess("cowfs-no-such-group"), Config.fromSystemProperties()));
        assertEquals("no group named 'cowfs-no-such-group' (see: getent group)", e.getMessage());
        assertFalse(Files.exists(dir));
    }
}
