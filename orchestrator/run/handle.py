"""What may be asked of a run from outside its own events: the control socket's narrow interface
(what each instance is doing; stop, start and restart by hand) and --watch's restarts. Every call
runs inside the supervisor's loop, between events, and changes state only through the supervisor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.errors import ZmqrunError
from orchestrator.run.state import Proc, describe_code
from orchestrator.run.stopper import DRAIN, UNKILLABLE

if TYPE_CHECKING:
    from orchestrator.run.supervisor import Supervisor


# What `ps` calls the supervisor's states: "running" is up and ready, as users read it.
SHOWN = {"running": "starting", "ready": "running"}


class Handle:
    def __init__(self, sup: Supervisor, info: dict[str, Any]):
        self.sup = sup
        self._info = info
        self._labels = [p.label for p in sup.procs]
        self._by_label = {p.label: p for p in sup.procs}

    def labels(self) -> list[str]:
        return self._labels

    def info(self) -> dict[str, Any]:
        procs = self.sup.procs
        running = sum(1 for p in procs if p.alive)
        return {**self._info, "running": running, "total": len(procs), "stopping": self.sup.stopping}

    def rows(self) -> list[dict[str, Any]]:
        import psutil  # only when asked: the run's start-up does without it

        now = self.sup.clock()
        rows = []
        for p in self.sup.procs:
            cpu = memory = None
            if p.alive:
                assert p.spawned is not None
                try:
                    proc = psutil.Process(p.spawned.pid)
                    with proc.oneshot():
                        times = proc.cpu_times()
                        cpu, memory = round(times.user + times.system, 2), proc.memory_info().rss
                except psutil.Error:
                    pass
            state = "stopping" if p.alive and p.stop_at is not None else SHOWN.get(p.state, p.state)
            rows.append({
                "label": p.label, "node": p.inst.node.name, "replica": p.inst.replica, "state": state,
                "pid": p.spawned.pid if p.alive and p.spawned else None,
                "uptime": round(now - p.started, 3) if p.alive else None,
                "restarts": len(p.restarts) + p.manual_restarts, "starts": p.starts,
                "last_exit": describe_code(p.code) if p.code is not None else None, "ended": p.ended,
                "failed": p.failed, "cpu_seconds": cpu, "memory_rss": memory,
                "ports": [e for b in p.inst.sockets if b.bind for e in b.endpoints],
            })  # fmt: skip
        return rows

    def edge_rows(self) -> dict[str, Any]:
        """Every declared edge along the data flow, as the run's edge watch last saw it (unknown
        when edges are not watched, `--edge-interval 0`)."""
        import time

        from orchestrator.edges.declared import declared_edges
        from orchestrator.edges.report import edge_row

        watch = self.sup.edges
        edges = watch.edges if watch is not None else declared_edges(self.sup.plan)
        states = watch.states if watch is not None else [None] * len(edges)
        now, wall = self.sup.clock(), time.time()
        watched = watch is not None and watch.interval != float("inf")
        return {"watched": watched, "interval": watch.interval if watched else None,  # type: ignore[union-attr]
                "edges": [edge_row(e, st, now, wall) for e, st in zip(edges, states, strict=True)]}  # fmt: skip

    # ---- by hand --------------------------------------------------------------------------

    def stop_run(self, reason: str) -> None:
        """The whole run, as Ctrl-C would (exit status 130)."""
        self.sup.stop_like_ctrl_c(reason)

    def end_run(self, reason: str) -> None:
        """The whole run, its status decided as usual (--watch reloading the topology)."""
        self.sup.begin_stop(reason)

    def restart_node(self, name: str, why: str) -> None:
        """Restart every instance of `name` that ran; a restart already under way is not repeated."""
        procs = [p for p in self.sup.by_node.get(name, []) if p.alive or p.state in ("exited", "failed", "backoff")]
        if not self.sup.stopping and procs and not all(p.respawn for p in procs):
            self._restart(procs, name, why)

    def stop(self, labels: list[str]) -> dict[str, Any]:
        self._not_stopping()
        now, done = self.sup.clock(), {}
        for p in self._procs(labels):
            p.respawn = False  # a stop cancels a restart under way
            if p.alive and p.stop_at is None:
                p.by_hand = True
                self.sup.stopper.stop_one(p, now)
                done[p.label] = "stopping"
            elif p.state in ("waiting", "backoff"):
                p.state, p.ended, p.by_hand = "idle", "stopped by hand before it started", True
                done[p.label] = "stopped"
            else:
                done[p.label] = "stopping" if p.alive else "not running"
        self.sup.out.note(f"stop by hand: {', '.join(labels)}")
        return {"done": done, "wait": self._wait(labels, stopping=True, starting=False)}

    def start(self, labels: list[str]) -> dict[str, Any]:
        self._not_stopping()
        procs = self._procs(labels)
        self._check_dependencies(procs)
        starts = {}
        for p in procs:
            starts[p.label] = p.starts
            if p.alive or p.state == "waiting":
                continue  # already running, or about to: nothing to do
            p.state, p.failed, p.ended, p.by_hand = "waiting", False, "", False
        self.sup.out.note(f"start by hand: {', '.join(labels)}")
        self.sup.starter.eligible()
        return {"starts": starts, "wait": self._wait(labels, stopping=False, starting=True)}

    def restart(self, labels: list[str]) -> dict[str, Any]:
        self._not_stopping()
        procs = self._procs(labels)
        self._check_dependencies(procs)
        starts = {p.label: p.starts for p in procs}
        self._restart(procs, ", ".join(labels), "asked by hand")
        return {"starts": starts, "wait": self._wait(labels, stopping=True, starting=True)}

    def _restart(self, procs: list[Proc], what: str, why: str) -> None:
        """Stop each running instance as a stop would (its signal, then escalation) and start it
        again as soon as it exits; one that is not running starts once what it waits for is met."""
        self.sup.out.note(f"restarting {what}: {why}", "yellow")
        now = self.sup.clock()
        for p in procs:
            if p.alive:
                if p.stop_at is None:
                    p.respawn = True
                    self.sup.stopper.stop_one(p, now)
            elif p.state != "waiting":
                p.state, p.failed, p.ended, p.by_hand = "waiting", False, "", False
        self.sup.starter.eligible()

    # ---- checks ---------------------------------------------------------------------------

    def _procs(self, labels: list[str]) -> list[Proc]:
        return [self._by_label[label] for label in labels]

    def _not_stopping(self) -> None:
        if self.sup.stopping:
            raise ZmqrunError(f"the run is stopping ({self.sup.stopping}); nothing can be started or stopped")

    def _check_dependencies(self, procs: list[Proc]) -> None:
        """A node started by hand waits for what it waits for at the start of a run; a dependency
        that is not running and not being started could never let it start."""
        chosen = {p.label for p in procs}
        missing = []
        for p in procs:
            for dep, _ in p.inst.node.depends_on:
                for q in self.sup.by_node[dep]:
                    idle = q.state in ("idle", "skipped") or (q.state in ("exited", "failed") and q.code != 0)
                    if idle and q.label not in chosen and q.label not in missing:
                        missing.append(q.label)
        if missing:
            raise ZmqrunError(f"{', '.join(missing)} must run first (start it too, or before)")

    def _wait(self, labels: list[str], stopping: bool, starting: bool) -> float:
        """How long a client should wait for these instances to be stopped and/or ready."""
        nodes = [self._by_label[label].inst.node for label in labels]
        worst = max((n.grace + UNKILLABLE if stopping else 0) + (n.ready.timeout if starting else 0) for n in nodes)
        return round(worst + DRAIN + 2.0, 1)

