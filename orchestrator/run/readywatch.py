"""Readiness as time passes, for the supervisor's loop: when the listening ports are polled (soon
after a spawn, then less often, never once per event), which running instances have become ready
by their ports or by their connections, which have run out of time, and which ready ones the
listener audit looks at now. It decides nothing about the run; the supervisor acts on what it
returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from orchestrator.run.audit import ListenerAudit
from orchestrator.run.ports import listening_ports
from orchestrator.run.readiness import ports_ready, proc_deadlines
from orchestrator.run.state import Proc

if TYPE_CHECKING:
    from orchestrator.edges.watch import EdgeWatch

POLL_FIRST, POLL_LAST = 0.005, 0.02  # how often listening ports are checked: soon after a spawn, then less
AUDIT_AGAIN = 1.0  # seconds after ready: the listener audit looks once more


class ReadyWatch:
    def __init__(self, edges: EdgeWatch | None = None):
        self.edges = edges
        self.poll_every = POLL_FIRST
        self.next_poll = 0.0
        self.audit = ListenerAudit()

    def spawned(self, now: float) -> None:
        """A new node: look at the ports again soon."""
        self.poll_every, self.next_poll = POLL_FIRST, now + POLL_FIRST

    def became_ready(self, p: Proc, now: float) -> None:
        self.audit.schedule(p, now, AUDIT_AGAIN)

    def deadlines(self, procs: Sequence[Proc], now: float, stopping: bool) -> list[float]:
        deadlines = proc_deadlines(procs, now, max(0.0, self.next_poll - now), stopping)
        if (due := self.audit.next_due()) is not None and not stopping:
            deadlines.append(due)
        return deadlines

    def ports_ready(self, procs: Sequence[Proc], now: float) -> list[tuple[Proc, str]]:
        """The `ready: ports` instances whose ports listen now, each with the reason to print;
        the ports are looked at only when the poll is due."""
        if now < self.next_poll or not any(p.state == "running" and p.inst.node.ready.when == "ports" for p in procs):
            return []
        # On a schedule, not on every event: a flood of output must not become a flood of
        # listener queries, and a node that binds late is still seen within POLL_LAST.
        self.poll_every = min(POLL_LAST, self.poll_every * 1.5)
        self.next_poll = now + self.poll_every
        return ports_ready(procs, listening_ports())

    def connected(self, procs: Sequence[Proc]) -> list[Proc]:
        """The `ready: connected` instances whose every connecting edge is established, by the
        edge watch's latest sample."""
        if self.edges is None:
            return []
        return [p for p in procs if p.state == "running" and p.inst.node.ready.when == "connected"
                and self.edges.connected(p.label)]  # fmt: skip

    @staticmethod
    def overdue(procs: Sequence[Proc], now: float) -> list[Proc]:
        """The running instances whose readiness timeout has passed."""
        return [p for p in procs if p.state == "running" and now - p.started > p.inst.node.ready.timeout]

    def audit_due(self, now: float) -> list[tuple[Proc, str]]:
        """(instance, address) for each listener the topology does not declare, among the ready
        instances whose audit is due now."""
        if (due := self.audit.next_due()) is None or due > now:
            return []
        procs = self.audit.take_due(now)
        running = [(p.inst, p.spawned.pid) for p in procs if p.alive and p.spawned is not None]
        return [(next(p for p in procs if p.inst is inst), where) for inst, where in self.audit.new(running)]
