"""The node helper's background thread: answers ZAP requests, admitting only this run's client
keys per socket, and watches every socket's handshakes: successes are counted for the start
barrier, failures are reported to zmqrun. It owns its sockets; others reach it through a lock
and a wake-up pipe."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import zmq
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

from orchestrator.security.handshake import FAILED_EVENTS, Failure, Throttle, encode

ZAP_ENDPOINT = "inproc://zeromq.zap.01"  # fixed by RFC 27: libzmq asks here
WATCHED = zmq.EVENT_HANDSHAKE_SUCCEEDED | FAILED_EVENTS | zmq.EVENT_MONITOR_STOPPED


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w


def _poke(fd: int) -> None:
    try:
        os.write(fd, b"x")
    except OSError:  # full: a wake-up is already pending
        pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 256):
            pass
    except OSError:
        pass


class Guard:
    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], report: Callable[[bytes], None],
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.context = context
        self._report = report
        self._clock = clock
        self._lock = threading.Lock()
        self._handshakes: dict[str, int] = {}
        self._allowed: dict[bytes, frozenset[bytes]] = {}  # ZAP domain -> client keys (binary)
        self._incoming: list[tuple[str, zmq.Socket[bytes]]] = []
        self._stopping = False
        self._ctl_r, self._ctl_w = _pipe()
        self.notify_r, self._notify_w = _pipe()  # readable after each successful handshake
        self._zap: zmq.Socket[bytes] | None = None
        self._throttle = Throttle()
        self._thread = threading.Thread(target=self._run, name="zmqrun-guard", daemon=True)
        self._thread.start()

    # ---- called from the node's thread ----------------------------------------------------

    def watch(self, name: str, sock: zmq.Socket[bytes]) -> None:
        """Watch `sock` from before its first bind or connect, so no handshake is missed."""
        monitor = sock.get_monitor_socket(WATCHED)
        with self._lock:  # also the memory barrier that hands the socket to our thread
            self._incoming.append((name, monitor))
        _poke(self._ctl_w)

    def admit(self, domain: str, client_keys: list[str]) -> None:
        """Serve ZAP for `domain` (a socket's zap_domain), admitting only these Z85 public keys.
        The handler is bound before this returns, so it precedes the socket's bind."""
        keys = frozenset(z85.decode(k.encode("ascii")) for k in client_keys)
        with self._lock:
            self._allowed[domain.encode()] = keys
            if self._zap is None:
                zap = self.context.socket(zmq.REP)
                zap.linger = 0
                zap.bind(ZAP_ENDPOINT)
                self._zap = zap
                self._incoming.append(("", zap))
        _poke(self._ctl_w)

    def handshakes(self, name: str) -> int:
        with self._lock:
            return self._handshakes.get(name, 0)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        _poke(self._ctl_w)
        self._thread.join(timeout=5)
        for fd in (self._ctl_r, self._ctl_w, self.notify_r, self._notify_w):
            os.close(fd)

    # ---- our thread -----------------------------------------------------------------------

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._ctl_r, zmq.POLLIN)
        names: dict[zmq.Socket[bytes], str] = {}
        try:
            while True:
                events = dict(poller.poll())
                if self._ctl_r in events:
                    _drain(self._ctl_r)
                    with self._lock:
                        incoming, self._incoming = self._incoming, []
                        stopping = self._stopping
                    for name, sock in incoming:
                        names[sock] = name
                        poller.register(sock, zmq.POLLIN)
                    if stopping:
                        return
                for sock in [s for s in names if s in events]:
                    if sock is self._zap:
                        self._answer(sock)
                    elif not self._event(names[sock], sock):
                        poller.unregister(sock)
                        del names[sock]
                        sock.close(linger=0)
        except zmq.ContextTerminated:
            pass
        finally:
            for sock in names:
                sock.close(linger=0)

    def _event(self, name: str, monitor: zmq.Socket[bytes]) -> bool:
        """Handle one monitor event; False once the monitor has stopped."""
        event = recv_monitor_message(monitor)
        kind = event["event"]
        if kind == zmq.EVENT_MONITOR_STOPPED:
            return False
        if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            with self._lock:
                self._handshakes[name] = self._handshakes.get(name, 0) + 1
            _poke(self._notify_w)
        elif kind & FAILED_EVENTS:
            count = self._throttle.count((name, kind, event["value"]), self._clock())
            if count:
                endpoint = (
                    event["endpoint"].decode("ascii", "replace")
                    if isinstance(event["endpoint"], bytes)
                    else str(event["endpoint"])
                )
                self._report(encode(Failure(name, kind, event["value"], count, endpoint or "-")))
        return True

    def _answer(self, zap: zmq.Socket[bytes]) -> None:
        """One ZAP request (RFC 27): 200 for a CURVE client key admitted on its domain, else 400."""
        frames = zap.recv_multipart()
        version, request_id = frames[0], frames[1] if len(frames) > 1 else b""
        ok = False
        if version == b"1.0" and len(frames) >= 7 and frames[5] == b"CURVE":
            with self._lock:
                ok = frames[6] in self._allowed.get(frames[2], frozenset())
        status = (b"200", b"OK") if ok else (b"400", b"not a client key of this run")
        zap.send_multipart([b"1.0", request_id, *status, b"", b""])
