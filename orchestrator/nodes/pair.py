"""Exclusive pair. The server sends a greeting and prints what comes back, forever; a client
answers --count greetings and exits. With --timeout, a client that gets no greeting in time says
it was not served (a PAIR serves one peer at a time) and exits 0."""

from __future__ import annotations

import argparse

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("role", choices=["server", "client"])
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=None)
    args = ap.parse_args()
    with Node() as node:
        sock = node.socket("pair")
        if args.role == "server":
            while True:
                sock.send_string("Server message to Client")
                while (reply := node.recv_string(sock, timeout=args.interval)) is not None:
                    print(f"server received: {reply}")
                node.sleep(args.interval)
        for i in range(1, args.count + 1):
            message = node.recv_string(sock, timeout=args.timeout if i == 1 else None)
            if message is None:
                print(f"not served: no message from the server within {args.timeout:g}s (the pair is taken)")
                return
            print(f"client received {i}: {message}")
            sock.send_string(f"Hello {i} from client {node.replica}")
        print("client done")


if __name__ == "__main__":
    main()
