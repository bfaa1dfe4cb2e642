"""Helper for node programs run by zmqrun: sockets from the environment, bound or connected and
configured; a ready signal; a start barrier; and SIGINT/SIGTERM that end the program cleanly.

    from orchestrator.node import Node

    with Node() as node:                       # sockets come from ZMQRUN_SOCKETS
        tasks = node.socket("tasks")
        node.ready()
        while True:
            msg = node.recv(tasks)             # raises Stopped on SIGINT/SIGTERM; `with` swallows it
"""

from __future__ import annotations

import json
import os
import signal
import sys
from types import FrameType, TracebackType
from typing import Any, overload

import zmq

from orchestrator.security.guard import Guard

DEFAULT_LINGER_MS = 1000  # finite, so a dead peer never blocks exit; long enough to flush a tail


class Stopped(Exception):
    """Raised inside the node when zmqrun (or the user) asks it to stop."""


class Node:
    def __init__(self, linger_ms: int = DEFAULT_LINGER_MS, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.name = env.get("ZMQRUN_NODE", os.path.basename(sys.argv[0]) or "node")
        self.replica = int(env.get("ZMQRUN_REPLICA", "1"))
        self.run_id = env.get("ZMQRUN_RUN_ID", "")
        self.spec: dict[str, dict[str, Any]] = json.loads(env.get("ZMQRUN_SOCKETS", "{}"))
        self._ready_fd = int(env["ZMQRUN_READY_FD"]) if env.get("ZMQRUN_READY_FD") else None
        if self._ready_fd is not None:
            try:  # the guard's thread reports on it too; a stalled reader must never block us
                os.set_blocking(self._ready_fd, False)
            except OSError:
                self._ready_fd = None
        self._public_key = env.get("ZMQRUN_CURVE_PUBLICKEY", "")
        self._secret_file = env.get("ZMQRUN_CURVE_SECRETKEY_FILE", "")
        self.linger_ms = linger_ms
        self.context = zmq.Context()
        self._sockets: dict[str, zmq.Socket[bytes]] = {}
        self._guard: Guard | None = None
        self.stopping = False
        # >0 while a stop signal must only mark the stop, not raise Stopped: in a poll (which the
        # wake-up pipe ends), in the helper's own set-up of a socket, and from close() on.
        self._shielded = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._old_wakeup = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    # ---- sockets --------------------------------------------------------------------------

    def socket(self, name: str, subscribe: str | bytes | None = None) -> zmq.Socket[bytes]:
        """The declared socket `name`, bound or connected to every endpoint zmqrun assigned.
        A SUB socket subscribes to `subscribe` (everything when None)."""
        if name in self._sockets:
            return self._sockets[name]
        if name not in self.spec:
            known = ", ".join(self.spec) or "none (is this running under zmqrun?)"
            raise KeyError(f"no socket {name!r} declared for node {self.name}; declared: {known}")
        # A stop signal while the socket is being made only marks the stop (see _on_signal):
        # Stopped raised from inside Guard or pyzmq could leave a socket that nothing closes,
        # and then close() would wait for it for ever in Context.term().
        self._shielded += 1
        try:
            sock = self._open(name, self.spec[name], subscribe)
        finally:
            self._shielded -= 1
        if self.stopping:
            raise Stopped  # now that the socket is whole and close() will close it
        return sock

    def _open(self, name: str, spec: dict[str, Any], subscribe: str | bytes | None) -> zmq.Socket[bytes]:
        sock = self.context.socket(getattr(zmq, spec["type"]))
        try:
            sock.linger = self.linger_ms
            # Watch handshakes from the very first connection, before any peer can arrive, so
            # that wait_for_peers() never misses one and a refused peer is always reported.
            if self._guard is None:
                self._guard = Guard(self.context, self._report)
            self._guard.watch(name, sock)
            server_keys = self._curve(name, sock, spec) if spec.get("security") == "curve" else []
            if spec["type"] == "SUB":
                topic = subscribe if subscribe is not None else b""
                sock.setsockopt(zmq.SUBSCRIBE, topic.encode() if isinstance(topic, str) else topic)
            for i, endpoint in enumerate(spec["endpoints"]):
                if server_keys:  # taken at connect time, so each peer is held to its own key
                    sock.curve_serverkey = server_keys[i].encode("ascii")
                (sock.bind if spec["bind"] else sock.connect)(endpoint)
        except BaseException:
            sock.close(linger=0)
            raise
        self._sockets[name] = sock
        return sock

    def _curve(self, name: str, sock: zmq.Socket[bytes], spec: dict[str, Any]) -> list[str]:
        """Give `sock` this instance's key pair; a server gets ZAP admission of this run's
        clients on its edges, a client the server keys (returned, one per endpoint)."""
        from orchestrator.security.store import read_secret

        if not self._secret_file or not self._public_key:
            raise KeyError(f"socket {name!r} of node {self.name} uses CURVE, but ZMQRUN_CURVE_SECRETKEY_FILE "
                           "and ZMQRUN_CURVE_PUBLICKEY are not set")  # fmt: skip
        sock.curve_secretkey = read_secret(self._secret_file)
        sock.curve_publickey = self._public_key.encode("ascii")
        if spec["bind"]:
            assert self._guard is not None
            self._guard.admit(name, list(spec.get("clientkeys", [])))
            sock.zap_domain = name.encode()
            sock.curve_server = True
            return []
        keys = list(spec.get("serverkeys", []))
        if len(keys) != len(spec["endpoints"]):
            raise KeyError(f"socket {name!r} of node {self.name} uses CURVE but has no server key for every endpoint")
        return keys

    def _report(self, line: bytes) -> None:
        """A line for zmqrun (from the guard's thread); dropped when nobody listens."""
        if self._ready_fd is not None:
            try:
                os.write(self._ready_fd, line)
            except OSError:
                pass

    def peers(self, name: str) -> int:
        """How many peers zmqrun expects on this socket (connecting instances, or endpoints)."""
        return int(self.spec[name].get("peers", len(self.spec[name]["endpoints"])))

    def wait_for_peers(self, name: str, count: int | None = None, timeout: float = 10.0) -> int:
        """Start barrier: block until `count` peers (default: all expected) have completed the
        ZeroMQ handshake on socket `name`, so a PUSH fans out evenly from the first message and
        a PUB loses nothing to a slow joiner. Returns how many arrived before the timeout."""
        import time

        want = self.peers(name) if count is None else count
        sock = self.socket(name)
        guard = self._guard
        assert guard is not None
        deadline = time.monotonic() + timeout
        while (seen := guard.handshakes(name)) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if self._wait([guard.notify_r], left):
                try:
                    while os.read(guard.notify_r, 256):
                        pass
                except BlockingIOError:
                    pass
        if sock.type in (zmq.PUB, zmq.XPUB, zmq.SUB, zmq.XSUB) and seen:
            # Subscriptions travel just after the handshake; give them a moment to land.
            self.poll([], 0.05)
        return seen

    # ---- waiting, with signals as a wake-up ----------------------------------------------

    def poll(self, sockets: list[zmq.Socket[bytes]], timeout: float | None = None) -> list[zmq.Socket[bytes]]:
        """Sockets readable within `timeout` seconds (None: forever); Stopped on a stop signal."""
        return self._wait(sockets, timeout)

    def _wait(self, sockets: list[Any], timeout: float | None) -> list[Any]:
        """poll() for sockets and file descriptors alike."""
        poller = zmq.Poller()
        for s in sockets:
            poller.register(s, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        if self.stopping:
            raise Stopped
        self._shielded += 1
        try:
            events = dict(poller.poll(None if timeout is None else int(timeout * 1000)))
        finally:
            self._shielded -= 1
        if self._wake_r in events:
            self._drain_wake()
        if self.stopping:
            raise Stopped
        return [s for s in sockets if s in events]

    @overload
    def recv(self, sock: zmq.Socket[bytes], timeout: None = None) -> bytes: ...
    @overload
    def recv(self, sock: zmq.Socket[bytes], timeout: float) -> bytes | None: ...

    def recv(self, sock: zmq.Socket[bytes], timeout: float | None = None) -> bytes | None:
        """One message, or None after `timeout` seconds; Stopped on a stop signal."""
        if self.poll([sock], timeout):
            return sock.recv()
        return None

    @overload
    def recv_string(self, sock: zmq.Socket[bytes], timeout: None = None) -> str: ...
    @overload
    def recv_string(self, sock: zmq.Socket[bytes], timeout: float) -> str | None: ...

    def recv_string(self, sock: zmq.Socket[bytes], timeout: float | None = None) -> str | None:
        data = self.recv(sock, timeout)
        return None if data is None else data.decode("utf-8", "replace")

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once to stop."""
        self.poll([], seconds)

    def ready(self) -> None:
        """Tell zmqrun this node is ready (for `ready: helper`); harmless otherwise. What the node
        printed before is flushed first, so zmqrun shows it before it starts the dependents."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stream is no reason to stay unready
        self._report(b"ready\n")  # the pipe stays open: handshake failures are reported on it too

    # ---- shutdown -------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        if not self._shielded:
            # Blocked in a plain sock.recv() or time.sleep(): end it there, as Ctrl-C would.
            raise Stopped

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 256):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        self._shielded += 1  # for good: nothing may cut the clean-up short
        if self._guard is not None:
            for sock in self._sockets.values():
                sock.disable_monitor()
            self._guard.stop()
            self._guard = None
        for sock in self._sockets.values():
            sock.close(linger=self.linger_ms)
        self._sockets.clear()
        self.context.term()
        signal.set_wakeup_fd(self._old_wakeup)
        for s, handler in self._old.items():
            signal.signal(s, handler)
        os.close(self._wake_r)
        os.close(self._wake_w)
        if self._ready_fd is not None:
            os.close(self._ready_fd)
            self._ready_fd = None

    def __enter__(self) -> Node:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool:
        self.close()
        return kind is not None and issubclass(kind, (Stopped, KeyboardInterrupt))
