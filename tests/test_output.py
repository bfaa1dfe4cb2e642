"""How node output reaches zmqrun under each `buffering` setting: every line present, whole and
in order; prompt and kept through SIGKILL with the default pseudo-terminal; what nodes see."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import zlib

import pytest
from conftest import finish, slow_reader, wait_for

from orchestrator.run import process

PY = sys.executable

TALKER = (
    "import sys, zlib\n"
    "name, count = sys.argv[1], int(sys.argv[2])\n"
    "for i in range(count):\n"
    "    body = f'{name} {i:07d} the quick brown fox jumps over the lazy'\n"
    "    print(body, f'{zlib.crc32(body.encode()):08x}')\n"
)
LINE = re.compile(r"^(t\d)\.1 +\| (t\d) (\d{7}) (the quick brown fox jumps over the lazy) ([0-9a-f]{8})$")


def check_lines(out: str, names: list[str], count: int) -> None:
    """Every line of every node there, whole (checksum), in per-node order, nothing else torn."""
    seen = dict.fromkeys(names, 0)
    for raw in out.splitlines():
        m = LINE.match(raw)
        if not m:
            assert "quick" not in raw, f"torn or mixed line: {raw!r}"
            continue
        label, name, seq, body = m.group(1), m.group(2), int(m.group(3)), m.group(4)
        assert label == name, raw
        assert f"{zlib.crc32(f'{name} {seq:07d} {body}'.encode()):08x}" == m.group(5), raw
        assert seq == seen[name], f"{name}: line {seq} where {seen[name]} was due"
        seen[name] += 1
    assert seen == dict.fromkeys(names, count)


@pytest.mark.parametrize("buffering", [None, "full", "unbuffered"])
def test_every_line_of_chatty_nodes_is_present_whole_and_in_order(zmqrun, buffering):
    (zmqrun.tmp_path / "talker.py").write_text(TALKER)
    setting = f"    buffering: {buffering}\n" if buffering else ""
    nodes = "".join(f"  t{i}:\n    run: [{PY}, talker.py, t{i}, '20000']\n{setting}" for i in range(3))
    path = zmqrun.write("nodes:\n" + nodes)
    result = zmqrun.run(str(path), timeout=120)
    assert result.returncode == 0, result.stderr
    check_lines(result.stdout, ["t0", "t1", "t2"], 20000)


@pytest.mark.parametrize("stdout", ["raw, signals while it waits", "non-blocking"])
def test_no_line_is_torn_or_lost_on_a_slow_reader_whatever_the_stdout(zmqrun, stdout):
    """zmqrun's own stdout: raw when PYTHONUNBUFFERED is set (as in many containers and CI), where
    a write cut short by a signal used to lose the rest of its chunk; or a pipe another holder made
    non-blocking, where a full pipe used to lose it (raw) or crash the run (buffered)."""
    (zmqrun.tmp_path / "talker.py").write_text(TALKER)
    nodes = "".join(f"  t{i}:\n    run: [{PY}, talker.py, t{i}, '20000']\n    buffering: full\n" for i in range(3))
    path = zmqrun.write("nodes:\n" + nodes)
    r, w = os.pipe()
    unbuffered = stdout.startswith("raw")
    if not unbuffered:
        os.set_blocking(w, False)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1" if unbuffered else ""}
    proc = subprocess.Popen([PY, "-m", "orchestrator", str(path)], stdout=w, stderr=subprocess.PIPE,
                            env=env, cwd=zmqrun.tmp_path, start_new_session=True)  # fmt: skip
    zmqrun.procs.append(proc)
    os.close(w)
    done = threading.Event()

    def storm() -> None:  # SIGCHLD runs zmqrun's handler: a write waiting for room returns short
        while not done.wait(0.0005):
            try:
                os.kill(proc.pid, signal.SIGCHLD)
            except ProcessLookupError:
                return

    if unbuffered:
        threading.Thread(target=storm, daemon=True).start()
    got = bytearray()
    reader = slow_reader(r, got, pause=0.0005)  # zmqrun keeps finding the pipe full
    reader.join(timeout=120)
    done.set()
    assert not reader.is_alive(), "the run did not end"
    os.close(r)
    _, err = finish(proc, 60)
    assert proc.returncode == 0, err
    check_lines(got.decode(), ["t0", "t1", "t2"], 20000)


PROBE = (
    "import json, os, sys\n"
    "try:\n"
    "    os.close(os.open('/dev/tty', os.O_RDWR)); tty = True\n"
    "except OSError:\n"
    "    tty = False\n"
    "print(json.dumps({'stdout': sys.stdout.isatty(), 'stderr': sys.stderr.isatty(), 'stdin': sys.stdin.isatty(),\n"
    "                  'controlling_tty': tty, 'size': list(os.get_terminal_size()) if sys.stdout.isatty() else None,\n"
    "                  'line_buffering': sys.stdout.line_buffering}))\n"
)


@pytest.mark.parametrize(
    ("buffering", "expected"),
    [
        (None, {"stdout": True, "stderr": True, "stdin": False, "controlling_tty": False, "size": [80, 24],
                "line_buffering": True}),
        ("full", {"stdout": False, "stderr": False, "stdin": False, "controlling_tty": False, "size": None,
                  "line_buffering": False}),
    ],
)  # fmt: skip
def test_what_a_node_that_checks_isatty_sees(zmqrun, buffering, expected):
    (zmqrun.tmp_path / "probe.py").write_text(PROBE)
    setting = f"\n    buffering: {buffering}" if buffering else ""
    # An empty PYTHONUNBUFFERED is unset to Python, whatever the environment of the test run says.
    path = zmqrun.write(f"nodes:\n  probe:\n    run: [{PY}, probe.py]\n    env: {{PYTHONUNBUFFERED: ''}}{setting}\n")
    result = zmqrun.run(str(path))
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("probe.1"))
    assert json.loads(line.split("| ", 1)[1]) == expected


@pytest.mark.parametrize(
    "program",
    [
        [PY, "-c", "import time; print('hello from python'); time.sleep(600)"],
        # perl's stdio, like C's, flushes each line only on a terminal
        ["perl", "-e", "print qq(hello from perl\\n); sleep 600"],
    ],
)
def test_a_line_appears_while_the_node_still_runs(zmqrun, program):
    path = zmqrun.write(f"nodes:\n  quiet:\n    run: {json.dumps(program)}\n    ready: started\n")
    proc = zmqrun.start(str(path))
    lines: list[str] = []
    wait_for(lambda: any("| hello from" in line for line in lines) or lines.append(proc.stdout.readline()), 20)
    proc.send_signal(signal.SIGINT)
    finish(proc, 20)


def test_lines_printed_before_a_sigkill_are_kept(zmqrun):
    code = "import os, signal\nfor i in range(500):\n    print(f'line {i:03d}')\nos.kill(os.getpid(), signal.SIGKILL)\n"
    (zmqrun.tmp_path / "die.py").write_text(code)
    path = zmqrun.write(f"nodes:\n  die:\n    run: [{PY}, die.py]\n")
    result = zmqrun.run(str(path))
    assert "killed by SIGKILL" in result.stdout
    got = [line.split("| ", 1)[1] for line in result.stdout.splitlines() if line.startswith("die.1")]
    assert got == [f"line {i:03d}" for i in range(500)]


def test_no_pty_falls_back_to_a_pipe_with_a_note(monkeypatch):
    def no_pty() -> tuple[int, int]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "openpty", no_pty)
    r, w, note = process.output_channel("line")
    try:
        assert not os.isatty(w) and note is not None and "no pseudo-terminal" in note
    finally:
        os.close(r)
        os.close(w)
    for setting in ("full", "unbuffered"):
        r, w, note = process.output_channel(setting)
        os.close(r)
        os.close(w)
        assert note is None
