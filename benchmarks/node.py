"""Benchmark node: binds a PUB socket on the port given, says so, and waits quietly.
`stubborn` as a second argument makes it ignore SIGINT and SIGTERM."""

import os
import signal
import sys
import time

import zmq

port = int(sys.argv[1])
if len(sys.argv) > 2 and sys.argv[2] == "stubborn":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
ctx = zmq.Context()
sock = ctx.socket(zmq.PUB)
sock.linger = 0
sock.bind(f"tcp://127.0.0.1:{port}")
if os.environ.get("BENCH_BOUND_LOG"):  # when it listened, for zmqrun's "all ready" latency; not on
    with open(os.environ["BENCH_BOUND_LOG"], "a") as f:  # stdout, whose lines would wake zmqrun early
        f.write(f"{time.time()!r}\n")
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass
finally:
    sock.close()
    ctx.term()
