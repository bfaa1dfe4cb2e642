"""Data-plane roles for the benchmarks, each its own process:

    dataplane.py send ENDPOINT COUNT SIZE raw|helper|curve           PUSH, connects
    dataplane.py recv ENDPOINT COUNT raw|helper|curve bind|connect   PULL; prints messages/second
    dataplane.py proxy FRONTEND BACKEND                     a bare zmq.proxy (PULL -> PUSH), both bind

The helper variants get their socket from orchestrator.node exactly as under zmqrun; `curve` is
the helper with `security: curve`, its keys in the ZMQRUN_CURVE_* variables as zmqrun sets them
and the peer's public key in DATAPLANE_CURVE (the extra socket spec zmqrun would add)."""

from __future__ import annotations

import json
import os
import sys
import time

import zmq


def helper_socket(name: str, kind: str, bind: bool, endpoint: str) -> tuple[object, zmq.Socket[bytes]]:
    spec = {"type": kind, "bind": bind, "endpoints": [endpoint], "peers": 1, **json.loads(os.environ.get("DATAPLANE_CURVE", "{}"))}
    os.environ["ZMQRUN_SOCKETS"] = json.dumps({name: spec})
    from orchestrator.node import Node

    node = Node()
    return node, node.socket(name)


def send(endpoint: str, count: int, size: int, flavour: str) -> None:
    if flavour in ("helper", "curve"):
        node, sock = helper_socket("out", "PUSH", False, endpoint)
    else:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.PUSH)
        sock.linger = 1000
        sock.connect(endpoint)
    payload = b"x" * size
    for _ in range(count):
        sock.send(payload)
    if flavour in ("helper", "curve"):
        node.close()  # type: ignore[attr-defined]
    else:
        sock.close()
        ctx.term()


def recv(endpoint: str, count: int, flavour: str, mode: str) -> None:
    if flavour in ("helper", "curve"):
        node, sock = helper_socket("in", "PULL", mode == "bind", endpoint)
    else:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.PULL)
        (sock.bind if mode == "bind" else sock.connect)(endpoint)
    print("ready", flush=True)
    sock.recv()
    start = time.perf_counter()
    for _ in range(count - 1):
        sock.recv()
    elapsed = time.perf_counter() - start
    print(f"{(count - 1) / elapsed:.0f}", flush=True)
    if flavour in ("helper", "curve"):
        node.close()  # type: ignore[attr-defined]
    else:
        sock.close(linger=0)
        ctx.term()


def proxy(frontend: str, backend: str) -> None:
    ctx = zmq.Context()
    front, back = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    front.bind(frontend)
    back.bind(backend)
    print("ready", flush=True)
    try:
        zmq.proxy(front, back)
    except (KeyboardInterrupt, zmq.ContextTerminated):
        pass


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "send":
        send(args[0], int(args[1]), int(args[2]), args[3])
    elif role == "recv":
        recv(args[0], int(args[1]), args[2], args[3])
    else:
        proxy(args[0], args[1])
