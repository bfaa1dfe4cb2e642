"""The pipes of each node process: its output relayed as whole lines, the helper's pipe (ready,
handshake reports), the stdin lines the topology gives it. Registered in the supervisor's
selector; never blocks."""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable

from orchestrator.run import procfs
from orchestrator.run.state import Proc
from orchestrator.view.printer import PARTIAL_AFTER, LineSplitter

READ_CHUNK = 1 << 16
# A node that writes line by line (flushing, or unbuffered) through a pipe wakes zmqrun for each
# line, and is woken in turn: that ping-pong cost such a node more CPU than its own writes
# (BENCHMARKS.md, section 3). Once a pipe gives a read smaller than SMALL_READ, zmqrun waits LINGER
# after each batch of events in which it read that pipe, so the lines gather in the pipe (64 KiB)
# and come in one read; it stops waiting when a read fills READ_CHUNK (it is behind). A line is
# shown at most LINGER later. Never after output from a pseudo-terminal: its kernel buffer (4 KiB)
# would fill while zmqrun waits and block the node.
LINGER = 0.001
SMALL_READ = 1 << 12


class Pipes:
    def __init__(self, sel: selectors.BaseSelector, on_lines: Callable[[Proc, list[str]], None],
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.sel = sel
        self.on_lines = on_lines
        self.clock = clock  # when a partial line (a prompt) started to wait
        self.linger = self.from_pty = False  # what the reads since the last settle() found

    def attach(self, p: Proc) -> None:
        """Register a freshly spawned incarnation's pipes."""
        assert p.spawned is not None
        p.splitter, p.status_buf = LineSplitter(self.clock), b""
        self.sel.register(p.spawned.out_fd, selectors.EVENT_READ, ("out", p))
        if p.spawned.ready_fd is not None:
            self.sel.register(p.spawned.ready_fd, selectors.EVENT_READ, ("ready", p))
        stdin = p.inst.node.stdin
        if p.spawned.stdin_fd is not None and isinstance(stdin, tuple):
            p.stdin_left = "".join(line + "\n" for line in stdin).encode()
            self.sel.register(p.spawned.stdin_fd, selectors.EVENT_READ | selectors.EVENT_WRITE, ("stdin", p))

    def read(self, p: Proc) -> bool:
        """Relay what the node wrote (a bounded amount); whether there was anything (or its end)."""
        assert p.spawned is not None
        fd = p.spawned.out_fd
        if fd < 0:  # closed while draining earlier in this same batch of events
            return False
        for i in range(8):  # bounded, so one flooding node cannot starve the others
            try:
                data = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                return i > 0
            except OSError:
                data = b""
            if not data:
                self._emit(p, p.splitter.flush())
                self._close_out(p)
                return True
            if p.spawned.pty:
                self.from_pty = True
            else:
                if len(data) < SMALL_READ:
                    p.spawned.trickle = True
                elif len(data) == READ_CHUNK:
                    p.spawned.trickle = False
                self.linger = self.linger or p.spawned.trickle
            self._emit(p, p.splitter.feed(data))
        return True

    def settle(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Called once after each batch of events: linger if it read a pipe that trickles."""
        if self.linger and not self.from_pty:
            sleep(LINGER)
        self.linger = self.from_pty = False

    def release(self, p: Proc) -> None:
        """Drain and close every pipe of this incarnation (it has exited, or is being replaced)."""
        assert p.spawned is not None
        if p.spawned.out_fd >= 0:
            self.read(p)
        if p.spawned.out_fd >= 0:
            self._emit(p, p.splitter.flush())
            self._close_out(p)
        if p.spawned.stdin_fd is not None:
            self._close_stdin(p)
        if p.spawned.ready_fd is not None:
            self.close_ready(p)

    def read_ready(self, p: Proc) -> list[str]:
        """The whole lines the helper wrote to its pipe (`ready`, handshake reports); the pipe
        stays open until the node closes it, as the helper reports on it all along."""
        assert p.spawned is not None and p.spawned.ready_fd is not None
        try:
            data = os.read(p.spawned.ready_fd, 4096)
        except BlockingIOError:
            return []
        if not data:
            self.close_ready(p)
            return []
        *lines, rest = (p.status_buf + data).split(b"\n")
        p.status_buf = rest[-512:]  # a line is short; anything longer is garbage
        return [line.decode("utf-8", "replace") for line in lines]

    def write_stdin(self, p: Proc) -> None:
        assert p.spawned is not None and p.spawned.stdin_fd is not None
        fd = p.spawned.stdin_fd
        try:
            n = os.write(fd, p.stdin_left)
            p.stdin_left = p.stdin_left[n:]
        except BlockingIOError:
            return
        except OSError:
            p.stdin_left = b""
        if not p.stdin_left:
            self._close_stdin(p)  # EOF for the node

    def show_partials(self, procs: list[Proc], now: float, show: Callable[[Proc, str], None]) -> None:
        """A line without its newline (a prompt) is shown once the node has sat PARTIAL_AFTER
        without finishing it. Only the node's silence counts, not a pause in what zmqrun sees:
        first the pipe is drained (if that finds more, the node is still writing, however long
        relaying took while zmqrun was blocked on a slow reader of its own output); and a node
        that is running, or only waiting for a CPU on a loaded machine, is still in the middle of
        its line (a block-buffered node cut off mid-line at the end of a chunk). Shown too early,
        a line would be torn in two."""
        for p in procs:
            since = p.splitter.waiting_since
            if since is None or now - since < PARTIAL_AFTER or self.read(p):
                continue
            assert p.spawned is not None
            if procfs.running(p.spawned.pid):
                p.splitter.waiting_since = now  # look again after another PARTIAL_AFTER
            elif text := p.splitter.partial():
                show(p, text)

    def close_ready(self, p: Proc) -> None:
        assert p.spawned is not None and p.spawned.ready_fd is not None
        self.sel.unregister(p.spawned.ready_fd)
        os.close(p.spawned.ready_fd)
        p.spawned.ready_fd = None

    def _emit(self, p: Proc, lines: list[str]) -> None:
        if lines:
            self.on_lines(p, lines)

    def _close_stdin(self, p: Proc) -> None:
        assert p.spawned is not None and p.spawned.stdin_fd is not None and p.spawned.popen.stdin is not None
        self.sel.unregister(p.spawned.stdin_fd)
        p.spawned.stdin_fd = None
        try:
            p.spawned.popen.stdin.close()  # through the file object, like stdout below
        except OSError:
            pass

    def _close_out(self, p: Proc) -> None:
        assert p.spawned is not None
        self.sel.unregister(p.spawned.out_fd)
        p.spawned.out.close()  # through the file object: it must not close a reused fd later
        p.spawned.out_fd = -1
