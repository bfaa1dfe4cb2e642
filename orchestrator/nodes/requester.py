"""Requester (REQ): sends --count requests with its own id, prints every reply, exits 0."""

from __future__ import annotations

import argparse

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--id", default=None, help="client id (default: the replica number)")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--interval", type=float, default=0.0)
    args = ap.parse_args()
    with Node() as node:
        client = args.id or str(node.replica)
        sock = node.socket("req")
        for i in range(1, args.count + 1):
            print(f"Sending request {i} from client {client}")
            sock.send_string(f"Hello from client {client}")
            reply = node.recv_string(sock)
            print(f"Received reply '{reply}' to request {i} from client {client}")
            if args.interval:
                node.sleep(args.interval)
        print(f"client {client} done")


if __name__ == "__main__":
    main()
