"""The expect block: watches output and exits, and decides a run as soon as it can."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable

from orchestrator.topology.model import Expect
from orchestrator.view.text import count

TAIL = 10


class Expectations:
    """Observer for the supervisor. Verdicts: (True, summary), (False, what failed), or None."""

    def __init__(self, expect: Expect | None, timeout: float | None = None,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.expect = expect or Expect()
        limit = timeout if timeout is not None else self.expect.timeout
        self.limit = limit
        self.deadline = clock() + limit if limit is not None else None
        self.output = [(c, re.compile(c.pattern)) for c in self.expect.output]
        self.absent = [(c, re.compile(c.pattern)) for c in self.expect.absent]
        self.equal = [((a, re.compile(a.pattern)), (b, re.compile(b.pattern))) for a, b in self.expect.equal]
        self.seen: set[int] = set()  # indexes into self.output that matched
        self.captured: dict[tuple[int, int], str] = {}  # (pair index, side) -> first captured value
        self.exits: dict[str, list[tuple[int, bool]]] = {}
        self.replicas: dict[str, int] = {}
        self.failures: list[str] = []  # every expectation broken so far, in order
        self.unequal: set[int] = set()  # equal pairs already reported as different
        self.tails: dict[str, deque[str]] = {}

    def set_replicas(self, counts: dict[str, int]) -> None:
        self.replicas = dict(counts)

    def line(self, node: str, text: str) -> None:
        self.tails.setdefault(node, deque(maxlen=TAIL)).append(text)
        for i, (cap, rx) in enumerate(self.output):
            if i not in self.seen and cap.node == node and rx.search(text):
                self.seen.add(i)
        for cap, rx in self.absent:
            if cap.node == node and rx.search(text) and not any(f.startswith(f"{node} printed") for f in self.failures):
                self.failures.append(f"{node} printed a line matching {cap.pattern!r}: {text[:200]!r}")
        for i, pair in enumerate(self.equal):
            for side, (cap, rx) in enumerate(pair):
                if cap.node == node and (i, side) not in self.captured and (m := rx.search(text)):
                    self.captured[(i, side)] = m.group(1)
            a, b = self.captured.get((i, 0)), self.captured.get((i, 1))
            if a is not None and b is not None and a != b and i not in self.unequal:
                self.unequal.add(i)
                self.failures.append(f"{pair[0][0].node} gave {a!r} but {pair[1][0].node} gave {b!r}")

    def exited(self, node: str, replica: int, code: int, stopped: bool) -> None:
        """A final exit. One that zmqrun caused by stopping the node counts with the status it
        exited with, so `exit: {server: 0}` asserts a clean shutdown."""
        self.exits.setdefault(node, []).append((code, stopped))
        for name, codes in self.expect.exit:
            if name == node and code not in codes:
                want = " or ".join(map(str, codes))
                how = " when zmqrun stopped it" if stopped else ""
                self.failures.append(f"{node}.{replica} exited with {code}{how}, expected {want}")

    def _ended(self) -> set[str]:
        return {n for n, codes in self.exits.items() if len(codes) >= self.replicas.get(n, 1)}

    def _impossible(self) -> list[str]:
        """Outputs still owed by a node whose every replica has ended: they can never come."""
        ended = self._ended()
        owed = [c for i, (c, _) in enumerate(self.output) if i not in self.seen]
        owed += [pair[side][0] for i, pair in enumerate(self.equal) for side in (0, 1) if (i, side) not in self.captured]
        return [f"{cap.node} ended without printing a line matching {cap.pattern!r}" for cap in owed if cap.node in ended]

    def _unmet(self) -> list[str]:
        """What is still awaited from nodes that have not ended (an ended node's debts are failures)."""
        unmet, ended = [], self._ended()
        for name, codes in self.expect.exit:
            if name not in ended:
                unmet.append(f"{name} to exit with {' or '.join(map(str, codes))}")
        for i, (cap, _) in enumerate(self.output):
            if i not in self.seen and cap.node not in ended:
                unmet.append(f"{cap.node} to print a line matching {cap.pattern!r}")
        for i, pair in enumerate(self.equal):
            for side in (0, 1):
                cap = pair[side][0]
                if (i, side) not in self.captured and cap.node not in ended:
                    unmet.append(f"{cap.node} to print a value for {cap.pattern!r}")
        return unmet

    @property
    def positive(self) -> bool:
        return bool(self.expect.exit or self.expect.output or self.expect.equal)

    def verdict(self, now: float, finished: bool) -> tuple[bool, str] | None:
        """During the run, the first failure decides; at the end, every expectation not met is
        named, each with its reason."""
        problems = self.failures + self._impossible()
        unmet = self._unmet()
        if problems and not finished:
            return False, problems[0]
        if self.positive and not unmet and not problems:
            return True, self._summary()
        if finished:
            waiting = ["the run ended still waiting for " + "; ".join(unmet)] if unmet else []
            return (False, "; ".join(problems + waiting)) if problems or waiting else None
        if self.deadline is not None and now >= self.deadline:
            what = "; still waiting for " + "; ".join(unmet) if unmet else ""
            return False, f"timeout: the {self.limit:g}s deadline passed{what}"
        return None

    def _summary(self) -> str:
        parts = []
        if self.expect.exit:
            parts.append(", ".join(f"{n} exited {'/'.join(map(str, c))}" for n, c in self.expect.exit))
        if self.output:
            parts.append(f"{count(len(self.output), 'output pattern')} seen")
        for i, pair in enumerate(self.equal):
            parts.append(f"{pair[0][0].node} = {pair[1][0].node} = {self.captured[(i, 0)]}")
        return "; ".join(parts)
