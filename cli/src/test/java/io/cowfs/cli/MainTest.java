package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Main's table of subcommands, named as strings so that a command's start loads only its own class. */
class MainTest {
    @Test
    void everyNameIsItsClassesCommandName() {
        for (var e : Main.SUBCOMMANDS.entrySet()) {
            CommandLine.Command c = Main.subcommand(e.getValue()).getAnnotation(CommandLine.Command.class);
            assertEquals(e.getKey(), c.name(), e.getValue());
        }
        assertEquals(25, Main.SUBCOMMANDS.size(), "every subcommand, help included");
    }

    @Test
    void aNamedSubcommandBuildsOnlyItselfAnythingElseBuildsAll() {
        assertEquals(java.util.Set.of("fork"), Main.commandLineFor(new String[] {"fork", "a"}).getSubcommands().keySet());
        assertEquals(Main.SUBCOMMANDS.keySet(), Main.commandLineFor(new String[] {"--help"}).getSubcommands().keySet());
        assertEquals(Main.SUBCOMMANDS.keySet(), Main.commandLineFor(new String[] {"forkk"}).getSubcommands().keySet());
        assertNotEquals(0, Main.commandLineFor(new String[] {"forkk"}).execute("forkk"), "an unknown subcommand is a usage error");
    }

    @Test
    void onlyTheMountProcessBindsNativesWithGeneratedStubs() {
        for (String[] args : new String[][] {{"fork", "a"}, {"list"}, {"import", "/src"}, {"mount", "v", "/mnt"}, {"snapshot", "v"}, {}}) {
            assertTrue(Main.bindsByReflection(args), String.join(" ", args));
        }
        assertFalse(Main.bindsByReflection(new String[] {"mount", "--foreground", "--store=/s", "v", "/mnt"}));
        assertFalse(Main.bindsByReflection(new String[] {"mount", "v", "/mnt", "--foreground"}));
        assertTrue(Main.bindsByReflection(new String[] {"list", "--foreground"}), "only a mount serves in the foreground");
    }

    /**
     * The launcher's cowfs mount serves the mount itself unless a spare takes it: it binds as a
     * mount process when no spare listens, as a command when one does (it will be its client).
     */
    @Test
    void theLaunchersMountBindsAsAMountProcessUnlessASpareListens() {
        String[] mount = {"mount", "v", "/mnt"};
        assertFalse(Main.bindsByReflection(mount, true, () -> false), "it will serve the mount");
        assertTrue(Main.bindsByReflection(mount, true, () -> true), "a spare's client");
        assertTrue(Main.bindsByReflection(mount, false, () -> false), "a plain cowfs mount starts a mount process");
        assertTrue(Main.bindsByReflection(new String[] {"list"}, true, () -> false));
        assertFalse(Main.bindsByReflection(new String[] {"mount", "--foreground", "v", "/mnt"}, true, () -> true), "serves in the foreground");
    }
}
