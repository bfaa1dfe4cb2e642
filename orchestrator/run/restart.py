"""Restart decisions: a pure function of policy, exit status, history and the clock."""

from __future__ import annotations

from typing import NamedTuple

from orchestrator.topology.model import Restart


class Decision(NamedTuple):
    restart: bool
    delay: float = 0.0
    gave_up: bool = False  # restarting was wanted but the limit within the window was reached


def decide(policy: Restart, code: int, history: list[float], now: float) -> Decision:
    """`history` holds the times of earlier restarts. Backoff doubles with each restart in the
    window (so a node that exits at once never spins the CPU), capped at max_backoff."""
    if policy.policy == "no" or (policy.policy == "on-failure" and code == 0):
        return Decision(False)
    recent = [t for t in history if now - t <= policy.window]
    if len(recent) >= policy.limit:
        return Decision(False, gave_up=True)
    return Decision(True, min(policy.max_backoff, policy.backoff * 2 ** len(recent)))
