"""Signals as events: while a run lasts, SIGINT, SIGTERM, SIGHUP and SIGCHLD only write their
number to a pipe that the supervisor's selector watches; afterwards the old handlers return."""

from __future__ import annotations

import os
import signal
from types import TracebackType

WATCHED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD)


class SignalPipe:
    def __enter__(self) -> SignalPipe:
        self.fd, self._w = os.pipe()
        os.set_blocking(self.fd, False)
        os.set_blocking(self._w, False)
        self._old_wakeup = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, lambda *_: None) for s in WATCHED}
        return self

    def read(self) -> bytes:
        """The signal numbers received since the last read (empty if none)."""
        try:
            return os.read(self.fd, 512)
        except BlockingIOError:
            return b""

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(self.fd)
        os.close(self._w)
