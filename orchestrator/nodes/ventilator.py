"""Task ventilator: waits for its workers (and the sink), sends the start-of-batch signal to the
sink, then pushes N random workloads round-robin. No "press Enter" needed."""

from __future__ import annotations

import argparse
import random

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--max-ms", type=int, default=100, help="largest workload in milliseconds")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with Node() as node:
        tasks = node.socket("tasks")
        workers = node.wait_for_peers("tasks")
        print(f"{workers} workers connected; sending {args.tasks} tasks")
        if "sink" in node.spec:
            node.wait_for_peers("sink")
            node.socket("sink").send(b"0")  # start of batch
        total = 0
        for _ in range(args.tasks):
            workload = rng.randint(1, args.max_ms)
            total += workload
            tasks.send_string(str(workload))
        print(f"Total expected cost: {total} msec")


if __name__ == "__main__":
    main()
