"""Replier (REP): prints each request and answers it, until stopped."""

from __future__ import annotations

import argparse

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds of pretend work per request")
    ap.add_argument("--reply", default="Hi from {node}.{replica}")
    args = ap.parse_args()
    with Node() as node:
        sock = node.socket("rep")
        while True:
            request = node.recv_string(sock)
            print(f"Received request: {request}")
            if args.delay:
                node.sleep(args.delay)
            sock.send_string(args.reply.format(node=node.name, replica=node.replica))


if __name__ == "__main__":
    main()
