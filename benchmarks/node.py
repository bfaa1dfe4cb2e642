"""Benchmark node: binds a PUB socket on the port given, says so, and waits quietly.
`stubborn` as a further argument makes it ignore SIGINT and SIGTERM; `sub:PORT` connects a SUB
socket to PORT as well (a quiet edge for zmqrun to watch)."""

import os
import signal
import sys
import time

import zmq

port = int(sys.argv[1])
if "stubborn" in sys.argv[2:]:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
ctx = zmq.Context()
sock = ctx.socket(zmq.PUB)
sock.linger = 0
sock.bind(f"tcp://127.0.0.1:{port}")
if os.environ.get("BENCH_BOUND_LOG"):  # when it listened, for zmqrun's "all ready" latency; not on
    with open(os.environ["BENCH_BOUND_LOG"], "a") as f:  # stdout, whose lines would wake zmqrun early
        f.write(f"{time.time()!r}\n")
subs = []
for arg in sys.argv[2:]:
    if arg.startswith("sub:"):
        subs.append(ctx.socket(zmq.SUB))
        subs[-1].linger = 0
        subs[-1].connect(f"tcp://127.0.0.1:{arg[4:]}")
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass
finally:
    sock.close()
    for s in subs:
        s.close()
    ctx.term()
