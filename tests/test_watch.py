"""`--watch`: a touched script restarts its node once (and no other); a changed topology reloads when valid."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import psutil
from conftest import wait_for

from orchestrator.run.watch import Targets, affected, targets
from orchestrator.topology.validate import load_topology

LOOP = """\
import os, time
print("up", os.getpid(), flush=True)
try:
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    print("bye", flush=True)
"""

TOPOLOGY = """\
nodes:
  looper:
    run: python loop.py
    ready: started
  other:
    cwd: lib
    run: python -c "import time; print('other {tag}', flush=True); time.sleep(600)"
    ready: started
"""


def collect(proc: subprocess.Popen[str]) -> list[str]:
    """zmqrun's stdout and stderr lines, appended as they arrive by reader threads."""
    lines: list[str] = []

    def pump(stream: IO[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    for stream in (proc.stdout, proc.stderr):
        assert stream is not None
        threading.Thread(target=pump, args=(stream,), daemon=True).start()
    return lines


def test_which_nodes_own_which_files(tmp_path: Path) -> None:
    (tmp_path / "loop.py").write_text(LOOP)
    (tmp_path / "lib").mkdir()
    top = tmp_path / "t.yaml"
    top.write_text(TOPOLOGY.replace("{tag}", "a"))
    t = targets(load_topology(str(top)), [str(top)], [str(tmp_path / "shared")])
    assert t.nodes == {"looper": frozenset({str(tmp_path / "loop.py")}), "other": frozenset({str(tmp_path / "lib")})}
    table = [
        ([tmp_path / "loop.py"], [], {"looper": ["loop.py"]}),
        ([tmp_path / "lib/deep/x.py"], [], {"other": ["lib/deep/x.py"]}),
        ([tmp_path / "library.py"], [], {}),  # a prefix of lib/ is not under it
        ([tmp_path / "shared/common.py"], [], {"looper": ["shared/common.py"], "other": ["shared/common.py"]}),
        ([top, tmp_path / "loop.py"], ["t.yaml"], {"looper": ["loop.py"]}),
    ]
    for changed, tops, nodes in table:
        got_tops, got_nodes = affected(t, [str(c) for c in changed])
        assert [os.path.relpath(x, tmp_path) for x in got_tops] == tops
        assert {k: [os.path.relpath(x, tmp_path) for x in v] for k, v in got_nodes.items()} == nodes


def test_targets_is_a_pure_record() -> None:
    t = Targets(frozenset({"/a/t.yaml"}), {"n": frozenset({"/a/n.py"})}, frozenset())
    assert affected(t, ["/a/other.py"]) == ([], {})


def test_touched_script_restarts_its_node_once_and_topology_reloads(zmqrun, tmp_path: Path) -> None:
    (tmp_path / "loop.py").write_text(LOOP)
    (tmp_path / "lib").mkdir()
    top = zmqrun.write(TOPOLOGY.replace("{tag}", "a"), "t.yaml")
    proc = zmqrun.start("t.yaml", "--watch")
    lines = collect(proc)

    def count(text: str) -> int:
        return sum(text in line for line in list(lines))

    wait_for(lambda: count("looper.1 | up") == 1 and count("other.1  | other a") == 1, timeout=30)
    first_pid = int(next(line for line in lines if "looper.1 | up" in line).split()[-1])
    (tmp_path / "loop.py").write_text(LOOP + "# edited\n")
    wait_for(lambda: count("looper.1 | up") == 2, timeout=30)
    assert not psutil.pid_exists(first_pid) or psutil.Process(first_pid).status() == psutil.STATUS_ZOMBIE
    # debounced: one save, one restart, whatever number of events the editor caused
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline and count("restarting looper") == 1:
        time.sleep(0.05)
    assert count("restarting looper: changed: loop.py") == 1, "\n".join(lines)
    assert count("looper.1 | up") == 2 and count("other.1  | other a") == 1  # the other node kept running
    # a bare `touch` (new mtime, same bytes) counts too, and again restarts it exactly once
    os.utime(tmp_path / "loop.py")
    wait_for(lambda: count("looper.1 | up") == 3, timeout=30)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline and count("restarting looper") == 2:
        time.sleep(0.05)
    assert count("restarting looper: changed: loop.py") == 2 and count("looper.1 | up") == 3, "\n".join(lines)

    top.write_text(TOPOLOGY.replace("{tag}", "a") + "  broken: [\n")
    wait_for(lambda: count("t.yaml changed but is invalid; the current plan keeps running") == 1, timeout=30)
    assert count("stopping:") == 0
    top.write_text(TOPOLOGY.replace("{tag}", "b"))
    wait_for(lambda: count("other.1  | other b") == 1, timeout=30)
    assert count("stopping: t.yaml changed: starting the new plan") == 1

    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    run_ids = {line.split()[3].rstrip(":") for line in lines if "| run zr-" in line}
    assert len(run_ids) == 2
    for pid in [int(line.split()[-1]) for line in lines if "looper.1 | up" in line]:
        assert not psutil.pid_exists(pid), "every incarnation of every node is gone"


def test_after_the_run_ends_a_change_starts_it_again(zmqrun, tmp_path: Path) -> None:
    (tmp_path / "once.py").write_text("print('once done', flush=True)\n")
    zmqrun.write("nodes:\n  once:\n    run: python once.py\n    ready: started\n", "t.yaml")
    proc = zmqrun.start("t.yaml", "--watch")
    lines = collect(proc)
    wait_for(lambda: any("watching for changes, Ctrl-C to quit" in line for line in list(lines)), timeout=30)
    (tmp_path / "once.py").write_text("print('twice done', flush=True)\n")
    wait_for(lambda: any("once.1 | twice done" in line for line in list(lines)), timeout=30)
    assert any("changed: once.py: starting the run again" in line for line in lines)
    wait_for(lambda: sum("watching for changes" in line for line in list(lines)) == 2, timeout=30)
    os.kill(proc.pid, signal.SIGINT)  # while waiting between runs
    assert proc.wait(timeout=30) == 130


class _Requests:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def end_run(self, reason: str) -> None:
        self.calls.append(("end_run", reason))

    def restart_node(self, name: str, why: str) -> None:
        self.calls.append((name, why))


class _Out:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str, style: str | None = None) -> None:
        self.notes.append(text)


class _Sup:
    def __init__(self) -> None:
        self.requests, self.out = _Requests(), _Out()


def test_variables_files_reload_the_plan_and_a_script_saved_with_its_topology_still_restarts(tmp_path: Path,
                                                                                             monkeypatch) -> None:  # fmt: skip
    """The .env (or --env-file) is part of the plan; a topology saved unchanged with a script (a git
    checkout) or left invalid does not swallow the script's change."""
    from orchestrator.run.watch import Session

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TAG", raising=False)
    (tmp_path / "loop.py").write_text(LOOP)
    (tmp_path / "lib").mkdir()
    top = tmp_path / "t.yaml"
    top.write_text(TOPOLOGY.replace("{tag}", "${TAG}"))
    (tmp_path / ".env").write_text("TAG=a\n")
    session = Session(str(top), [], load_topology(str(top)), [])
    try:
        assert {str(tmp_path / ".env"), str(top)} <= session.targets.topology

        def handle(*changed: Path) -> list[tuple[str, str]]:
            session.watcher.drain = lambda: {str(c) for c in changed}  # type: ignore[method-assign]
            sup = _Sup()
            session.handle(sup)  # type: ignore[arg-type]
            return sup.requests.calls

        assert handle(top, tmp_path / "loop.py") == [("looper", "changed: loop.py")]  # saved unchanged
        top.write_text("nodes: [\n")
        assert handle(top, tmp_path / "loop.py") == [("looper", "changed: loop.py")]  # invalid: the plan stays
        top.write_text(TOPOLOGY.replace("{tag}", "${TAG}"))
        (tmp_path / ".env").write_text("TAG=b\n")
        assert handle(tmp_path / ".env") == [("end_run", ".env changed: starting the new plan")]
        assert session.next is not None and "other b" in session.next.node("other").run[-1]
    finally:
        session.close()
    env_file = tmp_path / "ci.env"
    env_file.write_text("TAG=c\n")
    session = Session(str(top), [str(env_file)], load_topology(str(top), env_files=[str(env_file)]), [])
    try:
        assert str(env_file) in session.targets.topology and str(tmp_path / ".env") not in session.targets.topology
    finally:
        session.close()
