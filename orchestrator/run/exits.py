"""What an instance's exit means for the run, decided from its record alone: the words for how
it ended, and whether its node's end ends the run (`--exit-code-from`, `exit_on_end`)."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.run.restart import Decision
from orchestrator.run.state import Options, Proc, describe_end
from orchestrator.view.text import count


def stopped_words(p: Proc, code: int, now: float) -> str:
    """How an instance zmqrun stopped ended, with what was sent when, counted from the first signal:
    `stopped (exit 0, 0.12s after SIGINT)`, `stopped (killed by SIGKILL; sent SIGINT, SIGTERM at
    1.5s, SIGKILL at 3.0s; ended at 3.01s)`."""
    assert p.stop_at is not None
    how = "stopped by hand" if p.by_hand else "stopped"
    return f"{how} ({describe_end(code, p.sent, now - p.stop_at)})"


def record_final(p: Proc, code: int, decision: Decision) -> None:
    """An exit that is not followed by a restart: the instance has ended, failed if non-zero or given up."""
    p.state = "exited"
    p.failed = code != 0 or decision.gave_up
    p.ended = describe_end(code, [], 0.0) + (f", gave up after {count(len(p.restarts), 'restart')}" if decision.gave_up else "")


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
