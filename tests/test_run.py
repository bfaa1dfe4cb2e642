"""Integration: real topologies, real processes on loopback; nothing may be left behind."""

from __future__ import annotations

import re
import signal
import socket
import sys

import psutil
import pytest
from conftest import ROOT, finish, run_marker_pids, wait_for

PY = sys.executable


def run_id_of(output: str) -> str:
    return re.search(r"run (zr-[0-9a-f]+)", output).group(1)


def bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ports_of(output: str) -> list[int]:
    return [int(p) for p in re.findall(r"=tcp://127\.0\.0\.1:(\d+)", output)]


def assert_clean(output: str) -> None:
    run_id = run_id_of(output)
    assert run_marker_pids(run_id) == []
    for port in ports_of(output):
        assert bindable(port), port


def test_shipped_pipeline_runs_to_completion(zmqrun):
    result = zmqrun.run(str(ROOT / "topologies" / "pipeline.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^sink\.1 +\| Total elapsed time: \d+ msec$", out, re.MULTILINE)
    assert re.search(r"^sink\.1 +\| results per worker: worker\.1: 50, worker\.2: 50$", out, re.MULTILINE)
    starts = [m.group(1) for m in re.finditer(r"started (\w+)\.1", out)]
    assert starts == ["sink", "worker", "ventilator"]
    assert_clean(out)


STUBBORN = f"""\
nodes:
  stubborn:
    replicas: 3
    grace: 1s
    run: [{PY}, -c, "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"]
  parent:
    run: [{PY}, -c, "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import os, time; os.setsid(); time.sleep(600)']); print('spawned', flush=True); time.sleep(600)"]
  server:
    run: [{PY}, -c, "import zmq, time; s = zmq.Context().socket(zmq.REP); s.bind('tcp://127.0.0.1:{{rep.port}}'); print('bound', flush=True); time.sleep(600)"]
    sockets:
      rep: {{type: REP, bind: true}}
"""


def read_until(proc, texts: tuple[str, ...], timeout: float = 20) -> list[str]:
    """Lines of zmqrun's output up to the one where every text has appeared."""
    lines: list[str] = []
    for text in texts:
        wait_for(lambda text=text: any(text in line for line in lines) or lines.append(proc.stdout.readline()), timeout)
    return lines


def test_ctrl_c_stops_stubborn_nodes_and_escaped_grandchildren(zmqrun):
    path = zmqrun.write(STUBBORN)
    proc = zmqrun.start(str(path))
    lines = read_until(proc, ("stubborn.3 | up", "parent.1   | spawned", "server.1   | bound"))
    run_id = run_id_of("".join(lines))
    before = run_marker_pids(run_id)
    assert len(before) >= 6  # 3 stubborn, parent, its setsid grandchild, server
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc, 20)
    text = "".join(lines) + out
    assert proc.returncode == 130, text + err
    assert "did not exit" in text and "sending SIGTERM" in text and "sending SIGKILL" in text
    assert run_marker_pids(run_id) == []
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in before)
    assert_clean(text)


def test_output_is_shown_literally(zmqrun):
    script = zmqrun.tmp_path / "evil.py"
    script.write_text(
        "import sys\n"
        "w = sys.stdout.buffer.write\n"
        "w(b'[bold red]x[/] [/bold]\\n')\n"
        "w(b'\\x1b[2Jclear\\x1b]0;title\\x07\\x1b]52;c;aGk=\\x07\\n')\n"
        "w(b'bad \\xff utf8\\n')\n"
        "w(b'y' * 1048576)\n"
        "w(b'\\nlast line')\n"
    )
    path = zmqrun.write(f"nodes:\n  evil:\n    run: [{PY}, evil.py]\n")
    result = zmqrun.run(str(path), "--color")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[bold red]x[/] [/bold]" in out
    assert "\x1b[2J" not in out and "\x1b]" not in out and "\x07" not in out
    assert "clear" in out and "bad \ufffd utf8" in out
    assert re.search(r"evil\.1 \| (\x1b\[0m)?last line$", out, re.MULTILINE)
    ys = [line for line in out.splitlines() if "yyyy" in line]
    assert sum(line.count("y") for line in ys) == 1048576 and len(ys) > 1


