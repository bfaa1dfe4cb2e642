"""Person-like checks in a real terminal (tmux): what a user sees of `--status` and `graph`.
The screens captured here are written to tests/fixtures/ for a person to look at."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
FIXTURES = ROOT / "tests" / "fixtures"


def save(name: str, text: str) -> None:
    """Refresh the kept screens only when asked (ZMQRUN_UPDATE_FIXTURES=1)."""
    if os.environ.get("ZMQRUN_UPDATE_FIXTURES"):
        FIXTURES.mkdir(exist_ok=True)
        (FIXTURES / name).write_text(text)


class Screen:
    def __init__(self, command: str, cwd: Path):
        self.name = f"zmqrun-test-{uuid.uuid4().hex[:8]}"
        env_path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "110", "-y", "40",
                        f"cd {cwd} && PATH={env_path} {command}; echo '[done]'; sleep 60"], check=True)  # fmt: skip

    def text(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True).stdout

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def screen(tmp_path):
    opened: list[Screen] = []

    def open_(command: str) -> Screen:
        s = Screen(command, tmp_path)
        opened.append(s)
        return s

    yield open_
    for s in opened:
        s.close()


def test_live_status_view(screen, tmp_path):
    (tmp_path / "t.yaml").write_text(
        "nodes:\n"
        "  server:\n    run: python -m orchestrator.nodes.replier\n    sockets:\n      rep: {type: REP, bind: true}\n"
        "  client:\n    run: python -m orchestrator.nodes.requester --count 40 --interval 0.1\n    exit_on_end: true\n"
        "    sockets:\n      req: {type: REQ, connect: server.rep}\n"
    )
    # Edges sampled twice a second (the default is every 3 s), so that a rate is shown while the
    # client's four seconds of requests last, however the samples fall.
    s = screen("zmqrun --status --edge-interval 0.5 t.yaml")
    wait_for(lambda: "server.1  ready" in s.text(), timeout=20)
    # The edges section, once sampled: the client's REQ up, with its traffic each way.
    wait_for(lambda: any("REQ>REP  up " in line and "B/s" in line for line in s.text().splitlines()), timeout=20)
    during = s.text()
    assert "node      state" in during and "restarts" in during and "memory" in during
    assert "client.1.req -> server.1.rep" in during and "rate ->" in during
    wait_for(lambda: "[done]" in s.text(), timeout=30)
    after = s.text()
    assert "exit status 0" in after
    lines = after.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("node "))
    table = "\n".join(lines[header : header + 3])
    assert "server.1" in table and "client.1" in table and "exit 0" in table
    assert "\x1b" not in after  # capture-pane gives text; no raw escape reached the screen
    save("status-screen.txt", during)


def test_graph_tree_in_a_terminal(screen):
    s = screen(f"zmqrun graph {ROOT / 'topologies' / 'pipeline.yaml'}")
    wait_for(lambda: "[done]" in s.text(), timeout=20)
    text = s.text()
    assert "├── worker ×2" in text
    assert "└── results PULL bind 127.0.0.1:auto ← ventilator.sink, worker.results" in text
    save("graph-screen.txt", text.split("[done]")[0].rstrip() + "\n")
