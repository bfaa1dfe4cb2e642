"""What the supervisor knows about a run: one record per instance, the options, the outcome,
and the observer protocol (the expect block implements it)."""

from __future__ import annotations

import re
import signal
from typing import NamedTuple, Protocol

from orchestrator.run import process
from orchestrator.run.plan import Instance
from orchestrator.view.printer import LineSplitter


class Observer(Protocol):
    """Watches the run (the expect block does); may decide it, or name a deadline."""

    deadline: float | None

    def line(self, node: str, text: str) -> None: ...
    def exited(self, node: str, replica: int, code: int, stopped: bool) -> None: ...
    def verdict(self, now: float, finished: bool) -> tuple[bool, str] | None: ...


class Proc:
    """Everything the supervisor knows about one instance; only the supervisor changes it."""

    __slots__ = (
        "backoff_until",
        "code",
        "ended",
        "failed",
        "inst",
        "ready_rx",
        "respawn",
        "restarts",
        "sent",
        "spawned",
        "splitter",
        "stage",
        "started",
        "state",
        "stdin_left",
        "status_buf",
        "stop_at",
        "was_ready",
    )  # fmt: skip

    def __init__(self, inst: Instance):
        self.inst = inst
        self.state = "waiting"  # waiting, running, ready, backoff, exited, failed, skipped
        self.spawned: process.Spawned | None = None
        self.splitter = LineSplitter()
        self.started = 0.0
        self.code: int | None = None
        self.stop_at: float | None = None  # when the stop signal was sent
        self.stage = 0  # 0 none, 1 stop signal, 2 SIGTERM, 3 SIGKILL
        self.sent: list[tuple[int, float]] = []  # signals of the stop: (signum, seconds after the first)
        self.restarts: list[float] = []
        self.backoff_until = 0.0
        self.ended = ""
        self.failed = False
        self.stdin_left = b""
        self.status_buf = b""  # a partial line from the helper's pipe
        self.ready_rx: re.Pattern[str] | None = None
        self.was_ready = False  # ready in this incarnation (stays true after it ends)
        self.respawn = False  # stopped on purpose, to be started again at once (--watch)

    @property
    def alive(self) -> bool:
        return self.spawned is not None and self.code is None

    @property
    def label(self) -> str:
        return self.inst.label


class Options(NamedTuple):
    abort_on_failure: bool = False
    exit_code_from: str | None = None
    edge_interval: float | None = None  # seconds between samples of the edges (None: the default); 0: off
    strict: bool = False  # a listener the topology did not declare fails the run


class Outcome(NamedTuple):
    status: int
    reason: str
    procs: list[Proc]
    leftovers: list[str] = []
    signal: int | None = None  # the signal that stopped the run (SIGINT, SIGTERM, SIGHUP), if one did


def all_done(procs: list[Proc], stopping: bool) -> bool:
    """The loop ends when no node lives and none will start or restart (or the run is stopping)."""
    if any(p.alive for p in procs):
        return False
    return stopping or not any(p.state in ("waiting", "backoff") for p in procs)


def describe_end(code: int, sent: list[tuple[int, float]], after: float) -> str:
    """How an instance ended, with the stop signals zmqrun sent and when, counted from the first:
    `killed by SIGKILL; sent SIGINT, SIGTERM at 1.5s, SIGKILL at 3.0s; ended at 3.01s`. A signal
    death that zmqrun did not cause says so (`killed by SIGKILL, not sent by zmqrun`)."""
    what = describe_code(code)
    if code < 0 and all(signum != -code for signum, _ in sent):
        what += ", not sent by zmqrun"
    if not sent:
        return what
    steps = ", ".join(signal.Signals(s).name + (f" at {t:.1f}s" if i else "") for i, (s, t) in enumerate(sent))
    if len(sent) == 1:
        return f"{what}, {after:.2f}s after {steps}"
    return f"{what}; sent {steps}; ended at {after:.2f}s"


def describe_code(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def decide_outcome(procs: list[Proc], signal_status: int | None, status: int | None, stopping: str | None,
                   leftovers: list[str], late: tuple[bool, str] | None = None) -> Outcome:  # fmt: skip
    """How the run ended: a signal beats a decided status, which beats failed nodes; a success
    that left a port held becomes status 4. `late` is the expect block's verdict at the end,
    when it did not decide the run itself: a failed one is named after whatever ended the run
    and turns a success into status 1."""
    if late is not None:
        ok, message = late
        if not ok:
            status = status or 1
            stopping = f"{stopping}; expectation failed: {message}" if stopping else f"expectation failed: {message}"
        elif status is None:
            status, stopping = 0, stopping or f"expectations met: {message}"
    failed = [p.label for p in procs if p.failed]
    if signal_status is not None:
        code, reason = signal_status, stopping or "interrupted"
    elif status is not None:
        code, reason = status, stopping or ""
    elif failed:
        code, reason = 1, "failed: " + ", ".join(failed)
    else:
        code, reason = 0, stopping or "every node finished"
    if leftovers and code == 0:
        code = 4
    return Outcome(code, reason, procs, leftovers, signal_status - 128 if signal_status is not None else None)
