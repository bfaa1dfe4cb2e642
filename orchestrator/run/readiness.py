"""Readiness, start conditions and when to look again: pure questions about instance records,
asked by the supervisor."""

from __future__ import annotations

import os
from collections.abc import Sequence

from orchestrator.run.state import Proc


def condition_met(procs: Sequence[Proc], cond: str) -> bool | None:
    """Whether every instance of a dependency meets `cond`: True when met, False when it never
    can be, None while undecided."""
    if cond == "process_started":
        met = all(p.spawned for p in procs)
    elif cond == "process_completed_successfully":
        met = all(p.state == "exited" and p.code == 0 for p in procs)
    else:
        met = all(p.state == "ready" or (p.state == "exited" and p.code == 0) for p in procs)
    if met:
        return True
    return False if any(p.state in ("failed", "skipped") for p in procs) else None


def may_start(p: Proc, waits: Sequence[tuple[str, str]], by_node: dict[str, list[Proc]]) -> bool | str | None:
    """Whether a waiting instance may start: True, None to keep waiting, or the name of a
    dependency that never can let it. An ordering-only wait (not a depends_on) lapses for a
    peer left idle (not in a subset run) or stopped by hand."""
    hard = {d for d, _ in p.inst.node.depends_on}
    verdict: bool | None = True
    for d, c in waits:
        procs = by_node[d] if d in hard else [q for q in by_node[d] if q.state != "idle" and not q.by_hand]
        met = condition_met(procs, c) if procs else True
        if met is False:
            return d
        if met is None:
            verdict = None
    return verdict


def run_over(procs: Sequence[Proc], stopping: bool) -> bool:
    """Nothing alive, and nothing left to start: waiting, in backoff, or stopped by hand (which
    keeps a run up to be started again) unless the run is stopping."""
    if any(p.alive for p in procs):
        return False
    return stopping or not any(p.state in ("waiting", "backoff") or p.by_hand for p in procs)


def wake_times(procs: Sequence[Proc], now: float, poll_every: float, stopping: bool) -> list[float]:
    """When the loop must look at the instances again: port polls, ready timeouts, backoffs."""
    times = []
    for p in procs:
        if p.state == "running":
            times.append(p.started + p.inst.node.ready.timeout)
            if p.inst.node.ready.when == "ports":
                times.append(now + poll_every)
        elif p.state == "backoff" and not stopping:
            times.append(p.backoff_until)
    return times


def ports_ready(procs: Sequence[Proc], listening: set[int]) -> list[tuple[Proc, str]]:
    """The running instances with `ready: ports` whose every bound port listens and every bound
    ipc path exists, each with the reason to print ("" for one that binds nothing)."""
    found = []
    for p in procs:
        if p.state == "running" and p.inst.node.ready.when == "ports":
            if all(port in listening for port in p.inst.listen_ports) and all(
                os.path.exists(path) for path in p.inst.ipc_paths
            ):
                found.append((p, "ports listening" if p.inst.listen_ports or p.inst.ipc_paths else ""))
    return found


def ready_what(p: Proc) -> str:
    """What an instance's readiness waits for, in words."""
    r = p.inst.node.ready
    if r.when == "log":
        return f"a line matching {r.log!r}"
    if r.when == "helper":
        return "the node helper to report ready"
    return "ports " + ", ".join(map(str, p.inst.listen_ports)) + " to listen"


def not_ready(p: Proc) -> str:
    return f"did not become ready within {p.inst.node.ready.timeout:g}s (waiting for {ready_what(p)})"


def waiting_notes(procs: Sequence[Proc], now: float, stopping: bool) -> tuple[list[str], float]:
    """What long waits say (a slow start, a stop sitting out its grace), and when to say it next."""
    notes = []
    waiting = [p for p in procs if p.state == "running" and now - p.started >= 2.0]
    if waiting and not stopping:
        what = "; ".join(f"{p.label} ({ready_what(p)}, {p.started + p.inst.node.ready.timeout - now:.0f}s left)"
                         for p in waiting[:5])  # fmt: skip
        more = f" and {len(waiting) - 5} more" if len(waiting) > 5 else ""
        notes.append(f"still waiting for readiness: {what}{more}")
    lingering = [p for p in procs if p.alive and p.stop_at is not None and now - p.stop_at >= 1.0]
    if lingering:
        what = ", ".join(f"{p.label} (SIGKILL in {max(0.0, p.stop_at + p.inst.node.grace - now):.1f}s)"  # type: ignore[operator]
                         for p in lingering[:5])  # fmt: skip
        more = f" and {len(lingering) - 5} more" if len(lingering) > 5 else ""
        notes.append(f"waiting for {what}{more} to exit")
    return notes, now + (2.0 if waiting or lingering else 0.5)
