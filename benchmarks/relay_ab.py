"""A/B of zmqrun's log relay between two builds, on the same machine in the same minutes:

    python benchmarks/relay_ab.py BEFORE_PYTHON AFTER_PYTHON [--reps 5] [--nodes 4] [--lines 200000]

Each PYTHON is the interpreter of a venv where that build of zmqrun is installed (e.g. a
`git worktree` of an older commit with its own `.venv`). The same chatty topology (the nodes of
`talker.py`) runs under each, alternated and with the order flipped every rep, stdout to a file;
printed: medians, min-max, and after/before. For a change to the relay, beside section 3 of
BENCHMARKS.md, whose ratios move with the machine's load."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODES = ("line", "full", "unbuffered")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--lines", type=int, default=200_000)
    args = ap.parse_args()
    builds = {"before": args.before, "after": args.after}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # only `buffering` decides
    times: dict[tuple[str, str], list[float]] = {(b, m): [] for b in builds for m in MODES}
    with tempfile.TemporaryDirectory() as work:
        talk = [sys.executable, str(HERE / "talker.py")]
        for mode in MODES:
            Path(work, f"{mode}.yaml").write_text(f"buffering: {mode}\nnodes:\n" + "".join(
                f"  t{i}:\n    run: {json.dumps(talk + [f't{i}', str(args.lines)])}\n" for i in range(args.nodes)))  # fmt: skip
        for rep in range(args.reps):
            for mode in MODES:
                order = list(builds.items())
                for name, python in order if rep % 2 == 0 else order[::-1]:
                    start = time.monotonic()
                    with open(Path(work, "out.txt"), "wb") as out:
                        subprocess.run([python, "-m", "orchestrator", "--color", f"{work}/{mode}.yaml"], stdout=out,
                                       stderr=subprocess.DEVNULL, env=env, cwd=work, check=True, timeout=600)  # fmt: skip
                    times[(name, mode)].append(time.monotonic() - start)
    for mode in MODES:
        before, after = (statistics.median(times[(b, mode)]) for b in builds)
        for name in builds:
            t = times[(name, mode)]
            print(f"{mode:10} {name:7} median {statistics.median(t):.3f} s ({min(t):.3f}-{max(t):.3f})")
        print(f"{mode:10} after / before: {after / before:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
