"""`zmqrun free` stops a listener of a zmqrun run and refuses an unrelated one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psutil
import pytest
from conftest import wait_for

LISTENER = "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(600)"


def start_listener(env_extra: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, **env_extra}
    proc = subprocess.Popen([sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True, env=env)
    return proc, int(proc.stdout.readline())


def listening(port: int) -> bool:
    return any(c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in psutil.net_connections("tcp"))


def test_free_stops_a_runs_listener_and_leaves_others_alone(zmqrun):
    ours, our_port = start_listener({"ZMQRUN_RUN_ID": "zr-leftover01"})
    other, other_port = start_listener({})
    try:
        wait_for(lambda: listening(our_port) and listening(other_port))
        result = zmqrun.run("free", str(our_port), str(other_port), env={"CI": "true"}, timeout=30)
        out = result.stdout
        assert f"port {our_port}: stopped pid {ours.pid} of zmqrun run zr-leftover01" in out
        assert f"port {other_port}: left alone pid {other.pid}: not started by zmqrun" in out
        assert result.returncode == 1  # the other port is still held
        assert ours.wait(timeout=5) is not None
        assert other.poll() is None and listening(other_port)
    finally:
        for proc in (ours, other):
            proc.kill()
            proc.wait(timeout=5)


def test_free_port_reports_free(zmqrun):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = zmqrun.run("free", str(port))
    assert result.returncode == 0 and f"port {port}: free" in result.stdout


@pytest.mark.parametrize("port", ["0", "65536", "-5", "http"])
def test_a_port_out_of_range_is_a_usage_error_not_free(zmqrun, port):
    result = zmqrun.run("free", port)
    assert result.returncode == 2 and "a port is a number 1-65535" in result.stderr, result
    assert "free" not in result.stdout
