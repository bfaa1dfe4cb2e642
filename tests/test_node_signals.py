"""The node helper stops cleanly on a stop signal whenever it lands, even in the middle of its own
set-up of a socket (a Kubernetes SIGTERM to a pod just started; Ctrl-C during start-up): the
with-block ends, every socket is closed, and the context terminates instead of waiting for ever
in Context.term() for a socket nothing closes."""

from __future__ import annotations

import subprocess
import sys

# One process tries every point: for N = 1, 2, ... the stop signal is sent at the N-th line that
# Python runs inside node.socket() (the helper's, the handshake guard's and pyzmq's own Python
# code), until a socket() call runs to its end before line N. A watchdog thread ends the process
# with a traceback if any close() hangs.
SCRIPT = """
import faulthandler, json, os, signal, sys
from orchestrator import node as helper

env = {"ZMQRUN_NODE": "n", "ZMQRUN_SOCKETS": json.dumps(
    {"out": {"type": "PUSH", "bind": True, "endpoints": ["tcp://127.0.0.1:0"]}})}
for n in range(1, 5000):
    print(n, flush=True)
    faulthandler.dump_traceback_later(15, exit=True)
    lines = 0
    def tracer(frame, event, arg):
        global lines
        if event == "line":
            lines += 1
            if lines == n:
                os.kill(os.getpid(), signal.SIGTERM)
        return tracer
    stopped = True
    with helper.Node(environ=env) as node:
        sys.settrace(tracer)
        try:
            node.socket("out")
        finally:
            sys.settrace(None)
        stopped = False  # socket() ran to its end: no line N inside it, or the signal came after
    faulthandler.cancel_dump_traceback_later()
    assert stopped or lines < n, f"the signal at line {n} of {lines} did not stop the node"
    if lines < n:
        print("every point tried", flush=True)
        break
"""


def test_a_stop_signal_anywhere_in_socket_set_up_ends_the_node_cleanly():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    tried = done.stdout.splitlines()
    assert done.returncode == 0, f"stopped at point {tried[-1:]}: {done.stderr[-2000:]}"
    assert tried[-1] == "every point tried" and len(tried) > 20  # socket() has many lines to cut
