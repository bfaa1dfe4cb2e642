"""The stop floor: starts the benchmark nodes (each in a session of its own, as zmqrun does) and,
on Ctrl-C, sends every node SIGINT and waits for them all; nothing else. Usage: floor.py PORT..."""

import signal
import subprocess
import sys

from launchers import node_cmd

procs = [subprocess.Popen(node_cmd(int(port)), start_new_session=True) for port in sys.argv[1:]]
try:
    signal.pause()
except KeyboardInterrupt:
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        p.wait()
