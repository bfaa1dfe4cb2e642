"""Shell completion: small bash, zsh and fish scripts that ask `zmqrun _complete` what fits, derived from the parser."""

from __future__ import annotations

import argparse
import os

FILES = ":files"  # tells the shell script to complete topology files (and folders) itself
DIRS = ":dirs"
NODE_FLAGS = {"--exit-code-from"}  # flags whose value is a node of the topology on the line
PATH_FLAGS = {"--env-file", "--log-dir", "--junit", "--copy", "--watch"}

BASH = r"""# zmqrun completion for bash: source <(zmqrun completion bash)
_zmqrun() {
    local cur="${COMP_WORDS[COMP_CWORD]}" line
    COMPREPLY=()
    while IFS= read -r line; do
        case "$line" in
            :files) COMPREPLY+=($(compgen -f -X '!*.yaml' -- "$cur") $(compgen -f -X '!*.yml' -- "$cur")
                    $(compgen -d -- "$cur")) ;;
            :dirs) COMPREPLY+=($(compgen -d -- "$cur")) ;;
            *) COMPREPLY+=("$line") ;;
        esac
    done < <(zmqrun _complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null)
}
complete -o filenames -F _zmqrun zmqrun
"""

ZSH = r"""#compdef zmqrun
# zmqrun completion for zsh: source <(zmqrun completion zsh), after compinit
_zmqrun() {
    local line
    local -a cands
    for line in "${(@f)$(zmqrun _complete $((CURRENT - 1)) "${words[@]}" 2>/dev/null)}"; do
        case "$line" in
            :files) _files -g '*.(yaml|yml)' ;;
            :dirs) _files -/ ;;
            ?*) cands+=("$line") ;;
        esac
    done
    (( ${#cands} )) && compadd -a cands
}
compdef _zmqrun zmqrun
"""

FISH = r"""# zmqrun completion for fish: zmqrun completion fish | source
function __zmqrun_complete
    set -l words (commandline -opc) (commandline -ct)
    for line in (zmqrun _complete (math (count $words) - 1) $words 2>/dev/null)
        switch $line
            case :files
                __fish_complete_suffix .yaml
                __fish_complete_suffix .yml
            case :dirs
                __fish_complete_directories (commandline -ct)
            case '*'
                echo $line
        end
    end
end
complete -c zmqrun -f -a '(__zmqrun_complete)'
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {k: v for k, v in action.choices.items() if not k.startswith("_")}
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


def node_names(file: str) -> list[str]:
    """Node names of `file`, includes and variables resolved when possible; [] if it cannot be read."""
    from orchestrator.errors import ZmqrunError
    from orchestrator.topology.source import read

    try:
        data = read(file).doc.data  # an unset variable does not matter here: node names are keys
    except ZmqrunError:
        return []
    nodes = data.get("nodes") if isinstance(data, dict) else None
    return [str(n) for n in nodes] if isinstance(nodes, dict) else []


def _live_runs(positionals: list[str]) -> list[str]:
    """The live runs (ids and topology names); after one of them, its node names."""
    from orchestrator.run.runs import RunError, alive_runs, resolve

    if not positionals:
        return [word for r in alive_runs() for word in (r.run_id, r.name)]
    try:
        return node_names(resolve(positionals[0]).topology)
    except RunError:
        return []


def candidates(parser: argparse.ArgumentParser, words: list[str], index: int) -> list[str]:
    """What may stand at `words[index]` (words[0] is the program), filtered by what is typed."""
    cur = words[index] if index < len(words) else ""
    before = words[1:index]
    commands = _subcommands(parser)
    explicit = next((w for w in before if not w.startswith("-")), None) in commands
    command = next(w for w in before if not w.startswith("-")) if explicit else "run"
    sub = commands[command]
    rest = before[1:] if explicit else before
    nested = _subcommands(sub)  # `export kubernetes|compose`
    if nested:
        engine = next((w for w in rest if not w.startswith("-")), None)
        if engine not in nested:
            return [c for c in (_options(sub) if cur.startswith("-") else nested) if c.startswith(cur)]
        sub, rest = nested[engine], rest[rest.index(engine) + 1 :]
    options = _options(sub)
    positionals: list[str] = []
    takes_value = False
    for w in rest:
        if not takes_value and not w.startswith("-"):
            positionals.append(w)
        takes_value = w in options and options[w].nargs != 0
    prev = before[-1] if before else ""
    out: list[str]
    if prev in options and options[prev].nargs != 0:
        action = options[prev]
        if prev in NODE_FLAGS:
            file = next((w for w in positionals if os.path.isfile(w)), None)
            out = node_names(file) if file else []
        elif action.choices:
            out = [str(c) for c in action.choices]
        elif prev in PATH_FLAGS:
            out = [DIRS] if action.metavar == "DIR" else [FILES]
        else:
            out = []
    elif cur.startswith("-"):
        out = sorted(s for s in options if s.startswith("--") or s not in ("-h",))
        if not before:
            out += [s for s in _options(parser) if s.startswith("--") and s not in out]  # --version
    elif command == "examples":
        from orchestrator.commands.examples import names

        out = names()
    elif command == "completion":
        out = list(SCRIPTS) if not positionals else []
    elif command in ("free", "schema", "ls"):
        out = []
    elif command in ("ps", "logs", "stop", "start", "restart"):
        out = _live_runs(positionals)
    elif command == "web":
        out = [] if positionals else _live_runs([])  # the run, and nothing after it
    elif command == "run" and positionals and os.path.isfile(positionals[0]):
        out = node_names(positionals[0])  # zmqrun FILE NODE...
    else:
        out = [FILES]
        if not before:
            out += list(commands)
    return [c for c in out if c.startswith((":", cur))]
