"""After the nodes are gone: sweep up what they left (orphans, listeners) and prove the
run's ports are free again. Only this run's processes are ever touched."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from . import process
from .plan import Plan
from .ports import holders, listening_ports
from .printer import Printer

if TYPE_CHECKING:
    import psutil


def sweep(plan: Plan, out: Printer, keep: set[int] | None = None) -> list[str]:
    """Kill leftover descendants of this run, then check every port; returns what could not
    be freed (empty when all is clean)."""
    import psutil

    keep = keep or set()
    me = psutil.Process(os.getpid())
    leftovers = []
    for child in me.children(recursive=True):
        if child.pid in keep:
            continue
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(child.cmdline()) or child.name()
        except psutil.NoSuchProcess:
            continue
        if process.kill_pids([child.pid]):
            out.note(f"killed leftover pid {child.pid} of this run: {cmd}", "yellow")
    _wait_gone(me, keep)
    process.reap_orphans(set())
    left: list[str] = []
    for port in plan.ports:
        if port not in listening_ports():
            continue
        for h in [h for h in holders(port) if h.status == "LISTEN"]:
            if h.pid and h.environ_run == plan.run_id:
                process.kill_pids(process.tree(h.pid))
                out.note(f"port {port}: killed leftover {h.describe()}", "yellow")
        deadline = time.monotonic() + 1.0
        while port in listening_ports() and time.monotonic() < deadline:
            time.sleep(0.02)
        if port in listening_ports():
            who = "; ".join(h.describe() for h in holders(port) if h.status == "LISTEN") or "unknown"
            left.append(f"port {port} is still held by {who}")
            out.note(f"port {port} is still held by {who}", "bold red")
    leftovers.extend(left)
    return leftovers


def _wait_gone(me: psutil.Process, keep: set[int]) -> None:
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        process.reap_orphans(set())
        alive = [c for c in me.children(recursive=True) if c.pid not in keep and _running(c)]
        if not alive:
            return
        time.sleep(0.01)


def _running(proc: psutil.Process) -> bool:
    import psutil

    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
