"""Many nodes: the open-file limit is raised as far as the run needs (or the run is refused
before anything starts), and every node of a large run starts, is relayed and stops."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys

from conftest import finish, run_marker_pids, wait_for

from orchestrator.run import process

PY = sys.executable


def with_nofile(soft: int, hard: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return limit


def start_limited(zmqrun, path, soft: int, hard: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([PY, "-m", "orchestrator", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "NO_COLOR": "1"}, cwd=zmqrun.tmp_path,
                            start_new_session=True, preexec_fn=with_nofile(soft, hard))  # fmt: skip
    zmqrun.procs.append(proc)  # killed by PID at teardown if the test fails
    return proc


def test_a_soft_open_file_limit_is_raised_for_many_nodes(zmqrun):
    # 120 nodes need ~420 descriptors: far beyond a soft limit of 100, within the hard 4096.
    code = "import resource; print('nofile', resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    path = zmqrun.write(f"nodes:\n  n:\n    replicas: 120\n    run: [{PY}, -c, \"{code}\"]\n    ready: started\n")
    proc = start_limited(zmqrun, path, 100, 4096)
    out, err = finish(proc, 120)
    assert proc.returncode == 0, out + err
    limits = {int(m) for m in re.findall(r"\| nofile (\d+)$", out, re.MULTILINE)}
    assert len(re.findall(r"\| nofile", out)) == 120
    need = process.FDS_PER_NODE * 120 + process.FDS_SPARE
    assert limits == {need}  # raised to what the run needs, not to the hard limit


def test_a_hard_open_file_limit_too_low_is_a_clear_error_before_any_start(zmqrun):
    path = zmqrun.write(f"nodes:\n  n:\n    replicas: 500\n    run: [{PY}, -c, \"print('started')\"]\n")
    proc = start_limited(zmqrun, path, 256, 256)
    out, err = finish(proc, 60)
    assert proc.returncode == 1
    assert "500 processes need about 1564 open files in zmqrun, but the limit is 256 (ulimit -Hn)" in err
    assert "started" not in out


def test_two_hundred_nodes_start_relay_and_stop(zmqrun):
    code = "import os, time; print('up', os.environ['ZMQRUN_REPLICA']); time.sleep(600)"
    path = zmqrun.write(f"nodes:\n  n:\n    replicas: 200\n    run: [{PY}, -c, \"{code}\"]\n    ready: {{log: '^up '}}\n")
    proc = zmqrun.start(str(path))
    lines: list[str] = []
    wait_for(lambda: any("all 200 processes ready" in line for line in lines) or lines.append(proc.stdout.readline()), 240)
    run_id = re.search(r"run (zr-[0-9a-f]+)", "".join(lines)).group(1)
    assert len(run_marker_pids(run_id)) == 200
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc, 120)
    text = "".join(lines) + out
    assert proc.returncode == 130, err
    assert sorted(int(m) for m in re.findall(r"\| up (\d+)$", text, re.MULTILINE)) == list(range(1, 201))
    assert len(re.findall(r"stopped \(", text)) == 200
    assert run_marker_pids(run_id) == []


def test_many_fixed_ports_ask_the_kernel_for_listeners_once(monkeypatch):
    from orchestrator.run import ports

    asked = []
    monkeypatch.setattr(ports, "listening_ports", lambda: asked.append(1) or {25001})
    monkeypatch.setattr(ports, "holders", lambda port: [ports.Holder(7, "u", "cmd", "LISTEN")])
    holder_of = ports.listener_lookup()
    found = {port: holder_of(port) for port in range(25000, 25064)}
    assert len(asked) == 1
    assert [p for p, h in found.items() if h] == [25001]
