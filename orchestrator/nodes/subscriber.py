"""Weather subscriber (SUB): filters one topic, prints each reading and the running mean, and
exits after --count readings."""

from __future__ import annotations

import argparse

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--topic", default="10001")
    ap.add_argument("--count", type=int, default=10)
    args = ap.parse_args()
    with Node() as node:
        sock = node.socket("feed", subscribe=args.topic + " " if args.topic else "")
        mean = 0.0
        for i in range(1, args.count + 1):
            topic, temperature, source = node.recv_string(sock).split()
            mean += (float(temperature) - mean) / i
            print(f"Topic: {topic}, Message: {temperature}, Source: {source}")
            print(f"  Running average for {topic} over {i} message(s): {mean:.2f}")
        print(f"Final average for {args.topic}: {mean:.2f}")


if __name__ == "__main__":
    main()
