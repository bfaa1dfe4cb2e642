"""No process of a run survives a SIGKILL of zmqrun (or of its whole process group), whatever a
descendant did to hide: cleared its environment, left for a session of its own, re-parented."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import run_marker_pids, wait_for

from orchestrator.run import cgroup
from orchestrator.run.containment import TRACK_EVERY
from orchestrator.run.guardian import Guardian

PY = sys.executable
# The node double-forks a grandchild that clears its environment (no run marker) and moves into a
# session of its own, then reports the grandchild's pid.
HIDER = """\
import os, sys, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode() + b"\\n")
        os.execve("/bin/sleep", ["sleep", "600"], {})
    os._exit(0)
os.close(w)
print("hidden", os.read(r, 32).decode().strip(), flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def start_hiding_run(zmqrun, env: dict[str, str] | None = None):
    zmqrun.write(HIDER, name="hider.py")
    path = zmqrun.write(f"""\
    nodes:
      hider:
        run: [{PY}, hider.py]
    """)
    # The run directory goes under the test's own folder: a SIGKILLed zmqrun cannot remove it.
    proc = zmqrun.start(str(path), env={"TMPDIR": str(zmqrun.tmp_path), **(env or {})})
    run_id = hidden = None
    while hidden is None:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        if "| run zr-" in line:
            run_id = line.split("| run ", 1)[1].split(":")[0]
        if "| hidden " in line:
            hidden = int(line.rsplit(" ", 1)[1])
    node = next(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != proc.pid
                and _ppid(int(p)) == proc.pid and "hider.py" in _cmdline(int(p)))  # fmt: skip
    return proc, run_id, node, hidden


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError):
        return -1


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _loop_has_looked_since(zmqrun, run_id: str, since: float, env: dict[str, str]) -> None:
    """Return once zmqrun's loop has run a pass (and so a pid report, due every TRACK_EVERY)
    later than `since` + TRACK_EVERY: the second of two control requests is read only after the
    loop finished the pass that answered the first, which began after that moment."""
    wait_for(lambda: time.monotonic() > since + TRACK_EVERY + 0.05, timeout=5.0)
    for _ in range(2):
        assert zmqrun.run("ps", run_id, env=env, timeout=30).returncode == 0


@pytest.mark.parametrize("how", ["zmqrun", "its-group"])
@pytest.mark.parametrize("containment", ["cgroup", "guardian"])
def test_sigkill_leaves_no_survivor_even_a_hidden_grandchild(zmqrun, how, containment):
    parent, words = cgroup.probe()
    if containment == "cgroup" and parent is None:
        pytest.skip(f"this machine offers no run cgroup: {words} (the guardian case covers it)")
    env = {"ZMQRUN_CGROUP": "off"} if containment == "guardian" else {}
    proc, run_id, node, hidden = start_hiding_run(zmqrun, env)
    assert alive(node) and alive(hidden)
    cgdir = os.path.join(parent or "/nonexistent", f"zmqrun-{run_id}")
    if containment == "cgroup":
        assert os.path.isdir(cgdir)
    else:
        # The documented window: without a cgroup, a descendant is known from the loop's next pid
        # report after it was re-parented to zmqrun (the child subreaper).
        wait_for(lambda: _ppid(hidden) == proc.pid, timeout=10.0)
        _loop_has_looked_since(zmqrun, run_id, time.monotonic(), {"TMPDIR": str(zmqrun.tmp_path)})
        assert not os.path.exists(cgdir)
    if how == "zmqrun":
        os.kill(proc.pid, signal.SIGKILL)
    else:
        os.killpg(proc.pid, signal.SIGKILL)  # the test started zmqrun as a group leader
    proc.wait(timeout=10)
    # 1 s, as promised: cgroup.kill, or the guardian's sweep, acts at once; no extra slack was needed here.
    wait_for(lambda: not alive(node) and not alive(hidden) and not run_marker_pids(run_id), timeout=1.0, interval=0.01)
    wait_for(lambda: not os.path.exists(cgdir), timeout=3.0)  # the guardian removes the run's cgroup
    wait_for(lambda: not os.path.exists(os.path.join(str(zmqrun.tmp_path), f"zmqrun-{run_id}")), timeout=3.0)


def test_without_a_cgroup_the_guardian_kills_every_pid_it_was_told(tmp_path):
    # The lifeline's write end lives in this process; closing it without a goodbye is what a
    # SIGKILL of zmqrun does. The hidden process carries no marker, so only the pid report finds it.
    hidden = subprocess.Popen(["/bin/sleep", "600"], env={}, start_new_session=True)
    bystander = subprocess.Popen(["/bin/sleep", "600"], env={}, start_new_session=True)
    guardian = Guardian("zr-test-guardian")
    try:
        guardian.tell([hidden.pid])
        os.close(guardian._w)  # zmqrun "dies"
        guardian._w = -1
        wait_for(lambda: hidden.poll() is not None, timeout=5.0)
        assert hidden.returncode == -signal.SIGKILL
        assert bystander.poll() is None  # never told about: never touched
    finally:
        for p in (hidden, bystander):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=5)
        os.waitpid(guardian.pid, 0)


def test_without_a_cgroup_the_loop_tells_the_guardian_every_descendant(monkeypatch):
    from orchestrator.run.containment import Containment

    monkeypatch.setenv("ZMQRUN_CGROUP", "off")
    bystander = subprocess.Popen(["/bin/sleep", "600"], env={}, start_new_session=True)
    contained = Containment("zr-test-contain")
    assert contained.cgroup is None and contained.describe.startswith("guardian")
    hidden = subprocess.Popen(["/bin/sleep", "600"], env={}, start_new_session=True)  # no marker, own session
    try:
        contained.track(now=0.0, keep={contained.pid, bystander.pid})  # the loop's periodic report
        assert hidden.pid in contained.told and bystander.pid not in contained.told
        os.close(contained.guardian._w)  # zmqrun "dies" without a goodbye
        contained.guardian._w = -1
        wait_for(lambda: hidden.poll() is not None, timeout=5.0)
        assert hidden.returncode == -signal.SIGKILL and bystander.poll() is None
    finally:
        for p in (hidden, bystander):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=5)
        os.waitpid(contained.pid, 0)


def test_a_normal_end_removes_the_runs_cgroup(zmqrun):
    parent, _ = cgroup.probe()
    if parent is None:
        pytest.skip("no run cgroup on this machine")
    path = zmqrun.write(f"""\
    nodes:
      quick:
        run: [{PY}, -c, "print('done')"]
    """)
    result = zmqrun.run(str(path), timeout=30)
    assert result.returncode == 0
    run_id = result.stdout.split("| run ", 1)[1].split(":")[0]
    assert not os.path.exists(os.path.join(parent, f"zmqrun-{run_id}"))


def test_check_says_which_containment_this_machine_got(zmqrun):
    path = zmqrun.write(f"""\
    nodes:
      quick:
        run: [{PY}, -c, "print('done')"]
    """)
    _, words = cgroup.probe()
    assert zmqrun.run("check", str(path)).stdout.splitlines()[-1] == f"containment on this machine: {words}"
    off = zmqrun.run("check", str(path), env={"ZMQRUN_CGROUP": "off"}).stdout
    assert off.splitlines()[-1] == "containment on this machine: guardian (cgroups turned off by ZMQRUN_CGROUP=off)"
