"""Reads a PULL (`tasks`) and a SUB (`weather`) socket together with one poller, and exits
after --tasks tasks and --updates weather updates."""

from __future__ import annotations

import argparse
import json

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--updates", type=int, default=5)
    ap.add_argument("--topic", default="10001")
    args = ap.parse_args()
    with Node() as node:
        tasks, weather = node.socket("tasks"), node.socket("weather", subscribe=args.topic + " ")
        got_tasks = got_updates = 0
        while got_tasks < args.tasks or got_updates < args.updates:
            for sock in node.poll([tasks, weather]):
                if sock is tasks:
                    got_tasks += 1
                    print(f"task: {json.loads(tasks.recv())['number']}")
                else:
                    got_updates += 1
                    print(f"weather: {weather.recv_string()}")
        print(f"received {got_tasks} tasks and {got_updates} weather updates")


if __name__ == "__main__":
    main()