def test_invalid_topology_starts_nothing_and_exits_2(zmqrun):
    marker = zmqrun.tmp_path / "started"
    path = zmqrun.write(f"""\
    nodes:
      a:
        run: [{PY}, -c, "open('{marker}', 'w')"]
        sockets:
          s: {{type: PUSHH, bind: true}}
    """)
    result = zmqrun.run(str(path))
    assert result.returncode == 2
    assert "topology.yaml:5 nodes.a.sockets.s.type: unknown socket type 'PUSHH'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_failed_node_is_named_and_sets_status_1(zmqrun):
    path = zmqrun.write(f"nodes:\n  ok:\n    run: [{PY}, -c, 'pass']\n  bad:\n    run: [{PY}, -c, 'raise SystemExit(3)']\n")
    result = zmqrun.run(str(path))
    assert result.returncode == 1
    assert "bad.1 exit 3" in result.stdout
    assert "failed: bad.1" in result.stdout


def test_fixed_port_held_by_someone_else_is_refused_with_holder(zmqrun):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        path = zmqrun.write(f"nodes:\n  a:\n    run: x\n    sockets:\n      s: {{type: REP, bind: {port}}}\n")
        result = zmqrun.run("check", str(path))
    assert result.returncode == 2
    assert f"port {port} is already in use by pid" in result.stderr
    assert "LISTEN" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_run(zmqrun, sig):
    path = zmqrun.write(f"nodes:\n  sleeper:\n    run: [{PY}, -c, \"import time; print('up', flush=True); time.sleep(600)\"]\n")
    proc = zmqrun.start(str(path))
    wait_for(lambda: "up" in proc.stdout.readline(), timeout=20)
    proc.send_signal(sig)
    out, _ = finish(proc, 20)
    assert proc.returncode == 128 + sig
    assert f"received {signal.Signals(sig).name}" in out


def test_sigkill_of_zmqrun_leaves_no_node_behind(zmqrun):
    path = zmqrun.write(STUBBORN)
    proc = zmqrun.start(str(path))
    lines = read_until(proc, ("stubborn.3 | up", "parent.1   | spawned", "server.1   | bound"))
    run_id = run_id_of("".join(lines))
    assert len(run_marker_pids(run_id)) >= 6
    proc.kill()
    proc.wait(timeout=5)
    wait_for(lambda: run_marker_pids(run_id) == [], timeout=3)
    for port in ports_of("".join(lines)):
        wait_for(lambda: bindable(port), timeout=3)


def test_two_runs_of_one_topology_at_once_do_not_collide(zmqrun):
    path = ROOT / "topologies" / "push-pull.yaml"
    first, second = zmqrun.start(str(path)), zmqrun.start(str(path))
    out1, _ = finish(first, 60)
    out2, _ = finish(second, 60)
    assert first.returncode == 0 and second.returncode == 0, out1 + out2
    assert set(ports_of(out1)).isdisjoint(ports_of(out2))
    assert_clean(out1)
    assert_clean(out2)


