"""Writes that deliver every byte. A write(2) to a pipe may take only part of what it is given:
when a signal arrives while it waits for room (zmqrun's SIGCHLD handler, say), or at once when
the pipe is non-blocking (O_NONBLOCK is shared by everyone holding the pipe, so any of them may
have set it). Python's buffered streams hide the first case, but raw ones do not, and
`sys.stdout.buffer` is raw whenever PYTHONUNBUFFERED or -u is in effect (common in containers and
CI). Every write of zmqrun's own output, and of the pid lines its guardian relies on, goes
through here, so nothing is ever lost or torn by a short write."""

from __future__ import annotations

import os
import select
import sys
from typing import BinaryIO


def _wait_writable(fd: int) -> None:
    """Block until `fd` takes more (or reports an error, which the next write raises)."""
    poll = select.poll()
    poll.register(fd, select.POLLOUT)
    poll.poll()


def write_fd(fd: int, data: bytes | memoryview) -> None:
    """os.write until every byte of `data` is written."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            _wait_writable(fd)


def write_stream(out: BinaryIO, data: bytes | memoryview) -> None:
    """Write every byte of `data` to `out`, raw or buffered, blocking or not, and flush it."""
    view = memoryview(data)
    while view:
        try:
            n = out.write(view)
        except BlockingIOError as exc:  # a buffered stream over a non-blocking fd: part was taken
            n = exc.characters_written
            _wait_writable(out.fileno())
        if n is None:  # a raw non-blocking stream that took nothing
            _wait_writable(out.fileno())
            n = 0
        view = view[n:]
    while True:
        try:
            out.flush()
            return
        except BlockingIOError:
            _wait_writable(out.fileno())


def write_stdout(text: str) -> None:
    """A whole document to stdout (a schema, an export, a completion script): what the text layer
    holds first, then every byte of `text`."""
    sys.stdout.flush()
    write_stream(sys.stdout.buffer, text.encode(sys.stdout.encoding or "utf-8", "replace"))
