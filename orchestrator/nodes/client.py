"""Lab 03 client: reads lines from stdin, sends each to the broker (REQ `inputs`), and prints
the answers published on `outputs` (SUB). At the end of input it waits up to --wait seconds for
answers still owed, then exits (status 1 if any never came)."""

from __future__ import annotations

import argparse
import sys

from orchestrator.node import Node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--wait", type=float, default=5.0)
    args = ap.parse_args()
    with Node() as node:
        inputs, outputs = node.socket("inputs"), node.socket("outputs")
        node.wait_for_peers("outputs", timeout=5)  # our subscription reaches the broker first
        owed = 0
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            print(f"> {line}")
            inputs.send_string(line)
            print(node.recv_string(inputs))
            owed += 1
            while (answer := node.recv_string(outputs, timeout=0.05)) is not None:
                print(answer)
                owed -= 1
        while owed and (answer := node.recv_string(outputs, timeout=args.wait)) is not None:
            print(answer)
            owed -= 1
        print("Terminating client" + (f": {owed} answers never came" if owed else ""))
        raise SystemExit(1 if owed else 0)


if __name__ == "__main__":
    main()