def test_log_dir_and_json_lines_keep_every_line_through_a_stop(zmqrun):
    # The node finishes its output before it honours SIGINT, so the test knows what must arrive.
    code = ("import os, signal, sys, time\nstop = []\nsignal.signal(signal.SIGINT, lambda *_: stop.append(1))\n"
            "for i in range(5000): print('line', i)\nsys.stdout.write('no newline at the end'); sys.stdout.flush()\n"
            "while not stop: time.sleep(0.01)\nos._exit(0)")
    script = zmqrun.tmp_path / "talker.py"
    script.write_text(code)
    path = zmqrun.write(f"nodes:\n  talker:\n    replicas: 2\n    run: [{PY}, talker.py]\n")
    logs = zmqrun.tmp_path / "logs"
    proc = zmqrun.start(str(path), "--log-dir", str(logs), "--json")
    import threading

    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()  # keep the pipe drained, or zmqrun (rightly) blocks on it
    wait_for(lambda: (logs / "talker.2.log").exists() and (logs / "talker.2.log").read_text().count("\n") >= 5000, timeout=30)
    wait_for(lambda: (logs / "talker.1.log").exists() and (logs / "talker.1.log").read_text().count("\n") >= 5000, timeout=30)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    reader.join(timeout=10)
    out = "".join(chunks)
    import json

    records = [json.loads(line) for line in out.splitlines()]
    assert {r["stream"] for r in records} == {"output", "zmqrun"}
    for replica in (1, 2):
        mine = [r["line"] for r in records if r["node"] == "talker" and r["replica"] == replica]
        assert mine == [f"line {i}" for i in range(5000)] + ["no newline at the end"]
        logged = (logs / f"talker.{replica}.log").read_text().splitlines()
        assert logged == mine
    assert "exit status 130" in (logs / "zmqrun.log").read_text()


def test_out_of_automatic_ports_is_status_2_and_leaves_no_run_directory(zmqrun, tmp_path):
    import socket as socketlib

    held = socketlib.socket()
    for port in range(29999, 20000, -1):  # a port of the default range, outside the ephemeral one
        try:
            held.bind(("127.0.0.1", port))
            break
        except OSError:
            continue
    held.listen()
    try:
        path = zmqrun.write(f"""\
            ports: {port}-{port}
            nodes:
              a:
                run: python3 -c pass
                sockets: {{s: {{type: PULL, bind: true}}}}
            """)
        tmp = tmp_path / "tmpdir"
        tmp.mkdir()
        result = zmqrun.run(str(path), env={"TMPDIR": str(tmp)})
    finally:
        held.close()
    assert result.returncode == 2, result.stderr
    assert f"no free port left in {port}-{port}" in result.stderr
    assert list(tmp.iterdir()) == []


def test_one_process_is_one_process_and_version_is_printed(zmqrun):
    path = zmqrun.write("nodes:\n  a:\n    run: python3 -c pass\n    ready: started\n")
    result = zmqrun.run(str(path))
    assert result.returncode == 0
    assert "topology, 1 process\n" in result.stdout and "| 1 process ready (" in result.stdout
    assert not re.search(r"\b1 (processes|restarts|edges|problems)\b", result.stdout), result.stdout
    version = zmqrun.run("--version")
    assert version.returncode == 0 and version.stdout.startswith("zmqrun 0.")


def test_counts_agree_with_their_noun():
    from orchestrator.view.text import count

    assert [count(n, "process", "processes") for n in (0, 1, 2)] == ["0 processes", "1 process", "2 processes"]
    assert count(1, "restart") == "1 restart" and count(3, "edge") == "3 edges"


def test_one_restart_is_one_restart(zmqrun):
    path = zmqrun.write("""\
        nodes:
          a: {run: "python3 -c 'import sys; sys.exit(3)'", restart: {policy: on-failure, limit: 1, backoff: 10ms}}
        """)
    result = zmqrun.run(str(path), timeout=60)
    assert "gave up after 1 restart" in result.stdout and "1 restarts" not in result.stdout, result.stdout


