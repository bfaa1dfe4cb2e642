"""The supervisor's edge component: on its own deadline it samples the kernel, folds the
samples into edge states, and reports each diagnosis once. It never blocks: one sample is two
or three netlink dumps, plus /proc reads only when a socket it has not seen appears."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from orchestrator.edges.declared import Edge, declared_edges
from orchestrator.edges.diagnose import PUBLISHERS, QUIET_AFTER, Finding, Snapshot, all_settled, diagnose
from orchestrator.edges.kernel import KernelView, cpu_ns
from orchestrator.edges.track import EdgeState, Observation, advance

if TYPE_CHECKING:
    from orchestrator.run.plan import Plan
    from orchestrator.run.state import Proc
    from orchestrator.view.printer import Printer

SETTLE = 0.3  # after a node starts, how long before a sample looks at its new connections
INTERVAL = 3.0  # seconds between samples by default (--edge-interval); see BENCHMARKS.md for the cost
READY_POLL = 0.05  # while a node waits for `ready: connected`


def _publisher(e: Edge) -> str | None:
    if e.binder and e.binder_type in PUBLISHERS:
        return e.binder
    return e.connecter if e.connecter_type in PUBLISHERS else None


def watch_for(plan: Plan, printer: Printer, interval: float | None = None) -> EdgeWatch | None:
    """The run's edge watch, reporting to `printer`; None when off and no node needs it for readiness."""
    interval = INTERVAL if interval is None else interval
    needed = any(i.node.ready.when == "connected" for i in plan.instances)
    if interval <= 0 and not needed:
        return None

    def report(finding: Finding) -> None:
        printer.note(finding.message, "yellow", stream="diagnosis")

    if interval <= 0:  # sampled only while a node waits to be connected; no diagnoses
        return EdgeWatch(plan, lambda _: None, float("inf"))
    return EdgeWatch(plan, report, interval)


class EdgeWatch:
    """Owns the edge states of one run; the supervisor calls tick() and reads connected()."""

    def __init__(self, plan: Plan, report: Callable[[Finding], None], interval: float = INTERVAL,
                 kernel: Callable[..., list[Observation]] | None = None):  # fmt: skip
        self.edges: tuple[Edge, ...] = declared_edges(plan)
        self.sample = kernel or KernelView(self.edges).sample
        self.report = report
        self.interval = interval
        self.states: list[EdgeState | None] = [None] * len(self.edges)
        self.reported: set[tuple[str, ...]] = set()
        self.deadline = 0.0
        self.soon = float("inf")  # SETTLE after the first node started since the last sample
        self.refused = False  # the kernel refused sock_diag: said once, never asked again
        self.last = 0.0  # when the last sample was taken
        self.publishers = [_publisher(e) for e in self.edges]
        self.cpu: dict[int, tuple[float, int]] = {}  # pid -> (when, CPU ns) at the last look
        self.observed: list[Observation] | None = None  # what the last sample saw
        self.settled = False  # at the last look every edge was up and quiet, past any start window
        self.awaited = any(i.node.ready.when == "connected" for i in plan.instances)
        self.live_key: list[object] = []
        self.live: tuple[dict[str, int], dict[str, float]] = ({}, {})

    def close(self) -> None:
        """At the end of the run: let go of the kernel sampler's netlink socket."""
        close = getattr(getattr(self.sample, "__self__", None), "close", None)
        if close is not None:
            close()

    def connected(self, label: str) -> bool:
        """Whether every edge `label` dials is established (as of the last sample)."""
        return all(st is not None and st.connected for e, st in zip(self.edges, self.states) if e.connecter == label)

    def spawned(self, when: float) -> None:
        """A node started at `when`: sample soon after, so a new edge is seen up (or not) at once
        rather than an interval later."""
        if not self.refused:
            self.soon = min(self.soon, when + SETTLE)

    def due(self) -> float:
        """When the next sample is due: at the interval, or soon after a node started."""
        return min(self.deadline, self.soon)

    def tick(self, procs: Sequence[Proc], now: float) -> bool:
        """Sample if due; whether it did."""
        if now < min(self.deadline, self.soon):
            return False
        self.soon = float("inf")
        waiting = self.awaited and any(p.state == "running" and p.inst.node.ready.when == "connected" for p in procs)
        self.deadline = now + (READY_POLL if waiting else self.interval)
        pids, started = self._live(procs)
        try:
            observed = self.sample(pids, now, waiting)
        except OSError as exc:  # no sock_diag here (a locked-down container): say so once, stop asking
            self.deadline, self.refused = float("inf"), True
            self.report(Finding(("unavailable",), "unavailable", f"edges are not watched: the kernel refused sock_diag ({exc})"))
            return False
        if self.settled and observed == self.observed:
            # Nothing moved and nothing was moving: every state stays as it is (advance() would
            # return each one unchanged) and a settled edge stays settled as time passes, so no
            # rule can fire. The common case of a quiet run, and what it pays every sample.
            self.last = now
            return True
        self.observed = observed
        self.states = [advance(st, ob, now, self.last) for st, ob in zip(self.states, observed, strict=True)]
        self.last = now
        self.settled = all_settled(self.states, now, self.interval)
        busy = self._busy(pids, started, now)
        snapshot = Snapshot(now, self.edges, tuple(self.states), started, busy, self.interval)
        for finding in diagnose(snapshot):
            if finding.key not in self.reported:
                self.reported.add(finding.key)
                self.report(finding)
        return True

    def _live(self, procs: Sequence[Proc]) -> tuple[dict[str, int], dict[str, float]]:
        """Pid and start time of each running instance not being stopped; worked out again only
        when some instance started, ended or began to stop."""
        key: list[object] = [p.spawned if p.code is None and p.stop_at is None else None for p in procs]
        if key != self.live_key:
            live = [p for p in procs if p.alive and p.stop_at is None and p.spawned is not None]
            self.live_key = key
            self.live = {p.label: p.spawned.pid for p in live}, {p.label: p.started for p in live}  # type: ignore[union-attr]
        return self.live

    def _busy(self, pids: dict[str, int], started: dict[str, float], now: float) -> dict[str, float]:
        """CPU share of each publisher that has been up a while with no subscriber connected:
        the only sign, from outside, that it is publishing into the void."""
        lonely = {label for label in self.publishers if label}
        if lonely:
            lonely -= {label for label, st in zip(self.publishers, self.states) if st is not None and st.connected}
        busy = {}
        for label in lonely:
            if label not in pids or now - started[label] < QUIET_AFTER / 2:
                continue
            pid, ns = pids[label], cpu_ns(pids[label])
            if ns is None:
                continue
            if pid in self.cpu and now > self.cpu[pid][0]:
                busy[label] = (ns - self.cpu[pid][1]) / 1e9 / (now - self.cpu[pid][0])
            self.cpu[pid] = (now, ns)
        return busy
