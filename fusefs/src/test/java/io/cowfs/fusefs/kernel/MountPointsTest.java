package io.cowfs.fusefs.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** mountinfo lines as the kernel wrote them (taken from a real host), parsed and compared. */
class MountPointsTest {
    private static final String ROOT = "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw";

    private static List<MountPoints.Mount> table(String... lines) {
        return java.util.Arrays.stream(lines).map(MountPoints.Mount::parse).toList();
    }

    private static List<String> elsewhere(List<MountPoints.Mount> t, String mp) {
        return MountPoints.elsewhere(t, MountPoints.at(t, Path.of(mp))).stream().map(MountPoints.Mount::mountPoint).toList();
    }

    @Test
    void parsesFieldsEscapesAndOptionalTags() {
        MountPoints.Mount m = MountPoints.Mount.parse(
                "48 44 0:39 / /t/a\\040b rw,nosuid shared:3 master:1 - fuse.cowfs cowfs:my\\040view rw,user_id=0");
        assertEquals(new MountPoints.Mount(48, 44, "0:39", "/", "/t/a b", List.of("shared:3", "master:1"), "fuse.cowfs", "cowfs:my view",
                "rw,user_id=0"), m);
        assertEquals(0, m.fuseOwner());
        assertEquals(1001, MountPoints.Mount.parse("49 44 0:40 / /t/u rw - fuse.cowfs cowfs:u rw,user_id=1001,group_id=1001").fuseOwner());
        assertEquals(-1, MountPoints.Mount.parse("50 44 0:41 / /t/m rw - tmpfs tmpfs rw,size=10k").fuseOwner());
        assertEquals(List.of(), MountPoints.Mount.parse(ROOT).tags());
        assertNull(MountPoints.Mount.parse("garbage"));
        assertEquals("a\\b\tc", MountPoints.unescape("a\\134b\\011c"));
    }

    @Test
    void aBindOfTheSameDeviceIsElsewhereAndTheTopMountOfAPathCounts() {
        List<MountPoints.Mount> t = table(ROOT,
                "44 26 0:39 / /t/mp rw - fuse.cowfs cowfs:v rw",
                "46 26 0:39 / /t/bind rw - fuse.cowfs cowfs:v rw",
                "47 26 0:41 / /t/other rw - fuse.cowfs cowfs:w rw");
        assertEquals(List.of("/t/bind"), elsewhere(t, "/t/mp"));
        assertEquals(List.of("/t/mp"), elsewhere(t, "/t/bind"));
        assertEquals(List.of(), elsewhere(t, "/t/other"));
        assertEquals(47, MountPoints.at(table(ROOT, "44 26 0:39 / /t/x rw - tmpfs tmpfs rw", "47 44 0:41 / /t/x rw - fuse.cowfs cowfs:w rw"),
                Path.of("/t/x")).id(), "the later of two mounts on one path is the visible one");
    }

    @Test
    void copiesMadeByPropagationGoWithTheMountAndAreNotElsewhere() {
        // mount --bind S S; mount --make-shared S; mount --bind S S2; cowfs mount v S/x
        String s = "44 26 254:0 /t/S /t/S rw shared:2 - ext4 /dev/vda rw";
        String s2 = "46 26 254:0 /t/S /t/S2 rw shared:2 - ext4 /dev/vda rw";
        String x = "48 44 0:39 / /t/S/x rw shared:3 - fuse.cowfs cowfs:v rw";
        String x2 = "49 46 0:39 / /t/S2/x rw shared:3 - fuse.cowfs cowfs:v rw";
        assertEquals(List.of(), elsewhere(table(ROOT, s, s2, x, x2), "/t/S/x"));
        // a slave of S (mount --make-slave on a bind of it) receives the unmount as well
        String slave = "46 26 254:0 /t/S /t/S2 rw master:2 - ext4 /dev/vda rw";
        assertEquals(List.of(), elsewhere(table(ROOT, s, slave, x, x2), "/t/S/x"));
        // but a bind of the view itself, into the shared tree's own peer at another place, stays
        String bind = "50 46 0:39 / /t/S2/y rw shared:3 - fuse.cowfs cowfs:v rw";
        assertEquals(List.of("/t/S2/y"), elsewhere(table(ROOT, s, s2, x, x2, bind), "/t/S/x"));
    }
}
