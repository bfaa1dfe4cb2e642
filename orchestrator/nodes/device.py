"""Built-in ZeroMQ devices: queue (ROUTER/DEALER), forwarder (XSUB/XPUB), streamer (PULL/PUSH),
each `zmq.proxy(frontend, backend)` with a clean, prompt exit on SIGINT or SIGTERM."""

from __future__ import annotations

import argparse

import zmq

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("kind", nargs="?", default="queue", choices=["queue", "forwarder", "streamer"],
                    help="what `device:` names in the topology; the sockets say the rest")  # fmt: skip
    kind = ap.parse_args().kind
    with Node() as node:
        frontend, backend = node.socket("frontend"), node.socket("backend")
        print(f"{kind} device: {' '.join(node.spec['frontend']['endpoints'])} <-> {' '.join(node.spec['backend']['endpoints'])}")
        try:
            zmq.proxy(frontend, backend)
        except zmq.ContextTerminated:
            pass


if __name__ == "__main__":
    main()
