"""Controlling live runs from outside: zmqrun ls/ps/logs/stop/start/restart against real runs,
through the one control client, with the Python API (orchestrator.api.Run) starting them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.api import Run
from orchestrator.control.client import ControlClient
from orchestrator.run.runs import alive_runs, rundir_of
from tests.conftest import ROOT, finish, run_marker_pids, wait_for

TICK = """\
import os, sys, time
n = 0
while True:
    n += 1
    print("tick", n, os.getpid(), flush=True)
    time.sleep(float(sys.argv[1]))
"""

FINISHER = """\
import os, sys, time
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
print("finished")
"""

FLOOD = """\
import sys
for i in range(int(sys.argv[1])):
    sys.stdout.write("flood line %d ........................................\\n" % i)
print("flood done")
"""


def script(root: Path, name: str, text: str) -> Path:
    (root / name).write_text(text)
    return root / name


@pytest.fixture
def runs_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private TMPDIR for run directories: only this test's runs are alive in it, and its
    path is short enough for a Unix socket."""
    root = Path(tempfile.mkdtemp(prefix="zr"))
    monkeypatch.setenv("TMPDIR", str(root))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def topology(root: Path, name: str, extra: str = "", interval: float = 0.05) -> Path:
    (root / "tick.py").write_text(TICK)
    path = root / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        nodes:
          ticker:
            replicas: 2
            run: {sys.executable} -u {root / "tick.py"} {interval}
            ready: {{when: log, log: 'tick 1 '}}
          idle:
            run: {sys.executable} -c "import time; time.sleep(600)"
            ready: {{when: started}}
        """) + textwrap.indent(textwrap.dedent(extra), "  "))  # fmt: skip
    return path


def zmqrun(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "NO_COLOR": "1"}, cwd=ROOT)  # fmt: skip


def test_ls_and_ps_with_two_runs_alive_at_once(runs_root: Path) -> None:
    with Run(topology(runs_root, "alpha")) as a, Run(topology(runs_root, "beta")) as b:
        listed = json.loads(zmqrun("ls", "--json").stdout)
        assert {r["run_id"]: (r["name"], r["running"], r["total"], r["pid"]) for r in listed} == {
            a.run_id: ("alpha", 3, 3, a.process.pid),  # type: ignore[union-attr]
            b.run_id: ("beta", 3, 3, b.process.pid),  # type: ignore[union-attr]
        }
        text = zmqrun("ls").stdout
        assert a.run_id in text and "3/3" in text and "beta" in text

        several = zmqrun("ps")
        assert several.returncode == 5 and "several runs are alive" in several.stderr
        for ref in (a.run_id, a.run_id[:6], "alpha", str(runs_root / "alpha.yaml")):
            rows = json.loads(zmqrun("ps", ref, "--json").stdout)
            assert rows["run"]["run_id"] == a.run_id, ref
        rows = {r["label"]: r for r in rows["instances"]}
        assert set(rows) == {"ticker.1", "ticker.2", "idle.1"}
        for r in rows.values():
            assert r["state"] == "running" and r["pid"] > 0 and r["uptime"] >= 0
            assert r["cpu_seconds"] is not None and r["memory_rss"] > 0 and r["restarts"] == 0
        table = zmqrun("ps", "beta").stdout
        assert "INSTANCE" in table and "ticker.2" in table and "running" in table

        missing = zmqrun("ps", "gamma")
        assert missing.returncode == 5 and "no live run matches 'gamma'" in missing.stderr
    assert zmqrun("ls", "--json").stdout.strip() == "[]"


def test_a_table_into_a_pipe_keeps_each_row_on_one_line(runs_root: Path) -> None:
    """Not a terminal: no cell is folded onto the next line, wide as the row may be (scripts grep it)."""
    path = runs_root / "wide.yaml"
    names = [f"a_rather_long_socket_name_{i}" for i in range(4)]
    path.write_text("name: wide\nnodes:\n  a_rather_long_node_name_for_a_table:\n"
                    f"    run: {sys.executable} -c 'import time; time.sleep(600)'\n    ready: started\n    sockets:\n"
                    + "".join(f"      {n}: {{type: PULL, bind: true}}\n" for n in names))  # fmt: skip
    with Run(path) as run:
        [row] = [line for line in zmqrun("ps", run.run_id).stdout.splitlines() if "a_rather_long_node_name" in line]
        ports = run.ps()["a_rather_long_node_name_for_a_table.1"].ports
        assert len(row) > 120 and all(p.rsplit(":", 1)[1] in row for p in ports), row
        [listed] = [line for line in zmqrun("ls").stdout.splitlines() if run.run_id in line]
        assert "wide" in listed and "1/1" in listed


def test_ps_shows_ports(runs_root: Path) -> None:
    path = runs_root / "ports.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: ports
        nodes:
          rep:
            run: {sys.executable} -m orchestrator.nodes.replier
            sockets:
              rep: {{type: REP, bind: true}}
        """))  # fmt: skip
    with Run(path) as run:
        [endpoint] = run.ps()["rep.1"].ports
        assert endpoint.startswith("tcp://") and int(endpoint.rsplit(":", 1)[1]) > 0
        listed = zmqrun("ps", "--json")
        assert endpoint in listed.stdout, run.output()


