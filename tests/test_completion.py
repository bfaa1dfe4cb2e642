"""Shell completion: the scripts load in their shells and complete subcommands, flags, files and node names."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.commands.completion import FILES, candidates
from orchestrator.commands.parser import build_parser

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = str(ROOT / "topologies" / "pipeline.yaml")


@pytest.mark.parametrize(
    "words, expected",
    [
        (["zmqrun", ""], [FILES, "run", "check", "test", "graph", "config", "examples", "completion"]),
        (["zmqrun", "ch"], [FILES, "check"]),
        (["zmqrun", "run", "--exit"], ["--exit-code-from"]),
        (["zmqrun", PIPELINE, "--exit-code-from", ""], ["ventilator", "worker", "sink"]),
        (["zmqrun", "run", "--env-file", "x.env", PIPELINE, "--exit-code-from", "s"], ["sink"]),
        (["zmqrun", "graph", "f.yaml", "--format", ""], ["tree", "mermaid", "dot"]),
        (["zmqrun", "check", "--env-file", ""], [FILES]),
        (["zmqrun", "completion", ""], ["bash", "zsh", "fish"]),
        (["zmqrun", "examples", "pi"], ["pipeline"]),
        (["zmqrun", "free", ""], []),
        (["zmqrun", "--ver"], ["--version"]),
        (["zmqrun", "export", ""], ["kubernetes", "compose"]),
        (["zmqrun", "export", "c"], ["compose"]),
        (["zmqrun", "export", "kubernetes", "--na"], ["--namespace"]),
        (["zmqrun", "export", "compose", "--env-file", "x.env", ""], [FILES]),
    ],
)
def test_candidates(words: list[str], expected: list[str]) -> None:
    got = candidates(build_parser(), words, len(words) - 1)
    assert all(e in got for e in expected), got
    if words[-1]:
        assert all(c.startswith(words[-1]) or c == FILES for c in got)
    assert "_complete" not in got


def test_every_subcommand_is_offered() -> None:
    """Derived from the parser, so a new subcommand completes without touching the completion code."""
    got = set(candidates(build_parser(), ["zmqrun", ""], 1))
    assert {"run", "check", "test", "free", "graph", "schema", "config", "examples", "completion"} <= got


@pytest.fixture
def zmqrun_on_path(tmp_path: Path) -> dict[str, str]:
    """A PATH on which `zmqrun` is this checkout's CLI, as after installing it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "zmqrun"
    exe.write_text(f"#!{sys.executable}\nimport sys\nfrom orchestrator.cli import main\nsys.exit(main())\n")
    exe.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHONPATH=str(ROOT))
    return env


def bash_complete(line: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    words = " ".join(shlex.quote(w) for w in line)
    script = (
        'source <(zmqrun completion bash)\n'
        'complete -p zmqrun\n'
        f'COMP_WORDS=({words})\n'
        f'COMP_CWORD={len(line) - 1}\n'
        '_zmqrun\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, *rest = done.stdout.splitlines()
    assert first == "complete -o filenames -F _zmqrun zmqrun"
    return rest


def test_bash_sources_the_script_and_completes(zmqrun_on_path: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "topologies").mkdir(parents=True)
    shutil.copy(PIPELINE, work / "topologies" / "pipeline.yaml")
    (work / "notes.txt").write_text("")
    (work / "other.yml").write_text("nodes: {}\n")
    env = zmqrun_on_path
    assert bash_complete(["zmqrun", "topologies/pipeline.yaml", "--exit-code-from", ""], env, work) == [
        "ventilator", "worker", "sink"]  # fmt: skip
    assert bash_complete(["zmqrun", "topologies/pipeline.yaml", "--exit-code-from", "w"], env, work) == ["worker"]
    assert bash_complete(["zmqrun", "topologies/p"], env, work) == ["topologies/pipeline.yaml"]
    top = bash_complete(["zmqrun", ""], env, work)
    assert {"run", "check", "other.yml", "topologies"} <= set(top) and "notes.txt" not in top
    assert bash_complete(["zmqrun", "check", "--no"], env, work) == ["--no-color"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_scripts_are_printed_and_parse(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert "zmqrun _complete" in script
    checker = shutil.which(shell)
    if checker is None:
        pytest.skip(f"{shell} is not installed here; the bash test above runs the same protocol")
    flag = {"bash": "-n", "zsh": "-n", "fish": "--no-execute"}[shell]
    done = subprocess.run([checker, flag], input=script, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_fish_completes_node_names_and_zsh_registers(zmqrun_on_path: dict[str, str], tmp_path: Path) -> None:
    """Where fish and zsh are installed, run them too (fish can list completions non-interactively)."""
    fish, zsh = shutil.which("fish"), shutil.which("zsh")
    if fish is None and zsh is None:
        pytest.skip("neither fish nor zsh is installed here")
    env = dict(zmqrun_on_path, HOME=str(tmp_path))
    if fish:
        line = f"zmqrun completion fish | source; complete -C 'zmqrun {PIPELINE} --exit-code-from '"
        done = subprocess.run([fish, "--no-config", "-c", line],
                              env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
        assert sorted(done.stdout.split()) == ["sink", "ventilator", "worker"], done.stderr
    if zsh:
        line = "autoload -Uz compinit && compinit -u -D && source <(zmqrun completion zsh) && print -r -- $_comps[zmqrun]"
        done = subprocess.run([zsh, "-f", "-c", line],
                              env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
        assert done.stdout.strip() == "_zmqrun", done.stderr
