"""A live run is never called crashed and never touched: `check`, `free` and a second run of the
same topology name it (run id, topology, zmqrun's pid), however zmqrun was started. The lock in
the run directory decides, and only it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from conftest import finish, wait_for

from orchestrator.run import runs

PY = sys.executable
CONSOLE = str(Path(sys.executable).parent / "zmqrun")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    return any(
        c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in psutil.net_connections("tcp")
    )


@pytest.mark.parametrize("launcher", [[CONSOLE], [PY, "-m", "orchestrator"]], ids=["console-script", "python-m"])
def test_check_free_and_a_second_run_leave_a_live_run_alone(zmqrun, launcher):
    assert os.path.exists(launcher[0])
    port = free_port()
    path = zmqrun.write(f"""\
    nodes:
      server:
        run: [{PY}, -c, "import zmq, time; s = zmq.Context().socket(zmq.REP); s.bind('tcp://127.0.0.1:{port}'); print('up', flush=True); time.sleep(600)"]
        sockets:
          api: {{type: REP, bind: {port}}}
    """)
    env = {**os.environ, "NO_COLOR": "1"}
    first = subprocess.Popen([*launcher, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, cwd=zmqrun.tmp_path, start_new_session=True)  # fmt: skip
    zmqrun.procs.append(first)
    run_id = wait_for(lambda: re.search(r"\| run (zr-[0-9a-f]+):", first.stdout.readline()), timeout=30).group(1)  # type: ignore[union-attr]
    wait_for(lambda: listening(port), timeout=30)
    node = next(
        p for p in psutil.Process(first.pid).children(recursive=True) if "time.sleep(600)" in " ".join(p.cmdline())
    )

    check = zmqrun.run("check", str(path), timeout=60)
    assert check.returncode == 2
    assert f"live zmqrun run {run_id} ({path}, zmqrun pid {first.pid})" in check.stderr, check.stderr
    assert "crashed" not in check.stderr

    freed = zmqrun.run("free", str(port), env={"CI": "true"}, timeout=60)
    assert freed.returncode == 1
    assert f"left alone pid {node.pid}: it belongs to the live zmqrun run {run_id}" in freed.stdout, freed.stdout
    assert f"kill -INT {first.pid}" in freed.stdout

    second = zmqrun.run(str(path), timeout=60)
    assert second.returncode == 2
    assert f"live zmqrun run {run_id}" in second.stderr and "nothing was started" in second.stderr

    # Nothing of the first run was touched.
    assert node.is_running() and node.status() != psutil.STATUS_ZOMBIE and listening(port)
    assert first.poll() is None
    first.send_signal(signal.SIGINT)
    out, _ = finish(first, 30)
    assert first.returncode == 130
    assert "server.1" in out and "stopped" in out


def test_the_lock_decides_alive_and_a_killed_holder_frees_it(tmp_path):
    rundir = tmp_path / "zmqrun-zr-test000001"
    rundir.mkdir()
    claim = runs.Claim(str(rundir), "zr-test000001", "topo.yaml")
    assert runs.is_alive(str(rundir))
    assert runs.live_run("zr-test000001", str(rundir)) == claim.info
    assert [(info.run_id, alive) for info, alive in runs.list_runs(str(tmp_path))] == [("zr-test000001", True)]
    claim.release()
    assert not runs.is_alive(str(rundir)) and runs.live_run("zr-test000001", str(rundir)) is None

    # A holder that dies by SIGKILL (no chance to clean up) leaves a crashed run, never a live one.
    other = tmp_path / "zmqrun-zr-test000002"
    other.mkdir()
    code = ("import sys, time; from orchestrator.run import runs; "
            f"runs.Claim({str(other)!r}, 'zr-test000002', 't.yaml'); print('held', flush=True); time.sleep(600)")  # fmt: skip
    holder = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert runs.is_alive(str(other))
        assert runs.read(str(other)).pid == holder.pid
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert not runs.is_alive(str(other))
    assert runs.is_alive(str(tmp_path / "no-such-run")) is False


def test_a_second_run_gives_way_even_before_the_first_has_bound_its_port(zmqrun):
    port = free_port()
    path = zmqrun.write(f"""\
    nodes:
      slow:
        run: [{PY}, -c, "import time; print('not bound yet', flush=True); time.sleep(600)"]
        sockets:
          api: {{type: REP, bind: {port}}}
        ready: {{when: log, log: never, timeout: 600s}}
    """)
    env = {"TMPDIR": str(zmqrun.tmp_path)}
    first = zmqrun.start(str(path), env=env)
    wait_for(lambda: "not bound yet" in first.stdout.readline(), timeout=30)
    assert not listening(port)
    second = zmqrun.run(str(path), env=env, timeout=60)
    assert second.returncode == 2
    assert "(live zmqrun run zr-" in second.stderr and f"zmqrun pid {first.pid})" in second.stderr, second.stderr
    assert first.poll() is None
    first.send_signal(signal.SIGINT)
    finish(first, 30)
    assert first.returncode == 130


def test_of_two_claims_at_once_only_the_later_gives_way(tmp_path):
    a_dir, b_dir = tmp_path / "zmqrun-zr-a", tmp_path / "zmqrun-zr-b"
    a_dir.mkdir()
    b_dir.mkdir()
    a = runs.Claim(str(a_dir), "zr-a", "t.yaml", (5555, 6000))
    b = runs.Claim(str(b_dir), "zr-b", "t.yaml", (5555, 7000))
    try:
        assert a.contested() == []
        assert [(port, other.run_id) for port, other in b.contested()] == [(5555, "zr-a")]
        assert [i.run_id for i in runs.claimed(5555, str(tmp_path))] == ["zr-a", "zr-b"]
    finally:
        a.release()
        b.release()
    assert runs.claimed(5555, str(tmp_path)) == []


def test_a_process_belongs_to_the_live_run_whose_zmqrun_is_above_it(tmp_path):
    rundir = tmp_path / "zmqrun-zr-test000003"
    rundir.mkdir()
    child = subprocess.Popen(["/bin/sleep", "600"], env={}, start_new_session=True)  # no marker, own session
    try:
        assert runs.enclosing_run(child.pid) is None
        claim = runs.Claim(str(rundir), "zr-test000003", "t.yaml")  # this process plays zmqrun
        assert runs.enclosing_run(child.pid) == claim.info
        assert runs.enclosing_run(os.getpid()) == claim.info
        claim.release()
        assert runs.enclosing_run(child.pid) is None  # a free lock is no live run
    finally:
        child.kill()
        child.wait(timeout=10)


# The listener is a grandchild that cleared its environment (no run marker) and left for a
# session of its own; the node that made it is gone, so only zmqrun (a child subreaper) is above it.
HIDDEN_LISTENER = """\
import os, sys, time
port = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        code = ("import socket, time; s = socket.socket(); s.bind(('127.0.0.1', " + port + ")); s.listen();"
                " time.sleep(600)")
        os.execve(sys.executable, [sys.executable, "-c", code], {})
    os._exit(0)
