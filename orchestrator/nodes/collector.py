"""Collector (PULL): sums --count numbers from the consumers, prints who sent what and the
final total, and exits 0."""

from __future__ import annotations

import argparse
import collections
from typing import Any

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=10)
    args = ap.parse_args()
    with Node() as node:
        sock = node.socket("in")
        total = 0
        per: collections.Counter[str] = collections.Counter()
        for _ in range(args.count):
            msg: dict[str, Any] = sock.recv_json()  # type: ignore[assignment]
            per[msg["from"]] += 1
            total += msg["number"]
            print(f"Received {msg['number']} from consumer {msg['from']}; total so far: {total}")
        print("numbers per consumer: " + ", ".join(f"{k}: {v}" for k, v in sorted(per.items())))
        print(f"Final total: {total}")


if __name__ == "__main__":
    main()
