"""The one client of the control socket, used by the CLI, the Python API (and the web page):
typed replies, clear errors, and waiting for instances started or stopped by hand."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from orchestrator.control.protocol import decode, encode
from orchestrator.errors import ExitStatus, ZmqrunError
from orchestrator.run.runs import RunError, RunInfo, is_alive


class ControlError(ZmqrunError):
    """The run refused a request, or could not be asked."""

    def __init__(self, message: str, status: int = ExitStatus.FAILED):
        super().__init__(message)
        self.status = status  # type: ignore[assignment]


class Instance(NamedTuple):
    """One row of `zmqrun ps`."""

    label: str
    node: str
    replica: int
    # waiting (for what it depends on), starting (up, not yet ready), running (up and ready),
    # stopping, backoff (restarting by policy), exited, failed, skipped, idle (not started)
    state: str
    pid: int | None
    uptime: float | None  # seconds
    restarts: int  # by policy and by hand
    starts: int  # incarnations so far
    last_exit: str | None  # "exit 0", "killed by SIGKILL"
    ended: str  # how it ended, in words ("" while it runs)
    failed: bool
    cpu_seconds: float | None
    memory_rss: int | None  # bytes
    ports: tuple[str, ...]  # bound endpoints

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Instance:
        values: dict[str, Any] = {f: row.get(f) for f in cls._fields}
        return cls(**{**values, "ports": tuple(row.get("ports") or ())})


class Status(NamedTuple):
    """A run as `ps` sees it: the run's own facts, and its instances by label."""

    run: dict[str, Any]  # run_id, name, topology, pid, running, total, stopping
    instances: dict[str, Instance]


class EdgeRow(NamedTuple):
    """One row of `zmqrun ps --edges`: a declared edge along the data flow (the sender first)."""

    from_: str  # INSTANCE.SOCKET, or the endpoint when it is outside the topology
    to: str
    from_instance: str | None  # instance labels (None: outside the topology)
    to_instance: str | None
    from_type: str | None  # socket types
    to_type: str | None
    binds: str  # which end binds: "from" or "to" (the other connects)
    endpoint: str
    transport: str  # tcp or ipc
    state: str  # up, down, never up, unknown (not sampled yet, or edges not watched)
    since: float | None  # when it went up or down (seconds since the epoch)
    reconnects: int
    rate_forward: float | None  # bytes per second along the data flow; None where not counted (ipc)
    rate_back: float | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EdgeRow:
        values: dict[str, Any] = {f: row.get("from" if f == "from_" else f) for f in cls._fields}
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {("from" if k == "from_" else k): v for k, v in self._asdict().items()}


class Edges(NamedTuple):
    run: dict[str, Any]
    watched: bool  # False under `--edge-interval 0`: every state is unknown
    interval: float | None  # seconds between samples
    edges: list[EdgeRow]


class LogLine(NamedTuple):
    time: float  # when zmqrun relayed it (seconds since the epoch)
    label: str  # NODE.N
    line: str  # sanitised


