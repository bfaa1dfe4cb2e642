"""Weather publisher (PUB): random temperatures on ZIP-code topics, "ZIP TEMP SOURCE", until
stopped (or --count). Waits for its expected subscribers first, so none misses the start."""

from __future__ import annotations

import argparse
import random

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--zips", default="9999-10004", help="range of ZIP codes to publish")
    ap.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.zips.split("-"))
    with Node() as node:
        sock = node.socket("out")
        node.wait_for_peers("out", timeout=5)
        source = f"{node.name}.{node.replica}"
        sent = 0
        while not args.count or sent < args.count:
            zipcode, temperature = random.randint(lo, hi), random.randrange(-80, 135)
            print(f"Topic: {zipcode}, Message: {temperature}, Source: {source}")
            sock.send_string(f"{zipcode} {temperature} {source}")
            sent += 1
            node.sleep(args.interval)


if __name__ == "__main__":
    main()
