"""The control socket of a run: a Unix socket (mode 0600, in the run's private directory) served
from the supervisor's own selector loop. It never blocks: every client has bounded buffers, and
one that does not keep up (or never says anything) is dropped. Requests become calls on a narrow
interface of the supervisor (`Controllable`); only the same user, or root, is answered."""

from __future__ import annotations

import os
import selectors
import socket
import struct
import time
from typing import Any, Protocol

from orchestrator.control.logbuffer import LogBuffer
from orchestrator.control.protocol import MAX_REQUEST, OPS, decode, encode
from orchestrator.errors import ExitStatus, ZmqrunError
from orchestrator.run.targets import select

MAX_CLIENTS = 32
MAX_PENDING = 1 << 20  # bytes of unsent follow output before a client counts as stuck and is dropped
REQUEST_WITHIN = 10.0  # seconds a client has to send its request
DRAIN_WITHIN = 30.0  # seconds a client has to read a finished reply


class Controllable(Protocol):
    """What the control server may ask of a run; the supervisor implements it (run/handle.py)."""

    def labels(self) -> list[str]: ...
    def info(self) -> dict[str, Any]: ...
    def rows(self) -> list[dict[str, Any]]: ...
    def edge_rows(self) -> dict[str, Any]: ...
    def stop(self, labels: list[str]) -> dict[str, Any]: ...
    def start(self, labels: list[str]) -> dict[str, Any]: ...
    def restart(self, labels: list[str]) -> dict[str, Any]: ...
    def stop_run(self, reason: str) -> None: ...


class _Client:
    __slots__ = ("deadline", "follow", "inbuf", "outbuf", "sock", "wants_write", "closing")

    def __init__(self, sock: socket.socket, now: float):
        self.sock = sock
        self.inbuf = b""
        self.outbuf = bytearray()
        self.follow: set[str] | None = None
        self.deadline: float | None = now + REQUEST_WITHIN
        self.wants_write = False
        self.closing = False  # close once the reply is sent


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def allowed(uid: int) -> bool:
    return uid in (os.getuid(), 0)


