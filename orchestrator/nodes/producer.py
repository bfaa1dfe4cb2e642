"""Producer (PUSH): waits for its consumers, pushes --count random numbers 1-5 (or 1..N with
--sequence) as JSON, and prints the total the collector must reach."""

from __future__ import annotations

import argparse
import random

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--sequence", action="store_true", help="send 1, 2, ... instead of random numbers")
    args = ap.parse_args()
    with Node() as node:
        sock = node.socket("out")
        node.wait_for_peers("out", timeout=10)
        total = 0
        for i in range(1, args.count + 1):
            value = i if args.sequence else random.randint(1, 5)
            print(f"Dispatching {{'number': {value}}}")
            sock.send_json({"number": value})
            total += value
            node.sleep(args.interval)
        print(f"Expected final total: {total}")


if __name__ == "__main__":
    main()