class ControlClient:
    """Talks to one run. Every call opens one connection; `timeout` bounds each reply."""

    def __init__(self, run: RunInfo, timeout: float = 10.0):
        self.run = run
        self.timeout = timeout

    def ps(self) -> Status:
        reply = self._one({"op": "ps"})
        return Status(reply["run"], {r["label"]: Instance.from_row(r) for r in reply["instances"]})

    def edges(self) -> Edges:
        reply = self._one({"op": "edges"})
        return Edges(reply["run"], bool(reply.get("watched")), reply.get("interval"),
                     [EdgeRow.from_row(r) for r in reply["edges"]])  # fmt: skip

    def logs(self, targets: Sequence[str] = (), tail: int | None = None, since: float | None = None,
             follow: bool = False, until: float | None = None) -> Iterator[LogLine]:  # fmt: skip
        """Buffered lines (oldest first), then, with `follow`, new ones until the run ends, or
        until the time.monotonic() deadline `until` passes (then ControlError, status TIMEOUT).
        A follower that falls too far behind is dropped by the run; this one then picks up again
        from the last time it saw (lines the buffer no longer holds are lost)."""
        request = {"op": "logs", "targets": list(targets), "tail": tail, "since": since, "follow": follow}
        last, at_last, skip, resumed = 0.0, 0, 0, False
        while True:
            try:
                for obj in self._stream(request, follow, until):
                    if obj.get("end"):
                        return  # the run said so: everything asked for was sent
                    if "line" not in obj:
                        continue
                    stamp = obj["time"]
                    if skip and stamp == last:
                        skip -= 1  # yielded before the drop
                        continue
                    yield LogLine(stamp, obj["label"], obj["line"])
                    last, at_last = stamp, (at_last + 1 if stamp == last else 1)
            except ZmqrunError as exc:
                if resumed and exc.status == ExitStatus.NO_RUN:
                    return  # the run ended between the drop and now
                raise
            if not follow or not is_alive(self.run.rundir):
                return  # the run ended: so does the stream
            request, skip, resumed = {**request, "tail": None, "since": last}, at_last, True

    def labels(self) -> list[str]:
        """Every instance label of the run, in order."""
        return list(self.ps().instances)

    def stop(self, targets: Sequence[str] = (), wait: bool = True) -> dict[str, Any]:
        """Stop instances with their own stop sequence; with no targets, the whole run (as Ctrl-C)."""
        reply = self._one({"op": "stop", "targets": list(targets)})
        if wait and targets:
            self._await(reply, lambda i, before: i.pid is None and i.state != "stopping", "stop")
        return reply

    def start(self, targets: Sequence[str], wait: bool = True) -> dict[str, Any]:
        """Start instances; with `wait`, return once each is ready (ControlError if one fails)."""
        reply = self._one({"op": "start", "targets": list(targets)})
        if wait:
            self._await_ready(reply)
        return reply

    def restart(self, targets: Sequence[str], wait: bool = True) -> dict[str, Any]:
        reply = self._one({"op": "restart", "targets": list(targets)})
        if wait:
            self._await_ready(reply)
        return reply

    # ---- waiting --------------------------------------------------------------------------

    def _await_ready(self, reply: dict[str, Any]) -> None:
        def done(i: Instance, before: int) -> bool:
            # While an old incarnation stops it shows "stopping", so "running" is the new one.
            if i.state == "running" or (i.state == "exited" and i.starts > before and i.last_exit == "exit 0"):
                return True
            if i.state in ("failed", "skipped", "exited", "idle"):
                raise ControlError(f"{i.label} did not get ready: {i.ended or i.state}")
            return False

        self._await(reply, done, "get ready")

    def _await(self, reply: dict[str, Any], done: Any, what: str) -> None:
        befores = reply.get("starts") or {label: 0 for label in reply.get("done", {})}
        deadline = time.monotonic() + float(reply.get("wait", 30))
        pending = dict(befores)
        while pending:
            status = self.ps()
            for label, before in list(pending.items()):
                if done(status.instances[label], before):
                    del pending[label]
            if not pending:
                return
            if time.monotonic() > deadline:
                states = ", ".join(f"{label} ({status.instances[label].state})" for label in pending)
                raise ControlError(f"gave up waiting for {states} to {what}", ExitStatus.TIMEOUT)
            time.sleep(0.05)

    # ---- the wire -------------------------------------------------------------------------

    def _one(self, request: dict[str, Any]) -> dict[str, Any]:
        for obj in self._stream(request, False):
            return obj
        raise ControlError(f"run {self.run.run_id} closed the connection without a reply", ExitStatus.NO_RUN)

    def _stream(self, request: dict[str, Any], follow: bool, until: float | None = None) -> Iterator[dict[str, Any]]:
        sock = self._connect()
        try:
            sock.sendall(encode(request))
            sock.settimeout(None if follow else self.timeout)
            buf = b""
            first = True
            while True:
                if until is not None:
                    sock.settimeout(max(0.001, until - time.monotonic()))
                try:
                    data = sock.recv(1 << 16)
                except TimeoutError:
                    if until is not None:
                        raise ControlError("deadline passed", ExitStatus.TIMEOUT) from None
                    raise ControlError(f"run {self.run.run_id} did not answer within {self.timeout:g}s") from None
                except OSError:
                    data = b""
                if not data:
                    if first:
                        raise ControlError(f"run {self.run.run_id} ended", ExitStatus.NO_RUN)
                    return
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    obj = decode(line)
                    if first:
                        first = False
                        if not obj.get("ok"):
                            raise ControlError(str(obj.get("error")), int(obj.get("status") or ExitStatus.FAILED))
                    yield obj
                    if obj.get("end"):
                        return
        finally:
            sock.close()

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.run.control)
        except PermissionError:
            sock.close()
            raise ControlError(f"permission denied: run {self.run.run_id} belongs to another user") from None
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise RunError(f"run {self.run.run_id} is not serving control requests (it ended?)") from None
        return sock
