"""Task sink: waits for the start-of-batch signal, collects N results, reports the elapsed
time and how the work was shared, then exits 0. With a `control` PUB socket it then tells the
workers to stop (the kill-signal pattern)."""

from __future__ import annotations

import argparse
import collections
import time

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--expect", type=int, default=100, help="how many results make a batch")
    ap.add_argument("--no-start", action="store_true", help="do not wait for a start-of-batch message")
    args = ap.parse_args()
    with Node() as node:
        results = node.socket("results")
        control = node.socket("control") if "control" in node.spec else None
        if control is not None:
            node.wait_for_peers("control")
        start = time.monotonic()
        started = args.no_start
        per_worker: collections.Counter[str] = collections.Counter()
        total_ms = 0
        while sum(per_worker.values()) < args.expect:
            message = results.recv()
            if message == b"0":  # the ventilator's start of batch; a result may even overtake it
                start, started = time.monotonic(), True
                print("batch started")
                continue
            sender, workload = message.decode().split()
            per_worker[sender] += 1
            total_ms += int(workload)
        if not started:
            print("warning: the start-of-batch signal never came; timing from the sink's start")
        elapsed = (time.monotonic() - start) * 1000
        shares = ", ".join(f"{w}: {n}" for w, n in sorted(per_worker.items()))
        print(f"results per worker: {shares}")
        print(f"Total work done: {total_ms} msec")
        print(f"Total elapsed time: {elapsed:.0f} msec")
        if control is not None:
            control.send(b"KILL")
            print("kill signal sent")


if __name__ == "__main__":
    main()