def test_logs_tail_since_follow_and_bad_names(runs_root: Path) -> None:
    with Run(topology(runs_root, "logs")) as run:
        run.wait_for("ticker.1", r"tick 5 ", timeout=20)
        tail = zmqrun("logs", run.run_id, "ticker.1", "--tail", "3")
        lines = tail.stdout.splitlines()
        assert tail.returncode == 0 and len(lines) == 3
        assert all(line.startswith("ticker.1 | tick ") for line in lines)
        both = [json.loads(line) for line in zmqrun("logs", "ticker", "--json").stdout.splitlines()]
        assert {(x["node"], x["replica"]) for x in both} == {("ticker", 1), ("ticker", 2)}
        assert len(both) >= 10
        recent = zmqrun("logs", "ticker.2", "--since", "0.3s").stdout.splitlines()
        assert 0 < len(recent) < len([x for x in both if x["replica"] == 2]) + 5

        typo = zmqrun("logs", run.run_id, "tikcer")
        assert typo.returncode == 2 and "did you mean 'ticker'" in typo.stderr

        follower = subprocess.Popen([sys.executable, "-m", "orchestrator", "logs", "-f", "--tail", "0", "ticker.2"],
                                    stdout=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
        try:
            assert follower.stdout is not None
            first = follower.stdout.readline()
            assert first.startswith("ticker.2 | tick ")
            run.stop()  # the whole run: a followed stream ends with it
            rest, _ = finish(follower, 30)
            assert follower.returncode == 0
            assert all(line.startswith("ticker.2 | ") for line in rest.splitlines())
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()


def test_restart_one_replica_while_the_other_keeps_relaying(runs_root: Path) -> None:
    with Run(topology(runs_root, "restart")) as run:
        before = run.ps()
        seen = int(run.wait_for("ticker.2", r"tick (\d+) ", timeout=20).group(1))
        result = zmqrun("restart", run.run_id, "ticker.1")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("ticker.1: running (pid ")
        after = run.ps()
        assert after["ticker.1"].pid != before["ticker.1"].pid and after["ticker.1"].restarts == 1
        assert after["ticker.2"].pid == before["ticker.2"].pid and after["ticker.2"].restarts == 0
        # the new incarnation counts from 1, and the other replica went on counting meanwhile
        run.wait_for("ticker.1", rf"tick 1 {after['ticker.1'].pid}$", timeout=20)
        run.wait_for("ticker.2", rf"tick {seen + 5} {before['ticker.2'].pid}$", timeout=20)
        assert "restarting ticker.1: asked by hand" in run.output()


def test_stop_by_hand_is_not_restarted_and_does_not_fail_the_run(runs_root: Path) -> None:
    flag = runs_root / "go"
    extra = f"""\
          keeper:
            run: {sys.executable} -c "import time; time.sleep(600)"
            restart: always
            ready: {{when: started}}
          finisher:
            run: {sys.executable} {script(runs_root, "finisher.py", FINISHER)} {flag}
            exit_on_end: true
            ready: {{when: started}}
        """
    run = Run(topology(runs_root, "byhand", extra)).launch()
    try:
        first = run.ps()["keeper.1"]
        stopped = zmqrun("stop", "byhand", "keeper", "ticker.2", "--json")
        assert stopped.returncode == 0, stopped.stderr
        rows = {r["label"]: r for r in json.loads(stopped.stdout)["instances"]}
        assert set(rows) == {"keeper.1", "ticker.2"}
        assert all(r["state"] == "exited" and r["ended"].startswith("stopped by hand") for r in rows.values())
        assert run.ps()["ticker.1"].state == "running"

        started = zmqrun("start", "byhand", "ticker.2")
        assert started.returncode == 0 and started.stdout.startswith("ticker.2: running (pid ")
        flag.touch()  # the finisher ends the run (exit_on_end) with keeper still stopped by hand
        assert wait_for(lambda: run.returncode is not None, timeout=30)
        assert run.close() == 0, run.output()  # stopped by hand is not a failure
        out = run.output()
        assert "restarting in" not in out  # restart: always did not bring it back
        assert out.count("started keeper.1") == 1 and f"started keeper.1 (pid {first.pid})" in out
        assert re.search(r"keeper\.1 +stopped by hand \(", out) and "exit status 0: finisher ended (exit_on_end)" in out
    finally:
        run.close()


def test_stop_alone_stops_the_whole_run_like_ctrl_c(runs_root: Path) -> None:
    run = Run(topology(runs_root, "whole")).launch()
    try:
        result = zmqrun("stop", run.run_id)
        assert result.returncode == 0 and "is stopping" in result.stdout
        assert wait_for(lambda: run.returncode is not None, timeout=30)
        assert run.returncode == 130
        assert "stopping: zmqrun stop" in run.output()
        assert run_marker_pids(run.run_id) == []
        assert not os.path.exists(rundir_of(run.run_id))
    finally:
        run.close()


def test_bad_requests_say_why_with_a_status(runs_root: Path) -> None:
    assert zmqrun("ps").returncode == 5  # no run at all
    with Run(topology(runs_root, "bad")) as run:
        unknown = zmqrun("restart", run.run_id, "ticker.9", "nosuch")
        assert unknown.returncode == 2
        assert "no node or instance 'ticker.9'" in unknown.stderr and "'nosuch'" in unknown.stderr
        assert zmqrun("start", run.run_id).returncode == 2  # at least one NODE
        assert zmqrun("logs", run.run_id, "--tail", "x").returncode == 2
        assert zmqrun("logs", run.run_id, "--since", "soon").returncode == 2
        with socket.socket(socket.AF_UNIX) as s:  # the protocol refuses what it does not know
            s.connect(os.path.join(rundir_of(run.run_id), "control"))
            s.sendall(b'{"op": "format"}\n')
            reply = json.loads(s.makefile().readline())
        assert reply["ok"] is False and "unknown request 'format'" in reply["error"]
        assert run.ps()["ticker.1"].state == "running"


def test_a_crashed_runs_leftovers_are_not_alive(runs_root: Path) -> None:
    run = Run(topology(runs_root, "crash")).launch()
    try:
        assert [r.run_id for r in alive_runs()] == [run.run_id]
        os.kill(run.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
        run.process.wait(10)  # type: ignore[union-attr]
        assert os.path.exists(os.path.join(rundir_of(run.run_id), "run.json"))  # left behind
        # The guardian (forked by zmqrun) holds the lock until it has killed the nodes.
        wait_for(lambda: alive_runs() == [], timeout=10)
        assert json.loads(zmqrun("ls", "--json").stdout) == []
        assert zmqrun("ps", run.run_id).returncode == 5
    finally:
        run.close()
    wait_for(lambda: run_marker_pids(run.run_id) == [], timeout=10)  # the guardian's job


def test_a_client_that_never_reads_does_not_stall_the_run(runs_root: Path) -> None:
    """A follower that never reads while a node floods, and one that never sends its request:
    the run keeps relaying to its terminal, keeps answering others, and drops the stuck one."""
    total = 200_000
    extra = f"""\
          flood:
            run: {sys.executable} {script(runs_root, "flood.py", FLOOD)} {total}
            ready: {{when: started}}
        """
    run = Run(topology(runs_root, "stuck", extra), nodes=["ticker", "idle"]).launch()
    silent = socket.socket(socket.AF_UNIX)
    stuck = socket.socket(socket.AF_UNIX)
    try:
        path = os.path.join(rundir_of(run.run_id), "control")
        silent.connect(path)  # says nothing at all
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(path)
        stuck.sendall(b'{"op": "logs", "targets": ["flood"], "follow": true}\n')
        ControlClient(run.info).start(["flood"])
        run.wait_for("flood", "flood done", timeout=60)
        assert "flood done" in wait_for(lambda: "flood done" in run.output() and run.output(), timeout=30)
        assert run.ps()["ticker.1"].state == "running"  # still answering others
        received = 0
        stuck.settimeout(30)
        while chunk := stuck.recv(1 << 16):  # ends: the server dropped it
            received += len(chunk)
        assert received < total * 50  # far from everything: it was cut off
        seen = int(run.wait_for("ticker.1", r"tick (\d+) ", timeout=20).group(1))
        run.wait_for("ticker.1", rf"tick {seen + 3} ", timeout=20)  # and relaying goes on
    finally:
        silent.close()
        stuck.close()
        run.close()


def test_subset_run_starts_only_what_is_named_and_needed(runs_root: Path) -> None:
    pipeline = ROOT / "topologies" / "pipeline.yaml"
    with Run(pipeline, nodes=["sink"]) as run:
        states = {label: i.state for label, i in run.ps().items()}
        assert states == {"ventilator.1": "idle", "worker.1": "idle", "worker.2": "idle", "sink.1": "running"}
        run.start("worker", "ventilator")  # their endpoints were planned: they find the sink
        run.wait_for("sink", r"Total elapsed time: \d+", timeout=60)
    with Run(pipeline, nodes=["worker.1"], args=["--with-peers"]) as run:
        states = {label: i.state for label, i in run.ps().items()}
        assert states["worker.2"] == "idle" and states["sink.1"] == "running" and states["worker.1"] != "idle"
    typo = zmqrun(str(pipeline), "wroker")
    assert typo.returncode == 2 and "did you mean 'worker'" in typo.stderr


def test_subset_run_brings_depends_on(runs_root: Path) -> None:
    path = runs_root / "deps.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: deps
        nodes:
          db:
            run: {sys.executable} -c "import time; time.sleep(600)"
            ready: {{when: started}}
          api:
            run: {sys.executable} -c "import time; time.sleep(600)"
            ready: {{when: started}}
            depends_on: [db]
          other:
            run: {sys.executable} -c "import time; time.sleep(600)"
        """))  # fmt: skip
    with Run(path, nodes=["api"]) as run:
        assert {label: i.state for label, i in run.ps().items()} == {
            "db.1": "running", "api.1": "running", "other.1": "idle"}  # fmt: skip
        refused = zmqrun("stop", "deps", "db")
        assert refused.returncode == 0
        again = zmqrun("restart", "deps", "api")
        assert again.returncode == 1 and "db.1 must run first" in again.stderr


def _unused_uid() -> int:
    """A uid no account has: the test acts as another user without creating one (nothing is
    left on the machine)."""
    import grp
    import pwd

    used = {p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
    return next(u for u in range(47000, 60000) if u not in used)


ASK = """\
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("EACCES")
    sys.exit(0)
try:
    s.sendall(json.dumps({"op": sys.argv[2]}).encode() + b"\\n")
except OSError:
    pass  # refused at once: the reply is already waiting
print(s.makefile().readline().strip())
"""


def as_other_user(uid: int, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    setpriv = shutil.which("setpriv") or "setpriv"
    return subprocess.run([setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv],
                          capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin", **(env or {})},
                          cwd="/")  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to act as another user")  # fmt: skip
def test_another_users_requests_are_refused(runs_root: Path) -> None:
    other = _unused_uid()
    python = "/usr/bin/python3"
    ask = runs_root / "ask.py"
    ask.write_text(ASK)
    os.chmod(ask, 0o644)
    with Run(topology(runs_root, "private")) as run:
        control = os.path.join(rundir_of(run.run_id), "control")
        assert os.stat(control).st_mode & 0o777 == 0o600
        os.chmod(runs_root, 0o755)  # only so that the other user can reach the script
        assert as_other_user(other, python, str(ask), control, "ps").stdout.strip() == "EACCES"  # the file system says no

        # Even with the run directory and the socket opened up, the peer's uid is checked.
        os.chmod(rundir_of(run.run_id), 0o755)
        os.chmod(control, 0o666)
        for op in ("ps", "stop"):
            answer = as_other_user(other, python, str(ask), control, op)
            reply = json.loads(answer.stdout or answer.stderr)  # stderr: shown if it is not JSON
            assert reply["ok"] is False and "permission denied" in reply["error"], reply
        listed = as_other_user(other, python, "-m", "orchestrator", "ls", "--json",
                               env={"PYTHONPATH": str(ROOT), "TMPDIR": str(runs_root)})  # fmt: skip
        if listed.returncode == 0:  # when the checkout is readable by that user: ls shows only one's own runs
            assert json.loads(listed.stdout) == []
        assert {i.state for i in run.ps().values()} == {"running"}  # the refused stop did nothing


def test_completion_offers_live_runs_then_their_nodes(runs_root: Path) -> None:
    with Run(topology(runs_root, "complete")) as run:
        assert set(zmqrun("_complete", "2", "zmqrun", "ps", "").stdout.split()) == {run.run_id, "complete"}
        assert set(zmqrun("_complete", "3", "zmqrun", "restart", "complete", "").stdout.split()) == {"ticker", "idle"}
        path = str(runs_root / "complete.yaml")
        assert set(zmqrun("_complete", "2", "zmqrun", path, "").stdout.split()) == {"ticker", "idle"}
