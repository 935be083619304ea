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
}
