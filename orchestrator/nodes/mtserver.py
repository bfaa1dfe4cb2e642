"""Multithreaded server: a ROUTER facing clients, a DEALER over inproc to --threads REP worker
threads, joined by zmq.proxy, all in one process sharing one context."""

from __future__ import annotations

import argparse
import threading

import zmq

from orchestrator.node import Node

WORKERS = "inproc://workers"


def worker(context: zmq.Context[zmq.Socket[bytes]], index: int) -> None:
    sock = context.socket(zmq.REP)
    sock.linger = 0
    sock.connect(WORKERS)
    try:
        while True:
            request = sock.recv_string()
            print(f"thread {index} received request: {request}")
            sock.send_string(f"World from thread {index}")
    except zmq.ContextTerminated:
        pass
    finally:
        sock.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=5)
    args = ap.parse_args()
    with Node() as node:
        clients = node.socket("clients")
        workers = node.context.socket(zmq.DEALER)
        workers.linger = 0
        workers.bind(WORKERS)
        node._sockets["workers"] = workers  # closed with the others on the way out
        for i in range(1, args.threads + 1):
            threading.Thread(target=worker, args=(node.context, i), daemon=True).start()
        print(f"serving with {args.threads} worker threads")
        try:
            zmq.proxy(clients, workers)
        except zmq.ContextTerminated:
            pass


if __name__ == "__main__":
    main()
