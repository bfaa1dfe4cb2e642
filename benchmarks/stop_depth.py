"""Stop time against topology depth: a chain of N PUSH/PULL stages against N independent nodes,
the same cooperative node program in both (it takes 0.6 s to finish after SIGINT). The flat run
is the baseline measured in the same run; the promise is that depth adds at most the 1 s wave
budget, so chain ≤ grace + 1.5 s whatever N. Usage (from the repository root):

    .venv/bin/python benchmarks/stop_depth.py [--reps 3] [--depth 20] [--grace 2]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
STAGE = """\
import sys, time
from orchestrator.node import Node
k, n, chain = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "chain"
with Node(linger_ms=0) as node:
    src = node.socket("in") if chain and k > 1 else None
    dst = node.socket("out") if chain and k < n else None
    print("up", flush=True)
    while True:
        if src is None:
            if dst is not None:
                node.send(dst, b"x")
            node.sleep(0.01)
        else:
            msg = node.recv(src)
            if dst is not None:
                node.send(dst, msg)
time.sleep(0.6)  # cooperative but not instant
"""


def topology(n: int, grace: float, chain: bool) -> str:
    lines = [f"grace: {grace}s", "nodes:"]
    for k in range(1, n + 1):
        lines += [f"  s{k}:", f"    run: [{PY}, stage.py, '{k}', '{n}', '{'chain' if chain else 'flat'}']"]
        if chain:
            lines.append("    sockets:")
            if k > 1:
                lines.append(f"      in: {{type: PULL, connect: s{k - 1}.out}}")
            if k < n:
                lines.append("      out: {type: PUSH, bind: true}")
    return "\n".join(lines) + "\n"


def stop_once(work: Path, n: int, grace: float, chain: bool) -> float:
    path = work / ("chain.yaml" if chain else "flat.yaml")
    path.write_text(topology(n, grace, chain))
    proc = subprocess.Popen([PY, "-m", "orchestrator", "--no-color", str(path)], cwd=work, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        up = 0
        assert proc.stdout is not None
        while up < n:  # every node said it is up
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("zmqrun ended before every node was up")
            up += bool(re.search(r"^s\d+\.1 +\| up$", line.rstrip()))
        t0 = time.perf_counter()
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=120)
        return time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--grace", type=float, default=2.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "stage.py").write_text(STAGE)
        flat, chain = [], []
        for _ in range(args.reps):  # interleaved, so load drifts hit both alike
            flat.append(stop_once(work, args.depth, args.grace, chain=False))
            chain.append(stop_once(work, args.depth, args.grace, chain=True))
    f, c = statistics.median(flat), statistics.median(chain)
    print(f"{args.depth} independent nodes: stop {f:.2f}s (median of {args.reps}; {min(flat):.2f}-{max(flat):.2f})")
    print(f"{args.depth}-stage chain:       stop {c:.2f}s (median of {args.reps}; {min(chain):.2f}-{max(chain):.2f})")
    print(f"chain / independent: {c / f:.2f}x; target chain <= grace + 1.5 s = {args.grace + 1.5:.1f}s: "
          f"{'met' if c <= args.grace + 1.5 else 'NOT met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
