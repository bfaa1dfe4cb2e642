"""What Linux's /proc says about one process: its stat fields and where its descriptors point."""

from __future__ import annotations

import os


def stat_fields(pid: int) -> list[bytes]:
    """The fields of /proc/PID/stat after the command name (state first, then ppid, ...);
    [] for a process gone or unreadable. The name may hold spaces and parentheses: split after it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return []


def running(pid: int) -> bool:
    """Whether the process is running or waiting only for a CPU (state R), not asleep."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] == b"R"


def parent(pid: int) -> int:
    """The parent's pid; 0 when unknown."""
    fields = stat_fields(pid)
    return int(fields[1]) if len(fields) > 1 else 0


def fd_targets(pid: int) -> list[str]:
    """Where each open descriptor of `pid` points (`socket:[123]`, a path, ...); [] for a process
    gone or not ours to read."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    found = []
    for fd in fds:
        try:
            found.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return found