def test_a_missing_cwd_at_start_is_named_as_the_directory(zmqrun, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    path = zmqrun.write(f"nodes:\n  a:\n    run: python3 -c pass\n    cwd: {gone}\n")
    result = zmqrun.run("check", str(path))
    assert result.returncode == 0
    gone.rmdir()
    result = zmqrun.run(str(path))
    assert result.returncode == 2 and f"nodes.a.cwd: directory {gone} does not exist" in result.stderr


@pytest.mark.parametrize("ending", ["finishes", "cannot start", "SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGKILL"])
def test_no_run_directory_is_left_however_the_run_ends(zmqrun, tmp_path, ending):
    import signal as signallib

    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    forever = ending.startswith("SIG")
    path = zmqrun.write(f"""\
        nodes:
          a:
            run: [python3, -c, "import time; print('up', flush=True); time.sleep({600 if forever else 0})"]
            sockets: {{s: {{type: PULL, bind: true, transport: ipc}}}}
          b:
            run: {"no-such-command-zmqrun-test" if ending == "cannot start" else "python3 -c pass"}
            depends_on: [a]
        """)
    proc = zmqrun.start(str(path), env={"TMPDIR": str(tmp)})
    wait_for(lambda: "| up" in proc.stdout.readline(), timeout=30)
    (rundir,) = tmp.iterdir()  # the run's private directory exists while it runs
    if forever:
        # SIGUSR1 and SIGKILL end zmqrun without its own clean-up: its guardian must do it
        proc.send_signal(getattr(signallib, ending))
    finish(proc, 30)
    wait_for(lambda: not rundir.exists(), timeout=10)
    assert list(tmp.iterdir()) == []


def test_check_leaves_no_run_directory(zmqrun, tmp_path):
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    result = zmqrun.run("check", str(ROOT / "topologies" / "pipeline.yaml"), env={"TMPDIR": str(tmp)})
    assert result.returncode == 0
    assert list(tmp.iterdir()) == []


def test_a_prompt_without_newline_is_shown_before_enter_and_only_once(zmqrun):
    path = zmqrun.write("""\
        nodes:
          asker:
            run: [python3, -c, "import sys, time; sys.stdout.write('your name> '); sys.stdout.flush(); time.sleep(600)"]
            ready: started
        """)
    proc = zmqrun.start(str(path))
    seen: list[str] = []
    # ~150 ms after the node wrote it; the generous deadline is for a loaded 2-core machine.
    wait_for(lambda: seen.append(proc.stdout.readline()) or "your name> " in seen[-1], timeout=20)
    assert seen[-1].rstrip("\n").endswith("asker.1 | your name> ")
    proc.send_signal(signal.SIGINT)
    out, _ = finish(proc, 30)
    assert ("".join(seen) + out).count("your name>") == 1


def test_generated_ipc_paths_bind_under_a_long_tmpdir_and_long_names(zmqrun, tmp_path):
    # Two 63-character names and a TMPDIR of ~110 bytes: each alone would push the readable
    # path past the kernel's 107 bytes. The run's ipc edge must still bind and carry a message.
    tmp = tmp_path / ("d" * max(1, 110 - len(str(tmp_path))))
    tmp.mkdir()
    node, sock = "n" + "x" * 62, "s" + "y" * 62
    path = zmqrun.write(f"""\
        nodes:
          {node}:
            run: [python3, -c, "import zmq, sys; s = zmq.Context().socket(zmq.PULL); s.bind(sys.argv[1]); print('got', s.recv().decode(), flush=True)", "{{{sock}.endpoint}}"]
            sockets: {{{sock}: {{type: PULL, bind: true, transport: ipc}}}}
          sender:
            run: [python3, -c, "import zmq, sys; s = zmq.Context().socket(zmq.PUSH); s.connect(sys.argv[1]); s.send(b'hello'); s.close(linger=5000)", "{{out.endpoint}}"]
            sockets: {{out: {{type: PUSH, connect: {node}.{sock}}}}}
        expect: {{timeout: 30s, exit: {{{node}: 0}}}}
        """)
    result = zmqrun.run(str(path), env={"TMPDIR": str(tmp)}, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| got hello" in result.stdout
    assert list(tmp.iterdir()) == []


def test_help_as_a_word_and_a_folder_given_as_a_file_point_the_way(zmqrun):
    result = zmqrun.run("help")
    assert result.returncode == 0 and result.stdout.startswith("usage: zmqrun") and "COMMAND" in result.stdout
    result = zmqrun.run("help", "free")
    assert result.returncode == 0 and result.stdout.startswith("usage: zmqrun free")
    result = zmqrun.run(str(ROOT / "topologies"))
    assert result.returncode == 2 and "is a folder, not a topology file (`zmqrun test FOLDER`" in result.stderr
