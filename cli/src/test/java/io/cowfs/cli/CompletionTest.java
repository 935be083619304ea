package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generated completion scripts, run by a real bash (and zsh, where installed) the way
 * programmable completion calls them: COMP_WORDS and COMP_CWORD set, the function called,
 * COMPREPLY read. Names come from the store through {@code cowfs list --names}.
 */
class CompletionTest {
    @TempDir
    Path tmp;

    /** Words offered for the command line words (the last one is being completed). */
    private List<String> complete(Path script, String... words) throws Exception {
        String java = String.join(" ", Fx.javaCommand(List.of()));
        StringBuilder arr = new StringBuilder();
        for (String w : words) {
            arr.append('\'').append(w).append("' ");
        }
        String sh = "export COWFS_COMPLETION_CMD='" + java + "'; source " + script + "; COMP_WORDS=(" + arr + ");"
                + " COMP_CWORD=" + (words.length - 1) + "; COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE};"
                + " _cowfs_complete cowfs 2>/dev/null; printf '%s\\n' \"${COMPREPLY[@]}\"";
        return Cowfs.sh(tmp, "bash -c " + quote(sh)).lines().filter(l -> !l.isBlank()).sorted().toList();
    }

    private static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    @Test
    void bashCompletionOffersSubcommandsOptionsAndStoreNames() throws Exception {
        try (Cowfs c = new Cowfs(tmp)) {
            Files.createDirectories(tmp.resolve("src"));
            Files.writeString(tmp.resolve("src/f"), "x");
            c.run("import", tmp.resolve("src").toString(), "--name", "base").ok();
            c.run("fork", "base", "--name", "job-1").ok();
            c.run("fork", "base", "--name", "job-2").ok();
            Path script = tmp.resolve("cowfs.bash");
            Files.writeString(script, Cowfs.runRaw("completion", "bash").ok().out());
            String store = "--store=" + c.store;

            assertTrue(complete(script, "cowfs", "mo").contains("mount"), "subcommands");
            assertTrue(complete(script, "cowfs", "mount", "--al").contains("--allow-other"), "options of the subcommand");
            assertEquals(List.of("base", "job-1", "job-2"), complete(script, "cowfs", "mount", store, ""), "cowfs mount <TAB>");
            assertEquals(List.of("job-1", "job-2"), complete(script, "cowfs", "fork", "--store", c.store.toString(), "jo"), "a prefix; --store DIR as two words");
            assertEquals(List.of("base", "job-1", "job-2"), complete(script, "cowfs", "rm", store, "base", ""), "rm takes many names");
            assertTrue(complete(script, "cowfs", "mount", store, "base", tmp.toString() + "/s").stream().noneMatch(w -> w.equals("job-1")),
                    "the mountpoint is not a name");
            assertTrue(complete(script, "cowfs", "fork", store, "base", "--name", "").stream().noneMatch(w -> w.equals("base")),
                    "an option's value is not a name");
        }
    }

    @Test
    void zshLoadsTheBashCompletion() throws Exception {
        boolean zsh = Cowfs.shRc(tmp, "command -v zsh").rc() == 0;
        if (!zsh) {
            System.out.println("skipped: zsh is not installed (apt-get install -y zsh)");
        }
        Assumptions.assumeTrue(zsh, "zsh is not installed");
        Path script = tmp.resolve("_cowfs");
        Files.writeString(script, Cowfs.runRaw("completion", "zsh").ok().out());
        String out = Cowfs.sh(tmp, "HOME=" + tmp + " zsh -f -c 'source " + script + " && whence -w _cowfs_complete'");
        assertTrue(out.contains("function"), out);
    }
}
