"""The listener audit: a node listening where its topology did not declare is named after it is
ready (a warning; an error with --strict). The decision is a pure function, tested as a table."""

from __future__ import annotations

import re
import socket

import pytest

from orchestrator.run.audit import undeclared


@pytest.mark.parametrize(
    "allowed, found, expected",
    [
        ([("127.0.0.1", 5000)], [("127.0.0.1", 5000)], []),
        ([("127.0.0.1", 5000)], [("0.0.0.0", 5000)], [("0.0.0.0", 5000)]),  # wildcard where loopback was declared
        ([("127.0.0.1", 5000)], [("::", 5000)], [("::", 5000)]),
        ([("*", 5000)], [("0.0.0.0", 5000)], []),
        ([("0.0.0.0", 5000)], [("::", 5000), ("127.0.0.1", 5000)], []),
        ([("127.0.0.1", 5000)], [("127.0.0.1", 5001)], [("127.0.0.1", 5001)]),  # a port nobody declared
        ([], [("127.0.0.1", 6000)], [("127.0.0.1", 6000)]),
        ([("localhost", 5000)], [("::1", 5000), ("127.0.0.1", 5000)], []),
    ],
)
def test_undeclared_listeners(allowed, found, expected):
    assert undeclared(allowed, found) == expected


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LISTENER = "import socket, time; s = socket.socket(); s.bind(('0.0.0.0', {port})); s.listen(); print('up', flush=True); time.sleep(600)"


def _topology(zmqrun, extra_port: int) -> str:
    return str(zmqrun.write(f"""\
        nodes:
          declared:
            run: [python3, -c, "import zmq, time; s = zmq.Context().socket(zmq.PULL); s.bind('tcp://127.0.0.1:{{s.port}}'); time.sleep(600)"]
            sockets: {{s: {{type: PULL, bind: true}}}}
          sneaky:
            run: [python3, -c, "{LISTENER.format(port=extra_port)}"]
            ready: {{log: up}}
          stopper:
            run: [python3, -c, "import time; time.sleep(1)"]
            depends_on: [sneaky, declared]
            exit_on_end: true
        """))


def test_an_undeclared_wildcard_listener_is_a_warning(zmqrun):
    port = _free_port()
    result = zmqrun.run(_topology(zmqrun, port), timeout=60)
    assert result.returncode == 0, result.stdout
    assert f"warning: sneaky.1 listens on 0.0.0.0:{port}, which the topology does not declare" in result.stdout
    assert "declared.1 listens" not in result.stdout  # what was declared is not reported


def test_with_strict_it_fails_the_run(zmqrun):
    port = _free_port()
    result = zmqrun.run(_topology(zmqrun, port), "--strict", timeout=60)
    assert result.returncode == 1, result.stdout
    assert f"error: sneaky.1 listens on 0.0.0.0:{port}, which the topology does not declare (--strict)" in result.stdout


def test_a_declared_port_bound_on_the_wildcard_is_reported(zmqrun):
    # The port is the declared one; the address is not: loopback was declared, `*` was bound.
    path = zmqrun.write("""\
        nodes:
          w:
            run: [python3, -c, "import zmq, time, sys; s = zmq.Context().socket(zmq.PULL); s.bind('tcp://*:' + sys.argv[1]); print('bound', flush=True); time.sleep(600)", "{s.port}"]
            sockets: {s: {type: PULL, bind: true}}
          stopper:
            run: [python3, -c, "import time; time.sleep(3)"]  # slack for the audit on a loaded machine
            depends_on: [w]
            exit_on_end: true
        """)
    result = zmqrun.run(str(path), timeout=60)
    assert result.returncode == 0, result.stdout
    assert re.search(r"warning: w\.1 listens on 0\.0\.0\.0:\d+, which the topology does not declare", result.stdout), result.stdout
