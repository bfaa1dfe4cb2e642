"""Readiness, start conditions and when to look again: pure questions about instance records,
asked by the supervisor."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence

from orchestrator.run.state import Proc, describe_code
from orchestrator.view.text import count


def condition_met(procs: Sequence[Proc], cond: str) -> bool | None:
    """Whether every instance of a dependency meets `cond`: True when met, False when it never
    can be (see `never_met`), None while undecided."""
    if cond == "process_started":
        met = all(p.spawned for p in procs)
    elif cond == "process_completed_successfully":
        met = all(p.state == "exited" and p.code == 0 for p in procs)
    else:
        met = all(p.was_ready or (p.state == "exited" and p.code == 0) for p in procs)
    if met:
        return True
    return False if never_met(procs, cond) else None


_WANTED = {
    "process_started": "before it started",
    "process_completed_successfully": "instead of completing successfully",
}


def never_met(procs: Sequence[Proc], cond: str) -> str | None:
    """Why `cond` can never be met, naming the instance that made it so ("sink.1 exited 1
    before it was ready"); None while it still can be. An instance in backoff will restart, so it
    is still waited for; one that ended for good (failed, gave up, skipped) is not."""
    for p in procs:
        if p.state in ("failed", "skipped"):
            return f"{p.label} {p.ended or 'did not start'}"
        if p.state != "exited" or p.stop_at is not None:
            continue  # still running, in backoff, or stopped by us (the run is stopping anyway)
        if cond == "process_started" or (cond != "process_completed_successfully" and p.was_ready):
            continue
        if cond != "process_completed_successfully" and p.code == 0:
            continue
        how = f"exited {p.code}" if p.code is not None and p.code >= 0 else _killed(p)
        gave_up = f" (gave up after {count(len(p.restarts), 'restart')})" if p.restarts else ""
        return f"{p.label} {how} {_WANTED.get(cond, 'before it was ready')}{gave_up}"
    return None


def _killed(p: Proc) -> str:
    """`was killed by SIGKILL` (with `(not sent by zmqrun)` when it was not), to read well before
    `before it was ready`; an end with no code (it could not start) as recorded."""
    if p.code is None:
        return p.ended
    words = "was " + describe_code(p.code)
    return words + " (not sent by zmqrun)" if p.ended.endswith("not sent by zmqrun") else words


def may_start(waits: Sequence[tuple[str, str]], by_node: Mapping[str, Sequence[Proc]],
              hard: Collection[str] | None = None) -> bool | str | None:  # fmt: skip
    """Whether a waiting node may start: True, None while it must wait, or why it never can.
    Given its `hard` waits (depends_on), an ordering-only wait counts only the peer's instances
    that take part: not idle (left out of a subset run) and not stopped by hand."""
    if hard is not None:
        by_node = {d: [q for q in by_node[d] if d in hard or (q.state != "idle" and not q.by_hand)] for d, _ in waits}
    met = [condition_met(by_node[d], c) if by_node[d] else True for d, c in waits]
    for (d, c), m in zip(waits, met):
        if m is False:
            return never_met(by_node[d], c) or f"{d} can no longer meet {c}"
    return True if all(m is True for m in met) else None


def proc_deadlines(procs: Sequence[Proc], now: float, poll_every: float, stopping: bool) -> list[float]:
    """When the loop must look at the instances again: a ports poll, a readiness timeout, a backoff's end."""
    deadlines = []
    for p in procs:
        if p.state == "running" and p.inst.node.ready.when == "ports":
            deadlines.append(now + poll_every)
        if p.state == "running":
            deadlines.append(p.started + p.inst.node.ready.timeout)
        if p.state == "backoff" and not stopping:
            deadlines.append(p.backoff_until)
    return deadlines


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
    if r.when == "connected":
        return "its connecting sockets to be connected"
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
