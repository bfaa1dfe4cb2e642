"""Consumer (PULL -> PUSH): passes each number on to the collector, tagged with its id. With
--leave-after N it exits with status 1 after N numbers on its first run (a worker that dies
mid-run), to come back by restart policy."""

from __future__ import annotations

import argparse
import json
import os

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--leave-after", type=int, default=0)
    ap.add_argument("--leaving-replica", type=int, default=1, help="which replica leaves")
    args = ap.parse_args()
    first_run = os.environ.get("ZMQRUN_RESTARTS", "0") == "0"
    with Node() as node:
        me = f"{node.name}.{node.replica}"
        inp, out = node.socket("in"), node.socket("out")
        print(f"My consumer id: {me}" + ("" if first_run else " (back after a restart)"))
        handled = 0
        while True:
            task = node.recv(inp)
            assert task is not None
            value = json.loads(task)["number"]
            print(f"Processing {value}")
            if args.delay:
                node.sleep(args.delay)
            out.send_json({"from": me, "number": value})
            handled += 1
            leaving = args.leave_after and first_run and node.replica == args.leaving_replica
            if leaving and handled == args.leave_after:
                print(f"leaving after {handled} numbers")
                raise SystemExit(1)


if __name__ == "__main__":
    main()