time.sleep(600)
"""


def test_a_live_runs_listener_that_hid_its_marker_is_still_left_alone(zmqrun):
    port = free_port()
    zmqrun.write(HIDDEN_LISTENER, name="hide.py")
    path = zmqrun.write(f"""\
    nodes:
      server:
        run: [{PY}, hide.py, '{port}']
        sockets:
          api: {{type: REP, bind: {port}}}
    """)
    run_dir, other_dir = zmqrun.tmp_path / "run-tmp", zmqrun.tmp_path / "other-tmp"
    run_dir.mkdir()
    other_dir.mkdir()
    first = zmqrun.start(str(path), env={"TMPDIR": str(run_dir)})
    wait_for(lambda: listening(port), timeout=30)
    holder = next(c.pid for c in psutil.net_connections("tcp")
                  if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN)  # fmt: skip
    wait_for(lambda: psutil.Process(holder).ppid() == first.pid, timeout=10)  # its parent is gone
    assert "ZMQRUN_RUN_ID" not in psutil.Process(holder).environ()
    info = runs.list_runs(str(run_dir))[0][0]

    # Asked from a different TMPDIR too: the run directory is found from the process tree.
    for env in ({"TMPDIR": str(run_dir)}, {"TMPDIR": str(other_dir)}):
        check = zmqrun.run("check", str(path), env=env, timeout=60)
        assert check.returncode == 2
        assert f"live zmqrun run {info.run_id} ({path}, zmqrun pid {first.pid})" in check.stderr, check.stderr
        freed = zmqrun.run("free", "--force", str(port), env={"CI": "true", **env}, timeout=60)
        assert freed.returncode == 1
        assert f"left alone pid {holder}: it belongs to the live zmqrun run {info.run_id}" in freed.stdout, freed.stdout
        assert "not started by zmqrun" not in freed.stdout

    assert psutil.Process(holder).status() != psutil.STATUS_ZOMBIE and listening(port)
    assert first.poll() is None
    first.send_signal(signal.SIGINT)
    finish(first, 30)
    wait_for(lambda: not listening(port), timeout=10)  # the run's own sweep still ends it
