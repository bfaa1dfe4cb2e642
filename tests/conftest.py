"""Shared test helpers: run zmqrun as a real subprocess, bounded, and clean up by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> object:
    """Poll until `predicate()` is truthy; fail the test at the deadline (never a bare sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Wait for `proc` and return the rest of its stdout and stderr. Use this, not
    `communicate()`, once a test has read lines with `proc.stdout.readline()`: communicate reads
    the raw pipe, so whatever readline had already buffered (a burst printed in one write) would be
    lost. Readers run in threads so a full pipe cannot block the process while we wait."""
    parts: dict[str, str] = {}
    streams = {"out": proc.stdout, "err": proc.stderr}
    readers = [
        threading.Thread(target=lambda k=k, f=f: parts.__setitem__(k, f.read() if f else ""), daemon=True)
        for k, f in streams.items()
    ]
    for r in readers:
        r.start()
    deadline = time.monotonic() + timeout
    for r in readers:
        r.join(max(0.0, deadline - time.monotonic()))
    if any(r.is_alive() for r in readers):
        raise subprocess.TimeoutExpired(proc.args, timeout)
    proc.wait(max(0.1, deadline - time.monotonic()))
    return parts["out"], parts["err"]


def slow_reader(fd: int, into: bytearray, pause: float = 0.0002) -> threading.Thread:
    """A thread reading `fd` into `into` until EOF, pausing after every 4 KB: slower than the
    writer, so the writer keeps finding the pipe full. Join it with a timeout."""

    def run() -> None:
        while chunk := os.read(fd, 4096):
            into.extend(chunk)
            time.sleep(pause)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def run_marker_pids(run_id: str) -> list[int]:
    """Processes carrying a run's marker: after a clean run, there must be none."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("ZMQRUN_RUN_ID") == run_id:
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


class Zmqrun:
    """One zmqrun process started by a test; killed (by PID, with its tree) at teardown."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[str]] = []

    def write(self, text: str, name: str = "topology.yaml") -> Path:
        path = self.tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
            cwd=self.tmp_path,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def run(self, *args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = self.start(*args, env=env)
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def cleanup(self) -> None:
        for proc in self.procs:
            try:
                tree = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                tree = []
            for pid in tree:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                proc.communicate(timeout=5)
            except (subprocess.TimeoutExpired, ValueError):
                pass


@pytest.fixture
def zmqrun(tmp_path: Path):
    z = Zmqrun(tmp_path)
    yield z
    z.cleanup()
