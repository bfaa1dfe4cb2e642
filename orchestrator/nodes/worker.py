"""Task worker: pulls workloads, "works" for that many milliseconds, pushes a result. With a
`control` SUB socket, any message there ends it (the kill-signal pattern)."""

from __future__ import annotations

import argparse

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--speed", type=float, default=1.0, help="divide every workload by this")
    args = ap.parse_args()
    with Node() as node:
        tasks, results = node.socket("tasks"), node.socket("results")
        control = node.socket("control") if "control" in node.spec else None
        watched = [tasks] + ([control] if control else [])
        done = 0
        while True:
            ready = node.poll(watched)
            if control is not None and control in ready:
                print(f"kill signal received after {done} tasks")
                return
            if tasks in ready:
                workload = int(tasks.recv())
                node.sleep(workload / 1000 / args.speed)
                results.send_string(f"{node.name}.{node.replica} {workload}")
                done += 1
                print(f"task {done}: {workload} ms")


if __name__ == "__main__":
    main()
