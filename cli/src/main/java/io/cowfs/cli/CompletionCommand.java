package io.cowfs.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.Parameters;

/**
 * Prints a completion script for bash or zsh, generated from the picocli model: picocli's own
 * bash script (subcommands, options, file arguments), and on top of it, for each positional
 * parameter marked {@link StoreNames}, the store's names read when TAB is pressed
 * ({@code cowfs list --names}, with the --store of the line being completed). zsh runs the same
 * script through bashcompinit. {@code cowfs install-helpers} installs it.
 */
@Command(name = "completion", mixinStandardHelpOptions = true,
        description = {"Print a shell completion script (bash or zsh) generated from the command model.",
                "Load it with: source <(cowfs completion bash); 'cowfs install-helpers' installs it for every shell."})
final class CompletionCommand implements java.util.concurrent.Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", paramLabel = "SHELL", defaultValue = "bash", description = "bash or zsh (default: bash)")
    String shell;

    @CommandLine.Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (!shell.equals("bash") && !shell.equals("zsh")) {
            throw new IllegalArgumentException("no completion for shell '" + shell + "' (bash or zsh)");
        }
        spec.commandLine().getOut().print(script(shell));
        spec.commandLine().getOut().flush();
        return 0;
    }

    /** The completion script for shell ("bash" or "zsh"). */
    static String script(String shell) {
        CommandLine full = Main.commandLine();
        StringBuilder s = new StringBuilder();
        if (shell.equals("zsh")) {
            s.append("#compdef cowfs\n")
                    .append("# cowfs completion for zsh: the bash completion through bashcompinit\n")
                    .append("autoload -U +X compinit && compinit\n")
                    .append("autoload -U +X bashcompinit && bashcompinit\n");
        }
        s.append(AutoComplete.bash("cowfs", full));
        s.append(dynamicPart(full));
        return s.toString();
    }

    /**
     * The layer over picocli's function: per subcommand, the options that take a value (their
     * value is not a positional word) and the positions whose words are store names.
     */
    static String dynamicPart(CommandLine full) {
        StringBuilder cases = new StringBuilder();
        for (Map.Entry<String, CommandLine> e : full.getSubcommands().entrySet()) {
            CommandSpec sub = e.getValue().getCommandSpec();
            List<String> valued = new ArrayList<>();
            for (OptionSpec o : sub.options()) {
                if (o.arity().max() > 0) {
                    valued.addAll(List.of(o.names()));
                }
            }
            List<String> namePositions = new ArrayList<>();
            for (PositionalParamSpec p : sub.positionalParameters()) {
                if (p.completionCandidates() instanceof StoreNames) {
                    CommandLine.Range r = p.index();
                    namePositions.add(r.isUnspecified() || r.max() == Integer.MAX_VALUE ? r.min() + "+" : Integer.toString(r.min()));
                }
            }
            if (namePositions.isEmpty()) {
                continue;
            }
            cases.append("    ").append(e.getKey()).append(") valued=\"").append(String.join(" ", valued))
                    .append("\"; names=\"").append(String.join(" ", namePositions)).append("\";;\n");
        }
        return """

                # --- cowfs: store names for NAME arguments, read when TAB is pressed ---
                # COWFS_COMPLETION_CMD overrides the command that lists them (default: cowfs).
                _cowfs_store_names() {
                  local i w store=() IFS=$' \\t\\n'
                  for ((i=1; i<${#COMP_WORDS[@]}; i++)); do
                    w="${COMP_WORDS[i]}"
                    case "$w" in
                      --store=*) store=("$w");;
                      --store) # bash splits --store=DIR at '=' into three words
                        if [[ ${COMP_WORDS[i+1]} == "=" ]]; then store=("--store=${COMP_WORDS[i+2]}"); else store=("--store=${COMP_WORDS[i+1]}"); fi;;
                    esac
                  done
                  ${COWFS_COMPLETION_CMD:-cowfs} list --names "${store[@]}" 2>/dev/null
                }

                _cowfs_complete() {
                  _complete_cowfs "$@"
                  local cur="${COMP_WORDS[COMP_CWORD]}" sub="" at=0 pos=0 i w valued="" names=""
                  for ((i=1; i<COMP_CWORD; i++)); do
                    [[ ${COMP_WORDS[i]} == -* ]] || { sub="${COMP_WORDS[i]}"; at=$i; break; }
                  done
                  [[ -n $sub ]] || return 0
                  case "$sub" in
                @CASES@    *) return 0;;
                  esac
                  # positional words between the subcommand and the cursor (an option's value is none)
                  for ((i=at+1; i<COMP_CWORD; i++)); do
                    w="${COMP_WORDS[i]}"
                    if [[ $w == -* ]]; then
                      [[ $w == *=* ]] && continue
                      if [[ " $valued " == *" $w "* ]]; then
                        ((i++))
                        [[ ${COMP_WORDS[i]} == "=" ]] && ((i++))
                      fi
                      continue
                    fi
                    ((pos++))
                  done
                  # the value of an option before the cursor is not a positional word
                  local prev="${COMP_WORDS[COMP_CWORD-1]}"
                  [[ $prev == "=" && $COMP_CWORD -gt 2 ]] && prev="${COMP_WORDS[COMP_CWORD-2]}"
                  [[ $COMP_CWORD -gt 1 && " $valued " == *" $prev "* ]] && return 0
                  [[ $cur == -* ]] && return 0
                  local p match=0
                  for p in $names; do
                    if [[ $p == *+ ]]; then (( pos >= ${p%%+} )) && match=1; else (( pos == p )) && match=1; fi
                  done
                  ((match)) || return 0
                  local words
                  words="$(_cowfs_store_names)"
                  local IFS=$'\\n'
                  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
                }
                complete -F _cowfs_complete -o default cowfs
                """.replace("@CASES@", cases);
    }
}
