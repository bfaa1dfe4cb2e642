"""The start half of a run, the counterpart of the Stopper: which waiting instances may start now
(their waits met) and starting them with their pipes attached; readiness as it is learnt (a ready
line, the helper, listening ports, established connections), which lets the next ones go; a
readiness timeout; a restart after its backoff. A wait that can never be met, or a node that is
never ready, ends the run through the supervisor, which still owns how the run ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.run import process
from orchestrator.run.readiness import may_start, not_ready
from orchestrator.run.readywatch import ReadyWatch
from orchestrator.run.state import Proc
from orchestrator.view.text import count

if TYPE_CHECKING:
    from orchestrator.run.supervisor import Supervisor


class Starter:
    def __init__(self, sup: Supervisor):
        self.sup = sup
        self.ready = ReadyWatch(sup.edges)
        self.live: dict[int, Proc] = {}  # pid -> the instance it runs, until it is reaped
        self.all_ready = False
        self.began = sup.clock()

    def eligible(self) -> None:
        """Start every waiting instance whose waits are met; end the run for one that never can."""
        sup = self.sup
        if sup.stopping:
            return
        for p in sup.procs:
            if p.state != "waiting":
                continue
            hard = {d for d, _ in p.inst.node.depends_on}
            go = may_start(sup.plan.after.get(p.inst.node.name, ()), sup.by_node, hard)
            if isinstance(go, str):
                p.state, p.failed, p.ended = "skipped", True, f"cannot start: {go}"
                sup.out.note(f"{p.label} cannot start: {go}", "bold red")
                sup.fail_run(f"{p.label} cannot start: {go}")
                return
            if go is True:
                self.spawn(p)
        if sup.options.abort_on_failure and any(p.failed for p in sup.procs):
            sup.begin_stop("a node failed (--abort-on-failure)")

    def spawn(self, p: Proc) -> None:
        sup, node = self.sup, p.inst.node
        if p.spawned is not None:  # a restart: let go of the previous incarnation's pipes
            sup.pipes.release(p)
        try:
            p.spawned = process.spawn(p.inst, node.stdin, ready_pipe=node.ready.when == "helper" or p.inst.secured,
                                      extra_env={"ZMQRUN_RESTARTS": str(len(p.restarts))})
        except OSError as exc:
            why = f"{exc.strerror or exc}"
            if exc.filename == p.inst.cwd:  # the working directory, not the command, is missing
                why = f"working directory {p.inst.cwd}: {why}"
            p.state, p.failed, p.ended = "failed", True, f"could not start: {why}"
            sup.out.note(f"{p.label} could not start: {' '.join(p.inst.argv)}: {why}", "bold red")
            sup.after_failure(p)
            return
        p.state, p.started, p.code, p.stage, p.stop_at = "running", sup.clock(), None, 0, None
        self.ready.spawned(p.started)
        if sup.edges is not None:
            sup.edges.spawned(p.started)
        self.live[p.spawned.pid] = p
        p.was_ready, p.starts = False, p.starts + 1
        sup.pipes.attach(p)
        sup.contained.seen([p.spawned.pid])
        ports = " ".join(f"{b.name}={','.join(b.endpoints)}" for b in p.inst.sockets if b.bind)
        sup.out.note(f"started {p.label} (pid {p.spawned.pid})" + (f" {ports}" if ports else ""))
        if p.spawned.note:
            sup.out.note(f"{p.label}: {p.spawned.note}", "yellow")
        if node.ready.when == "started":
            self.mark_ready(p, "")

    def mark_ready(self, p: Proc, why: str) -> None:
        sup = self.sup
        p.state, p.was_ready = "ready", True
        self.ready.became_ready(p, sup.clock())
        if why:
            sup.out.note(f"{p.label} is ready ({why})")
        self.eligible()
        if not self.all_ready and all(q.state == "ready" for q in sup.procs):
            self.all_ready = True  # said once: a restart later does not make it news again
            sup.out.note(f"{'all ' if len(sup.procs) > 1 else ''}{count(len(sup.procs), 'process', 'processes')} ready ({sup.clock() - self.began:.2f}s)", "green")

    def tick(self, now: float) -> None:
        """Readiness learnt from the ports and the edges, readiness timeouts, restarts whose backoff is over."""
        sup = self.sup
        for p, why in self.ready.ports_ready(sup.procs, now):
            self.mark_ready(p, why)
        if sup.edges is not None and not sup.stopping and sup.edges.tick(sup.procs, now):
            for p in self.ready.connected(sup.procs):
                self.mark_ready(p, "its connections are established")
        for p in self.ready.overdue(sup.procs, now):
            if sup.stopping:
                break  # the first one ends the run; the rest are stopped with it
            p.failed, p.ended = True, f"not ready after {p.inst.node.ready.timeout:g}s"
            sup.out.note(f"{p.label} {not_ready(p)}", "bold red")
            sup.fail_run(f"{p.label} never became ready")
        for p in sup.procs:
            if p.state == "backoff" and not sup.stopping and now >= p.backoff_until:
                p.restarts.append(now)
                self.spawn(p)
