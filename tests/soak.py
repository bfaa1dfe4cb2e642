#!/usr/bin/env python3
"""Soak: run every shipped topology through `zmqrun test` for N rounds, then check that no
process of any run, no listener on the shipped fixed port and no run cgroup is left. Usage:

    tests/soak.py [ROUNDS]     (default 20)

Run with any python3: without zmqrun importable it re-runs itself under the project's .venv.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:
    import psutil

    import orchestrator  # noqa: F401  (the package under test must be importable)
except ImportError:
    venv = ROOT / ".venv" / "bin" / "python"
    if Path(sys.executable) == venv or not venv.exists():
        raise
    os.execv(venv, [str(venv), __file__, *sys.argv[1:]])


def leftovers(run_ids: set[str]) -> list[str]:
    """Live processes carrying the marker of one of our runs (other runs on the machine, such
    as a test suite running at the same time, are not ours to count)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.environ().get("ZMQRUN_RUN_ID") in run_ids:
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def leftover_cgroups(run_ids: set[str]) -> list[str]:
    """Cgroup directories of our runs that are still there (each run removes its own)."""
    from orchestrator.run.cgroup import probe

    parent, _ = probe()
    if parent is None:
        return []
    return [d for d in (os.path.join(parent, f"zmqrun-{r}") for r in sorted(run_ids)) if os.path.exists(d)]


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    passed = failed = 0
    ports_seen: set[int] = set()
    run_ids: set[str] = set()
    start = time.monotonic()
    for n in range(1, rounds + 1):
        result = subprocess.run(
            [sys.executable, "-m", "orchestrator", "test", "-v", str(ROOT / "topologies")],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        summary = result.stdout.strip().splitlines()[-1]
        p, f = (int(x) for x in re.match(r"(\d+) passed, (\d+) failed", summary).groups())
        passed, failed = passed + p, failed + f
        ports_seen |= {int(x) for x in re.findall(r"=tcp://127\.0\.0\.1:(\d+)", result.stdout)}
        run_ids |= set(re.findall(r"run (zr-[0-9a-f]+):", result.stdout))
        for line in result.stdout.splitlines():
            if line.startswith("FAIL"):
                print(f"round {n}: {line}")
        left = leftovers(run_ids)
        print(f"round {n}: {summary}; leftover processes: {len(left)}", flush=True)
        for item in left:
            print(f"  leftover: {item}")
    listening = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    held = sorted(ports_seen & listening)
    print(f"{rounds} rounds in {time.monotonic() - start:.0f}s: {passed} passed, {failed} failed; "
          f"{len(ports_seen)} distinct ports used, still listening: {held or 'none'}; "
          f"{len(run_ids)} runs, leftover processes: {len(leftovers(run_ids))}")  # fmt: skip
    cgroups = leftover_cgroups(run_ids)
    if cgroups:
        print(f"leftover cgroups: {cgroups}")
    return 0 if failed == 0 and not held and not leftovers(run_ids) and not cgroups else 1


if __name__ == "__main__":
    sys.exit(main())