class ControlServer:
    def __init__(self, sel: selectors.BaseSelector, path: str, run: Controllable,
                 clock: Any = time.monotonic):  # fmt: skip
        self.sel = sel
        self.path = path
        self.run = run
        self.clock = clock
        self.logs = LogBuffer()
        self.clients: dict[int, _Client] = {}
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # never a moment with a looser mode than 0600
        try:
            self.listener.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.listener.listen(16)
        self.listener.setblocking(False)
        sel.register(self.listener, selectors.EVENT_READ, ("control", None))

    # ---- called by the supervisor's loop --------------------------------------------------

    def handle(self, client: _Client | None, mask: int) -> None:
        if client is None:
            self._accept()
            return
        if mask & selectors.EVENT_WRITE:
            self._send(client)
        if mask & selectors.EVENT_READ and client.sock.fileno() in self.clients:
            self._receive(client)

    def lines(self, label: str, lines: list[str]) -> None:
        """Node output: kept for `logs`, and sent to every client following this instance."""
        stamp = self.logs.add(label, lines)
        if not self.clients:
            return
        for c in list(self.clients.values()):
            if c.follow is not None and label in c.follow:
                self._queue(c, b"".join(encode({"time": stamp, "label": label, "line": line}) for line in lines))

    def tick(self, now: float) -> None:
        for c in list(self.clients.values()):
            if c.deadline is not None and now >= c.deadline:
                self._close(c)

    def close(self) -> None:
        """The run is over: followers see the end of their stream."""
        for c in list(self.clients.values()):
            if c.follow is not None and len(c.outbuf) < MAX_PENDING:
                c.outbuf += encode({"end": True})
            self._send(c)  # a last try, never waiting
            self._close(c)
        self.sel.unregister(self.listener)
        self.listener.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass

    # ---- connections ----------------------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(16):
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # EMFILE and friends: try again on the next event
            sock.setblocking(False)
            if not allowed(peer_uid(sock)):
                self._refuse(sock, "permission denied: this run belongs to another user")
                continue
            if len(self.clients) >= MAX_CLIENTS:
                self._refuse(sock, f"too many control clients (at most {MAX_CLIENTS}); try again")
                continue
            c = _Client(sock, self.clock())
            self.clients[sock.fileno()] = c
            self.sel.register(sock, selectors.EVENT_READ, ("control", c))

    def _refuse(self, sock: socket.socket, message: str) -> None:
        try:
            sock.send(encode({"ok": False, "error": message, "status": int(ExitStatus.FAILED)}))
        except OSError:
            pass
        sock.close()

    def _receive(self, c: _Client) -> None:
        try:
            data = c.sock.recv(MAX_REQUEST)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(c)  # the client went away (a follower pressing Ctrl-C)
            return
        if c.deadline is None or c.closing or c.follow is not None:
            return  # one request per connection: anything after it is ignored
        c.inbuf += data
        if b"\n" not in c.inbuf:
            if len(c.inbuf) > MAX_REQUEST:
                self._reply_error(c, "request too long", ExitStatus.INVALID)
            return
        line = c.inbuf.split(b"\n", 1)[0]
        c.inbuf = b""
        try:
            request = decode(line)
        except ValueError as exc:
            self._reply_error(c, f"bad request: {exc}", ExitStatus.INVALID)
            return
        try:
            self._dispatch(c, request)
        except ZmqrunError as exc:
            self._reply_error(c, str(exc), exc.status)

    def _dispatch(self, c: _Client, request: dict[str, Any]) -> None:
        op = request.get("op")
        if op not in OPS:
            raise ZmqrunError(f"unknown request {op!r}; known: {', '.join(OPS)}")
        words = request.get("targets") or []
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ZmqrunError("targets must be a list of node or instance names")
        labels = select(self.run.labels(), words) if words else []
        if op == "ps":
            self._reply(c, {"ok": True, "run": self.run.info(), "instances": self.run.rows()})
        elif op == "edges":
            self._reply(c, {"ok": True, "run": self.run.info(), **self.run.edge_rows()})
        elif op == "logs":
            self._logs(c, labels or self.run.labels(), request)
        elif op == "stop" and not labels:
            self._reply(c, {"ok": True, "stopping": "run"})
            self.run.stop_run("zmqrun stop")
        elif op in ("stop", "start", "restart"):
            if not labels:
                raise ZmqrunError(f"{op} needs at least one node or instance")
            self._reply(c, {"ok": True, **getattr(self.run, op)(labels)})

    def _logs(self, c: _Client, labels: list[str], request: dict[str, Any]) -> None:
        tail, since, follow = request.get("tail"), request.get("since"), bool(request.get("follow"))
        if tail is not None and (not isinstance(tail, int) or tail < 0):
            raise ZmqrunError("tail must be a whole number of lines, 0 or more")
        if since is not None and not isinstance(since, (int, float)):
            raise ZmqrunError("since must be a time in seconds since the epoch")
        out = [encode({"ok": True, "labels": self.run.labels()})]
        out += [encode({"time": t, "label": label, "line": line}) for t, label, line in self.logs.lines(labels, tail, since)]
        if follow:
            c.follow, c.deadline = set(labels), None
        else:
            out.append(encode({"end": True}))
            c.closing, c.deadline = True, self.clock() + DRAIN_WITHIN
        self._queue(c, b"".join(out), bounded=False)  # the buffers bound a reply already

    def _reply(self, c: _Client, obj: dict[str, Any]) -> None:
        c.closing, c.deadline = True, self.clock() + DRAIN_WITHIN
        self._queue(c, encode(obj), bounded=False)

    def _reply_error(self, c: _Client, message: str, status: int) -> None:
        self._reply(c, {"ok": False, "error": message, "status": int(status)})

    def _queue(self, c: _Client, data: bytes, bounded: bool = True) -> None:
        if bounded and len(c.outbuf) + len(data) > MAX_PENDING:
            self._close(c)  # stuck: dropped, so the run keeps relaying for everyone else
            return
        c.outbuf += data
        self._send(c)

    def _send(self, c: _Client) -> None:
        if c.sock.fileno() not in self.clients:
            return
        while c.outbuf:
            try:
                n = c.sock.send(c.outbuf[: 1 << 18])
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._close(c)
                return
            del c.outbuf[:n]
        if not c.outbuf and c.closing:
            self._close(c)
            return
        want = bool(c.outbuf)
        if want != c.wants_write:
            c.wants_write = want
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
            self.sel.modify(c.sock, events, ("control", c))

    def _close(self, c: _Client) -> None:
        fd = c.sock.fileno()
        if fd in self.clients:
            del self.clients[fd]
            self.sel.unregister(c.sock)
        c.sock.close()
