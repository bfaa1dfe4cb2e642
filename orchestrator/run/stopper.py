"""The stop sequence: waves that follow the data (senders first, each wave given a share of one
WAVES_BUDGET before the next, so depth shapes only the first second of a stop, never its total),
then per node its stop signal, SIGTERM at half its grace, SIGKILL of its whole tree at the end of
it; every step logged with its reason. Called only from the supervisor's loop."""

from __future__ import annotations

import signal
from collections.abc import Sequence

from orchestrator.run import process
from orchestrator.run.state import Proc
from orchestrator.view.printer import Printer

DRAIN = 0.5  # at most this long a stop wave waits for its nodes before the next wave is signalled
WAVES_BUDGET = 1.0  # every wave is signalled within this long of the stop, however deep the topology
UNKILLABLE = 2.0  # after SIGKILL, how long before a node is reported rather than waited for


class Stopper:
    def __init__(self, procs: list[Proc], start_waves: Sequence[Sequence[str]], out: Printer):
        self.procs = procs
        self.out = out
        self.waves = [set(w) for w in reversed(start_waves)]  # the reverse of start order
        self.wave = 0
        self.wave_at = 0.0
        self.drain = min(DRAIN, WAVES_BUDGET / max(1, len(self.waves) - 1))

    def begin(self, now: float) -> None:
        self.wave_at = now
        self._signal_wave(now)

    def next_deadline(self, now: float) -> float:
        deadlines = [now + 1.0]
        for p in self.procs:
            if p.alive and p.stop_at is not None:
                g = p.inst.node.grace
                deadlines.append(p.stop_at + (g / 2 if p.stage == 1 else g if p.stage == 2 else g + UNKILLABLE))
        if self.wave < len(self.waves):
            deadlines.append(self.wave_at + self.drain)
        return min(deadlines)

    def tick(self, now: float) -> None:
        self.escalate(now)
        while self.wave < len(self.waves):
            busy = any(p.alive for p in self.procs if p.inst.node.name in self.waves[self.wave])
            if busy and now < self.wave_at + self.drain:  # the same sum as next_deadline: no float gap
                return
            self.wave += 1
            # A wave that timed out hands on at its deadline, not at whenever the loop woke: no drift.
            self.wave_at = self.wave_at + self.drain if busy else now
            self._signal_wave(now)

    def escalate(self, now: float) -> None:
        """SIGTERM, then SIGKILL, for every instance whose stop signal went unheeded."""
        for p in self.procs:
            if p.alive and p.stop_at is not None:
                self._escalate(p, now)

    def force(self, now: float) -> None:
        """A second Ctrl-C: every node's tree is killed now."""
        for p in self.procs:
            if p.alive:
                if p.stop_at is None:
                    p.stop_at, p.sent = now, []
                p.stage = 3
                p.sent.append((signal.SIGKILL, now - p.stop_at))
                kill_tree(p)
        self.wave = len(self.waves)

    def _signal_wave(self, now: float) -> None:
        names = self.waves[self.wave] if self.wave < len(self.waves) else set()
        for p in self.procs:
            if p.alive and p.stop_at is None and p.inst.node.name in names:
                assert p.spawned is not None
                p.stop_at, p.stage, p.sent = now, 1, [(p.inst.node.stop_signal, 0.0)]
                process.signal_group(p.spawned.pid, p.inst.node.stop_signal, p.spawned.own_group)

    def _escalate(self, p: Proc, now: float) -> None:
        assert p.spawned is not None and p.stop_at is not None
        grace, waited = p.inst.node.grace, now - p.stop_at
        sig_name = signal.Signals(p.inst.node.stop_signal).name
        if p.stage == 1 and waited >= grace / 2 and p.inst.node.stop_signal != signal.SIGTERM:
            self.out.note(f"{p.label} did not exit {waited:.1f}s after {sig_name}, sending SIGTERM", "yellow")
            process.signal_group(p.spawned.pid, signal.SIGTERM, p.spawned.own_group)
            p.stage = 2
            p.sent.append((signal.SIGTERM, waited))
        elif p.stage in (1, 2) and waited >= grace:
            self.out.note(f"{p.label} did not exit {waited:.1f}s after the stop signal, sending SIGKILL to its tree", "red")
            kill_tree(p)
            p.stage = 3
            p.sent.append((signal.SIGKILL, waited))
        elif p.stage == 3 and waited >= grace + UNKILLABLE:
            # Unkillable for now (uninterruptible sleep): report it rather than hang the stop.
            self.out.note(f"{p.label} (pid {p.spawned.pid}) survived SIGKILL for {UNKILLABLE:g}s; giving up on it", "bold red")
            p.code, p.state, p.failed, p.ended = -9, "exited", True, "could not be killed"


def kill_tree(p: Proc) -> None:
    assert p.spawned is not None
    pids = process.tree(p.spawned.pid)
    if p.spawned.own_group:
        process.signal_group(p.spawned.pid, signal.SIGKILL)
    process.kill_pids(pids)
