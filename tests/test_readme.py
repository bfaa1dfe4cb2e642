"""Every code example in README.md runs here, and what the README promises about the package
(its built-in nodes' --help, its licence, its extras) holds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```$", README, re.DOTALL | re.MULTILINE)
INDENTED = [textwrap.dedent(body) for body in re.findall(r"^  ```python\n(.*?)^  ```$", README, re.DOTALL | re.MULTILINE)]


def blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCKS if kind == lang]


def test_every_fenced_block_is_covered_here():
    # A new kind of example needs a test below before it may appear in the README.
    assert sorted({kind for kind, _ in BLOCKS}) == ["", "mermaid", "python", "yaml"]
    # The `zmqrun ps --edges` screen is compared with a real run's in tests/test_web.py.
    assert len(blocks("")) == 6 and len(blocks("yaml")) == 4 and len(blocks("python")) == 2
    assert len(INDENTED) == 1 and len(re.findall(r"^ +```", README, re.MULTILINE)) == 2  # one indented block


def test_the_opening_transcript_is_what_zmqrun_prints(zmqrun):
    transcript = blocks("")[0]
    command, *sample = transcript.splitlines()
    assert command == "$ zmqrun topologies/pipeline.yaml"
    result = zmqrun.run(str(ROOT / "topologies" / "pipeline.yaml"), timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.splitlines()
    for line in (x for x in sample if x != "..."):
        pattern = re.sub(r"\d+", r"\\d+", re.escape(line))
        assert any(re.fullmatch(pattern, o) for o in out), (line, result.stdout)


def test_the_topology_example_runs_and_meets_its_expect_block(zmqrun):
    example = next(b for b in blocks("yaml") if b.startswith("name: pipeline"))
    path = zmqrun.write(example, name="readme-pipeline.yaml")
    result = zmqrun.run("test", str(path), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("PASS pipeline")


def test_the_helper_module_example_works_as_the_pipelines_worker(zmqrun):
    (worker,) = (b for b in blocks("python") if "zmqrun_topology" not in b)
    (zmqrun.tmp_path / "my_worker.py").write_text(worker)
    example = next(b for b in blocks("yaml") if b.startswith("name: pipeline"))
    assert "run: python -m orchestrator.nodes.worker\n" in example
    mine = example.replace("run: python -m orchestrator.nodes.worker\n", "run: python my_worker.py\n    ready: helper\n")
    path = zmqrun.write(mine, name="readme-helper.yaml")
    result = zmqrun.run("test", "-v", str(path), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"results per worker: worker\.1: \d+, worker\.2: \d+", result.stdout)
    assert "Traceback" not in result.stdout


def test_the_schema_comment_example_points_an_editor_at_a_schema_zmqrun_writes(zmqrun):
    (comment,) = (b for b in blocks("yaml") if b.startswith("# yaml-language-server"))
    schema = zmqrun.run("schema")
    (zmqrun.tmp_path / "zmqrun.schema.json").write_text(schema.stdout)
    path = zmqrun.write(comment + "nodes:\n  a: {run: python3 -c pass}\n")
    assert re.search(r"\$schema=\./zmqrun\.schema\.json", comment)
    assert zmqrun.run("check", str(path)).returncode == 0


def test_the_mermaid_example_is_what_graph_prints(zmqrun):
    (mermaid,) = blocks("mermaid")
    result = zmqrun.run("graph", "--format", "mermaid", str(ROOT / "topologies" / "pipeline.yaml"))
    assert result.stdout == mermaid


NODES = sorted(p.stem for p in (ROOT / "orchestrator" / "nodes").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", NODES)
def test_every_built_in_node_has_help(name):
    result = subprocess.run([sys.executable, "-m", f"orchestrator.nodes.{name}", "--help"],
                            capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"}, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:") and "Traceback" not in result.stderr
    assert f"`{name}`" in README  # and the README lists it


def test_licence_classifiers_typing_and_extras_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "License :: OSI Approved :: MIT License" in project["classifiers"]
    assert (ROOT / "orchestrator" / "py.typed").exists()
    extras = project["optional-dependencies"]
    dev_tools = {re.split(r"[<>=]", d)[0] for d in extras["dev"]}
    assert {"mypy", "ruff"} <= dev_tools
    assert not dev_tools & {re.split(r"[<>=]", d)[0] for d in extras["test"]}
    # The README's one-line test command installs both, since it runs mypy too.
    (command,) = re.findall(r"^    (python3 -m venv \.venv && .*pytest.*)$", README, re.MULTILINE)
    assert "'.[test,dev]'" in command and "mypy orchestrator" in command


def test_soak_is_executable_as_the_readme_shows_it():
    soak = ROOT / "tests" / "soak.py"
    assert "`tests/soak.py [ROUNDS]`" in README
    assert soak.stat().st_mode & 0o111 and soak.read_text().startswith("#!/usr/bin/env python3\n")
    result = subprocess.run([str(soak), "0"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stdout.startswith("0 rounds"), result.stderr


def test_the_include_example_merges_the_included_nodes(zmqrun):
    example = next(b for b in blocks("yaml") if b.startswith("include:"))
    assert "  sink: ...\n" in example  # a fragment: give the elided node a body
    (zmqrun.tmp_path / "parts").mkdir()
    (zmqrun.tmp_path / "parts" / "monitoring.yaml").write_text("nodes:\n  monitor: {run: python3 -c pass}\n")
    path = zmqrun.write(example.replace("  sink: ...\n", "  sink: {run: python3 -c pass}\n"))
    result = zmqrun.run("check", str(path))
    assert result.returncode == 0, result.stderr
    assert "monitor.1" in result.stdout and "sink.1" in result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_completion_lines_load_in_their_shell(shell, tmp_path):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")  # CI installs all three
    line = next(x for x in blocks("")[1].splitlines() if f"completion {shell}" in x).split("#")[0].strip()
    check = {"bash": "complete -p zmqrun", "zsh": "print -r -- $_comps[zmqrun]", "fish": "complete -c zmqrun"}[shell]
    if shell == "zsh":
        line = "autoload -Uz compinit && compinit -u -D && " + line
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    result = subprocess.run([shell, "-c", f"{line}; {check}"], capture_output=True, text=True, timeout=60,
                            env=env, cwd=tmp_path, check=False)  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip(), (result.stdout, result.stderr)


def test_the_export_header_is_what_export_prints(zmqrun):
    header = next(b for b in blocks("") if b.startswith("# Exported by"))
    result = zmqrun.run("export", "kubernetes", str(ROOT / "topologies" / "pipeline.yaml"), "--image", "zmqrun:0.1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(header)


def test_the_security_example_is_a_valid_curve_topology(zmqrun):
    import zmq

    if not zmq.has("curve"):
        pytest.skip("this libzmq has no CURVE")
    example = next(b for b in blocks("yaml") if b.startswith("security: curve"))
    result = zmqrun.run("check", str(zmqrun.write(example)))
    assert result.returncode == 0, result.stderr
    assert "security: CURVE" in result.stdout


def test_the_three_lines_without_the_helper_make_a_curve_client(zmqrun):
    import zmq

    if not zmq.has("curve"):
        pytest.skip("this libzmq has no CURVE")
    (snippet,) = INDENTED
    (zmqrun.tmp_path / "raw.py").write_text(
        "import os\nimport zmq\n\nctx = zmq.Context()\nsock = ctx.socket(zmq.PUSH)\n" + snippet
        + 'sock.connect(os.environ["ZMQRUN_SOCKET_TASKS_ENDPOINT"])\n'
        + 'for i in range(3):\n    sock.send_string(f"raw.1 {i}")\nsock.close(linger=5000)\nctx.term()\n'
    )
    path = zmqrun.write("""\
        security: curve
        nodes:
          sink:
            run: python -m orchestrator.nodes.sink --expect 3 --no-start
            exit_on_end: true
            sockets: {results: {type: PULL, bind: true}}
          raw:
            run: python raw.py
            sockets: {tasks: {type: PUSH, connect: sink.results}}
        expect: {timeout: 30s, exit: {sink: 0}}
        """)
    result = zmqrun.run("test", "-v", str(path), timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "results per worker: raw.1: 3" in result.stdout


def test_the_edges_screen_is_what_status_draws():
    """The README's --status screen: its edges section is what the view renders for that edge."""
    import io

    from rich.console import Console

    from orchestrator.edges.declared import Edge
    from orchestrator.edges.track import EdgeState
    from orchestrator.view.status import edges_table

    (screen,) = (b for b in blocks("") if "\nedge " in b)
    shown = screen.splitlines()[-2:]
    edge = Edge("client.1", "req", "REQ", "tcp://127.0.0.1:23813", "server.1", "rep", "REP")
    state = EdgeState(True, 9.0, 1, 1, rate_to_connecter=200.0, rate_to_binder=230.0)
    console = Console(file=io.StringIO(), width=110)
    console.print(edges_table((edge,), [state], 10.0, 110))
    drawn = [line.rstrip() for line in console.file.getvalue().splitlines()]  # type: ignore[attr-defined]
    assert drawn == [line.rstrip() for line in shown]


