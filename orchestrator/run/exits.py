"""What an instance's exit means for the run, decided from its record alone: the words for how
it ended, and whether its node's end ends the run (`--exit-code-from`, `exit_on_end`)."""

from __future__ import annotations

import signal
from collections.abc import Sequence

from orchestrator.run.restart import Decision
from orchestrator.run.state import Options, Proc, describe_code


def stopped_words(p: Proc, code: int, now: float) -> str:
    """How an instance zmqrun stopped ended: `stopped (exit 0, 0.12s after SIGINT)`."""
    assert p.stop_at is not None
    sent = signal.Signals([0, p.inst.node.stop_signal, signal.SIGTERM, signal.SIGKILL][p.stage]).name
    return f"stopped ({describe_code(code)}, {now - p.stop_at:.2f}s after {sent})"


def record_final(p: Proc, code: int, decision: Decision) -> None:
    """An exit that is not followed by a restart: the instance has ended, failed if non-zero or given up."""
    p.state = "exited"
    p.failed = code != 0 or decision.gave_up
    p.ended = describe_code(code) + (f", gave up after {len(p.restarts)} restarts" if decision.gave_up else "")


def ends_run(
    p: Proc, code: int, options: Options, siblings: Sequence[Proc], decided: bool
) -> tuple[int | None, str] | None:
    """Whether this final exit ends the run: (status to exit with or None, reason), or None."""
    name = p.inst.node.name
    if options.exit_code_from == name and not decided:
        return (code if code >= 0 else 128 - code), f"{name} exited (--exit-code-from)"
    if p.inst.node.exit_on_end and all(q.state in ("exited", "failed") for q in siblings):
        return None, f"{name} ended (exit_on_end)"
    return None
