"""After the nodes are gone: sweep up what they left (orphans, listeners) and prove the
run's ports are free again. Only this run's processes are ever touched."""

from __future__ import annotations

import time

from orchestrator.run import process
from orchestrator.run.plan import Plan
from orchestrator.run.ports import listener_holders, listening_ports
from orchestrator.view.printer import Printer


def sweep(plan: Plan, out: Printer, keep: set[int] | None = None) -> list[str]:
    """Kill leftover descendants of this run, then check every port; returns what could not
    be freed (empty when all is clean)."""
    keep = keep or set()
    for pid in sorted(process.descendants() - keep):
        if process.is_zombie(pid):
            continue
        if process.kill_pids([pid]):
            out.note(f"killed leftover pid {pid} of this run: {_cmdline(pid)}", "yellow")
    _wait_gone(keep)
    left: list[str] = []
    held = set(plan.ports) & listening_ports()
    if held:  # only now is it worth asking who holds what
        deadline = time.monotonic() + 1.0
        for port in sorted(held):
            for h in listener_holders(port):
                if h.pid and h.environ_run == plan.run_id:
                    process.kill_pids(process.tree(h.pid))
                    out.note(f"port {port}: killed leftover {h.describe()}", "yellow")
        while set(plan.ports) & listening_ports() and time.monotonic() < deadline:
            time.sleep(0.02)
        for port in sorted(set(plan.ports) & listening_ports()):
            who = "; ".join(h.describe() for h in listener_holders(port)) or "unknown"
            left.append(f"port {port} is still held by {who}")
            out.note(f"port {port} is still held by {who}", "bold red")
    return left


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return "?"


def _wait_gone(keep: set[int]) -> None:
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        process.reap(())
        if all(process.is_zombie(pid) for pid in process.descendants() - keep):
            process.reap(())
            return
        time.sleep(0.005)
