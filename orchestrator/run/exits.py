"""What one instance's exit means: started again at once (a restart asked for), stopped as asked,
restarted by policy after a delay, or its final end, and whether that end decides the run.
A pure function of the record, the exit code, the options and the clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from orchestrator.run.restart import decide
from orchestrator.run.state import Options, Proc, describe_code
from orchestrator.run.stopper import how_stopped


class Verdict(NamedTuple):
    action: str  # respawn, stopped, backoff or final
    ended: str = ""  # in words, for stopped and final
    failed: bool = False
    delay: float = 0.0  # for backoff
    stop: str | None = None  # the reason to stop the whole run, when this end calls for it
    status: int | None = None  # the run's exit status, when this end decides it


def judge(p: Proc, code: int, now: float, stopping: bool, options: Options, status_decided: bool,
          siblings: Sequence[Proc]) -> Verdict:  # fmt: skip
    if p.respawn and not stopping:
        return Verdict("respawn")
    if p.stop_at is not None:
        return Verdict("stopped", how_stopped(p, code, now))
    decision = decide(p.inst.node.restart, code, p.restarts, now)
    if decision.restart and not stopping:
        return Verdict("backoff", delay=decision.delay)
    ended = describe_code(code) + (f", gave up after {len(p.restarts)} restarts" if decision.gave_up else "")
    failed = code != 0 or decision.gave_up
    name = p.inst.node.name
    if options.exit_code_from == name and not status_decided:
        return Verdict("final", ended, failed, stop=f"{name} exited (--exit-code-from)",
                       status=code if code >= 0 else 128 - code)  # fmt: skip
    if p.inst.node.exit_on_end and all(q is p or q.state in ("exited", "failed") for q in siblings):
        return Verdict("final", ended, failed, stop=f"{name} ended (exit_on_end)")
    return Verdict("final", ended, failed)
