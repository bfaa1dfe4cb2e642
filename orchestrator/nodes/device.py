"""Built-in ZeroMQ devices: queue (ROUTER/DEALER), forwarder (XSUB/XPUB), streamer (PULL/PUSH),
each `zmq.proxy(frontend, backend)` with a clean, prompt exit on SIGINT or SIGTERM."""

from __future__ import annotations

import sys

import zmq

from orchestrator.node import Node


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "queue"
    with Node() as node:
        frontend, backend = node.socket("frontend"), node.socket("backend")
        print(f"{kind} device: {' '.join(node.spec['frontend']['endpoints'])} <-> {' '.join(node.spec['backend']['endpoints'])}")
        try:
            zmq.proxy(frontend, backend)
        except zmq.ContextTerminated:
            pass


if __name__ == "__main__":
    main()
