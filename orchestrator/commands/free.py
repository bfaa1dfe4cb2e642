"""`zmqrun free PORT...`: fuser without the collateral damage. Lists every holder of each port;
stops only listeners that carry the marker of a zmqrun run that is over (run/runs.py decides);
a live run's nodes are never touched; anyone else is named and left alone unless a person
confirms at a terminal (never in CI)."""

from __future__ import annotations

import os
import sys
import time

from orchestrator.run.ports import Holder, holders
from orchestrator.view.text import one_line


def _stop(holder: Holder) -> bool:
    """Stop a marked listener and its group: SIGTERM, then SIGKILL after 2 s. psutil checks the
    process's start time on every signal, so a pid reused since the listing is never hit."""
    import psutil

    try:
        proc = psutil.Process(holder.pid)
        if proc.create_time() != holder.create_time:
            return False
        victims = [proc] + proc.children(recursive=True)
        for p in victims:
            p.terminate()
        _, alive = psutil.wait_procs(victims, timeout=2.0)
        for p in alive:
            p.kill()
        psutil.wait_procs(alive, timeout=2.0)
        return True
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def _confirm(question: str) -> bool:
    if os.environ.get("CI") or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def free(ports: list[int], force: bool = False) -> int:
    """0 when every port is free at the end, 1 otherwise."""
    status = 0
    for port in ports:
        found = holders(port)
        for h in found:
            print(f"port {port}: {h.describe()}" + (f" [zmqrun run {one_line(h.environ_run)}]" if h.environ_run else ""))
        if not [h for h in found if not h.ownerless]:
            print(f"port {port}: free")
            continue
        for h in (h for h in found if h.status == "LISTEN" and h.pid):
            if h.live is not None:
                print(one_line(f"port {port}: left alone pid {h.pid}: it belongs to the live {h.live.describe()}; "
                               f"stop that run instead (Ctrl-C in its terminal, or `kill -INT {h.live.pid}`)"))  # fmt: skip
            elif h.environ_run:
                ok = _stop(h)
                print(f"port {port}: {'stopped' if ok else 'could not stop'} pid {h.pid} of zmqrun run {one_line(h.environ_run)}")
            elif force and _confirm(f"port {port}: stop pid {h.pid} ({one_line(h.cmdline)}), which zmqrun did not start?"):
                print(f"port {port}: {'stopped' if _stop(h) else 'could not stop'} pid {h.pid} (confirmed by you)")
            else:
                print(f"port {port}: left alone pid {h.pid}: not started by zmqrun"
                      + ("" if force else " (--force asks to stop it, at a terminal only)"))  # fmt: skip
        deadline = time.monotonic() + 1.0
        while any(h.status == "LISTEN" for h in holders(port)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if any(h.status == "LISTEN" for h in holders(port)):
            status = 1
            print(f"port {port}: still held")
    return status
