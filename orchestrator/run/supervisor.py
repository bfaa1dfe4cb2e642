"""The one owner of run state: starts nodes in order, relays their output, restarts by policy,
stops in waves with escalation, and decides how the run ended. A single selector loop; signal
handlers only write to a wakeup pipe."""

from __future__ import annotations

import re
import selectors
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.control.server import ControlServer
from orchestrator.run import cleanup, process
from orchestrator.run.containment import Containment
from orchestrator.run.exits import ends_run, record_final, stopped_words
from orchestrator.run.handle import Handle
from orchestrator.run.plan import Plan
from orchestrator.run.readiness import waiting_notes
from orchestrator.run.relay import Relay
from orchestrator.run.restart import decide
from orchestrator.run.signals import SignalPipe
from orchestrator.run.starter import Starter
from orchestrator.run.state import (
    Observer,
    Options,
    Outcome,
    Proc,
    all_done,
    decide_outcome,
    describe_code,
    describe_end,
)
from orchestrator.run.stopper import Stopper
from orchestrator.security import store
from orchestrator.view.printer import PARTIAL_AFTER, Printer

if TYPE_CHECKING:
    from orchestrator.edges.watch import EdgeWatch


class Supervisor:
    def __init__(self, plan: Plan, printer: Printer, options: Options | None = None,
                 observer: Observer | None = None, clock: Callable[[], float] = time.monotonic,
                 view: Any = None, watch: Any = None, edges: EdgeWatch | None = None,
                 info: dict[str, Any] | None = None):  # fmt: skip
        self.plan = plan
        self.out = printer
        self.options = options or Options()
        self.observer = observer
        self.clock = clock
        only = self.options.only  # a subset run: the others stay idle, to be started by hand
        self.procs = [Proc(i, only is None or i.label in only) for i in plan.instances]
        for p in self.procs:
            if p.inst.node.ready.when == "log" and p.inst.node.ready.log:
                p.ready_rx = re.compile(p.inst.node.ready.log)
        self.by_node: dict[str, list[Proc]] = {}
        for p in self.procs:
            self.by_node.setdefault(p.inst.node.name, []).append(p)
        self.sel = selectors.DefaultSelector()
        self.stopping: str | None = None
        self.stopper = Stopper(self.procs, plan.waves, printer)
        self.status: int | None = None
        self.signal_status: int | None = None
        self.decided = False  # the observer gave its verdict during the run
        self.baseline: set[int] = set()
        self.view = view  # has refresh(procs, now) and interval, or None
        self.next_view = 0.0
        self.next_progress = 0.0
        self.watch = watch  # has fd and handle(supervisor): --watch, or None
        self.edges = edges  # samples the kernel's view of every edge on its own deadline
        self.starter = Starter(self)
        self.relay = Relay(self.sel, printer, plan.keys, observer, self.starter.mark_ready, clock)
        self.pipes = self.relay.pipes
        self.info = info or {"run_id": plan.run_id}  # what the control socket says about this run
        self.control: ControlServer | None = None
        self.requests = Handle(self, self.info)  # what --watch and the control socket may ask

    # ---- the loop -------------------------------------------------------------------------

    def run(self) -> Outcome:
        with SignalPipe() as signals:
            self.signals = signals
            self.sel.register(signals.fd, selectors.EVENT_READ, ("wake", None))
            if self.watch is not None:
                self.sel.register(self.watch.fd, selectors.EVENT_READ, ("watch", None))
            process.become_subreaper()
            self.baseline = process.descendants()  # never ours to sweep (when embedded in a bigger program)
            self.contained = Containment(self.plan.run_id, self.plan.rundir)
            self.baseline.add(self.contained.pid)
            try:
                if self.plan.keys is not None:  # only now: from here on the guardian removes them, whatever happens
                    store.write(self.plan.keys)
                if self.options.control:
                    self._serve_control(self.options.control)
                self.starter.eligible()
                while not all_done(self.procs, bool(self.stopping)):
                    now = self.clock()
                    timeout = max(0.0, self._next_deadline(now) - now)
                    for key, mask in self.sel.select(timeout):
                        kind, proc = key.data
                        if kind == "wake":
                            self._on_wake()
                        elif kind == "out":
                            self.pipes.read(proc)
                        elif kind == "ready":
                            self.relay.side_channel(proc)
                        elif kind == "stdin":
                            self.pipes.write_stdin(proc)
                        elif kind == "control" and self.control is not None:
                            self.control.handle(proc, mask)
                        elif kind == "watch":
                            self.watch.handle(self)
                    self.pipes.settle()
                    self._tick()
                return self._finish()
            except BaseException:
                # Whatever went wrong in here, no node may outlive it.
                self.stopper.force(self.clock())
                cleanup.sweep(self.plan, self.out, keep=self.baseline)
                raise
            finally:
                if self.control is not None:
                    self.control.close()
                self.contained.close()
                self.sel.close()

    def _serve_control(self, path: str) -> None:
        try:
            self.control = self.relay.control = ControlServer(self.sel, path, self.requests)
        except OSError as exc:  # a TMPDIR too long for a socket path, say: the run goes on without
            self.out.note(f"no control socket ({path}: {exc.strerror or exc}); zmqrun ps/logs/stop cannot reach this run", "yellow")

    def _next_deadline(self, now: float) -> float:
        deadlines = [now + 1.0, self.contained.next_track]  # a safety net against a lost wakeup; pid reports
        deadlines += self.starter.ready.deadlines(self.procs, now, bool(self.stopping))
        for p in self.procs:
            if p.splitter.waiting_since is not None:
                deadlines.append(p.splitter.waiting_since + PARTIAL_AFTER)
        if self.stopping or any(p.alive and p.stop_at is not None for p in self.procs):
            deadlines.append(self.stopper.next_deadline(now))
        if self.observer and self.observer.deadline is not None and not self.stopping:
            deadlines.append(self.observer.deadline)
        if self.view is not None:
            deadlines.append(self.next_view)
        if self.edges is not None and not self.stopping:
            deadlines.append(self.edges.due())
        return min(deadlines)

    # ---- events ---------------------------------------------------------------------------

    def _on_wake(self) -> None:
        for signum in self.signals.read():
            if signum == signal.SIGCHLD:
                self._poll_children()
            elif signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                name = signal.Signals(signum).name
                if self.stopping:
                    self.out.note(f"{name} again: forcing, killing every node now", "bold red")
                    self.stopper.force(self.clock())
                else:
                    hint = " (press Ctrl+C again to force)" if signum == signal.SIGINT else ""
                    self.stop_like_ctrl_c(f"received {name}{hint}", 128 + signum)
        self._poll_children()

    def stop_like_ctrl_c(self, reason: str, status: int = 128 + signal.SIGINT) -> None:
        self.signal_status = status
        self.begin_stop(reason)

    def _poll_children(self) -> None:
        for pid, code in process.reap(self.starter.live):
            p = self.starter.live.pop(pid)
            assert p.spawned is not None
            p.spawned.popen.returncode = code  # reaped here: Popen must not wait for it again
            if p.alive:
                self._on_exit(p, code)

    # ---- exits and restarts ---------------------------------------------------------------

    def _on_exit(self, p: Proc, code: int) -> None:
        p.code = code
        if p.spawned and p.spawned.out_fd >= 0:
            self.pipes.read(p)  # drain what it wrote before the exit note
        now = self.clock()
        stopped = p.stop_at is not None
        if p.respawn and not self.stopping:  # a restart: this exit was asked for; start it again now
            p.respawn, p.stop_at, p.failed = False, None, False
            p.manual_restarts += 1
            self.out.note(f"{p.label} stopped ({describe_code(code)}) for the restart")
            self.starter.spawn(p)
            return
        if self.observer and stopped:
            self.observer.exited(p.inst.node.name, p.inst.replica, code, stopped)
        if stopped:
            p.state, p.ended = "exited", stopped_words(p, code, now)
            return
        decision = decide(p.inst.node.restart, code, p.restarts, now)
        if decision.restart and not self.stopping:
            p.state, p.backoff_until, p.was_ready = "backoff", now + decision.delay, False
            self.out.note(f"{p.label} exited ({describe_end(code, [], 0.0)}); restarting in {decision.delay:.1f}s", "yellow")
            return
        if self.observer:  # only a final exit counts; one followed by a restart does not
            self.observer.exited(p.inst.node.name, p.inst.replica, code, False)
        record_final(p, code, decision)
        self.out.note(f"{p.label} {p.ended}", "red" if p.failed else None)
        if (end := ends_run(p, code, self.options, self.by_node[p.inst.node.name], self.status is not None)) is not None:
            self.status = end[0] if end[0] is not None else self.status
            self.begin_stop(end[1])
        if p.failed:
            self.after_failure(p)
        self.starter.eligible()

    def after_failure(self, p: Proc) -> None:
        if self.options.abort_on_failure:
            self.begin_stop(f"{p.label} failed (--abort-on-failure)")

    # ---- time-driven work -----------------------------------------------------------------

    def _tick(self) -> None:
        now = self.clock()
        self.contained.track(now, self.baseline)
        self.starter.tick(now)
        if not self.stopping:
            self._audit(self.starter.ready.audit_due(now))
        self.pipes.show_partials(self.procs, now, self.relay.partial)
        if self.stopping or any(p.alive and p.stop_at is not None for p in self.procs):
            self.stopper.tick(now)  # also single stops: by hand, or to restart
        if self.control is not None:
            self.control.tick(now)
        if self.observer and not self.stopping:
            verdict = self.observer.verdict(now, finished=False)
            if verdict is not None:
                self._decide(verdict)
        if now >= self.next_progress:
            self._progress(now)
        if self.view is not None and now >= self.next_view:
            self.view.refresh(self.procs, now)
            self.next_view = now + self.view.interval

    def _progress(self, now: float) -> None:
        """Long waits say what they wait for: a slow start, or a stop sitting out its grace."""
        notes, self.next_progress = waiting_notes(self.procs, now, bool(self.stopping))
        for note in notes:
            self.out.note(note)

    def _decide(self, verdict: tuple[bool, str]) -> None:
        ok, message = verdict
        self.decided = True
        self.status = 0 if ok else (3 if message.startswith("timeout") else 1)
        self.begin_stop(("expectations met: " if ok else "expectation failed: ") + message)

    def _audit(self, found: list[tuple[Proc, str]]) -> None:
        """Warn of (or with --strict, fail on) listeners the topology does not declare."""
        for p, where in found:
            message = f"{p.label} listens on {where}, which the topology does not declare"
            if self.options.strict:
                self.out.note(f"error: {message} (--strict)", "bold red")
                p.failed = True
                self.fail_run(f"{p.label} listens on {where}, undeclared (--strict)")
            else:
                self.out.note(f"warning: {message}", "yellow", stream="diagnosis")  # one of the edge diagnoses too

    # ---- stopping -------------------------------------------------------------------------

    def fail_run(self, reason: str) -> None:
        """End the run as failed (status 1) unless its status is already decided."""
        self.status = self.status if self.status is not None else 1
        self.begin_stop(reason)

    def begin_stop(self, reason: str) -> None:
        if self.stopping:
            return
        self.stopping = reason
        self.out.note(f"stopping: {reason}")
        for p in self.procs:
            if p.state == "waiting":
                p.state, p.ended = "skipped", "not started (run stopping)"
            elif p.state == "backoff":
                p.state, p.ended = "exited", f"{describe_code(p.code or 0)}; restart cancelled by the stop"
        self.stopper.begin(self.clock())

    # ---- the end --------------------------------------------------------------------------

    def _finish(self) -> Outcome:
        # Whatever ended the run, every expectation not met is still named (state.decide_outcome).
        late = self.observer.verdict(self.clock(), finished=True) if self.observer and not self.decided else None
        leftovers = cleanup.sweep(self.plan, self.out, keep=self.baseline)
        for p in self.procs:  # output still buffered in pipes, and last lines without newline
            if p.spawned:
                self.pipes.release(p)
        if self.view is not None:
            self.view.refresh(self.procs, self.clock())  # the table's last word: how each node ended
        return decide_outcome(self.procs, self.signal_status, self.status, self.stopping, leftovers, late)
