"""The project's exception types and the documented exit statuses of the CLI."""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class ExitStatus(IntEnum):
    OK = 0
    FAILED = 1  # a node failed or an expectation was not met
    INVALID = 2  # the topology (or the command line) is invalid; nothing was started
    TIMEOUT = 3  # the expect deadline passed before the outcome was decided
    PORTS = 4  # a port of the run could not be freed afterwards
    NO_RUN = 5  # no live run matches (zmqrun ls/ps/logs/stop/start/restart), or it ended meanwhile
    INTERRUPTED = 130  # stopped by Ctrl-C, SIGTERM or SIGHUP


class Problem(NamedTuple):
    """One thing wrong with a topology file, located by file, line and YAML path."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ZmqrunError(Exception):
    """Base of every error that the CLI reports as one clear message."""

    status = ExitStatus.FAILED


class TopologyError(ZmqrunError):
    """The topology is invalid; carries every problem found, not just the first."""

    status = ExitStatus.INVALID

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class PortError(ZmqrunError):
    """A port could not be assigned or freed."""

    status = ExitStatus.PORTS


class LimitError(ZmqrunError):
    """The system does not allow what the run needs (file descriptors); nothing was started."""


class PortRangeError(ZmqrunError):
    """No free port is left in the topology's range for automatic ports; nothing was started."""

    status = ExitStatus.INVALID


class SecurityError(ZmqrunError):
    """A key file or key directory that must not be trusted (readable by others, not ours, malformed)."""

    status = ExitStatus.FAILED