def test_the_subset_run_example_starts_part_then_the_rest(tmp_path, monkeypatch):
    from orchestrator.api import Run

    (example,) = (b for b in blocks("") if b.startswith("zmqrun topologies/pipeline.yaml sink worker"))
    first, then = (line.split("#")[0].split() for line in example.splitlines())
    assert first[:2] == ["zmqrun", "topologies/pipeline.yaml"] and then[:3] == ["zmqrun", "start", "pipeline"]
    root = Path(tempfile.mkdtemp(prefix="zr"))  # a private TMPDIR: `pipeline` names only this run
    monkeypatch.setenv("TMPDIR", str(root))
    try:
        with Run(ROOT / first[1], nodes=first[2:]) as run:
            assert run.ps()["ventilator.1"].state == "idle" and run.ps()["worker.2"].state == "running"
            started = subprocess.run([sys.executable, "-m", "orchestrator", *then[1:]], capture_output=True, text=True,
                                     timeout=60, cwd=ROOT)  # fmt: skip
            assert started.returncode == 0, started.stderr
            run.wait_for("sink", r"Total elapsed time: \d+", timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_pytest_fixture_example_passes_as_written(tmp_path):
    (example,) = (b for b in blocks("python") if "zmqrun_topology" in b)
    root = Path(tempfile.mkdtemp(prefix="zr"))  # short: run sockets live under it
    try:
        (root / "test_example.py").write_text(example)
        env = {**os.environ, "TMPDIR": str(root), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "zmqrun", "-p", "no:cacheprovider",
                                 "--rootdir", str(root), str(root / "test_example.py")],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)  # fmt: skip
        assert "1 passed" in result.stdout, result.stdout + result.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


INDENTED_COMMANDS = [line[4:] for line in README.splitlines() if re.match(r"^    (zmqrun|python3 -m venv|pip install) ", line)]


def test_every_indented_command_line_is_run_by_some_test(tmp_path):
    # The pip/venv lines: the test command is what .ci/run runs; `pip install . && zmqrun
    # topologies/pipeline.yaml` is the opening transcript; `pip install zmqrun && zmqrun examples
    # --copy .` is tests/test_examples.py's wheel test. The `zmqrun` lines are run here, as written.
    assert len(INDENTED_COMMANDS) == 5, INDENTED_COMMANDS
    (tmp_path / "topologies").symlink_to(ROOT / "topologies")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1"}
    for command in (c for c in INDENTED_COMMANDS if c.startswith("zmqrun ")):
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert result.returncode == 0, (command, result.stderr)
    # What they wrote is what the README says is committed under examples/.
    k8s = sorted((tmp_path / "k8s").iterdir())
    assert len(k8s) > 5  # one file per object
    committed = (ROOT / "examples" / "pipeline.compose.yaml").read_text()
    assert (tmp_path / "compose.yaml").read_text() == committed
