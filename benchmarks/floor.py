"""The stop floor: starts the benchmark nodes (each in a session of its own, as zmqrun does) and,
on Ctrl-C, sends every node SIGINT and waits for them all; nothing else, and nothing imported
that it does not need. Usage: floor.py NODE_COMMAND... -- PORT..."""

import signal
import subprocess
import sys

cut = sys.argv.index("--")
node, ports = sys.argv[1:cut], sys.argv[cut + 1 :]
procs = [subprocess.Popen([*node, port], start_new_session=True) for port in ports]
try:
    signal.pause()
except KeyboardInterrupt:
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        p.wait()
