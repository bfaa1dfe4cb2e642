"""The one place that decides whether a run is alive: each run holds an exclusive flock on
LOCK in its run directory for its whole life, beside INFO (run id, topology, zmqrun's pid). A run
whose lock is free is over (or crashed), however zmqrun was started; the kernel drops the lock
when the last process holding it dies, so a SIGKILLed run is never mistaken for a live one."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from typing import NamedTuple

from orchestrator.errors import ExitStatus, ZmqrunError
from orchestrator.run import procfs

LOCK = "run.lock"
INFO = "run.json"
PREFIX = "zmqrun-"
CONTROL = "control"  # the control socket's file name in the run directory


class RunInfo(NamedTuple):
    run_id: str
    topology: str  # the topology file's path
    pid: int  # zmqrun's pid
    rundir: str
    ports: tuple[int, ...] = ()  # the fixed ports it binds: claimed before any node has bound them
    started: float = 0.0  # wall-clock time of the claim; the earlier of two runs keeps a contested port
    name: str = ""  # the topology's name

    @property
    def control(self) -> str:
        return os.path.join(self.rundir, CONTROL)

    def describe(self) -> str:
        return f"zmqrun run {self.run_id} ({self.topology}, zmqrun pid {self.pid})"


def runs_root() -> str:
    return os.environ.get("TMPDIR") or "/tmp"


def rundir_of(run_id: str, root: str | None = None) -> str:
    return os.path.join(root or runs_root(), PREFIX + run_id)


class Claim:
    """This process's hold on a run: taken before any node starts, released after the last ends.
    The descriptor is not inheritable, so nodes never hold the lock; a forked guardian shares it,
    which keeps a run alive until its guardian has finished the clean-up."""

    def __init__(self, rundir: str, run_id: str, topology: str, ports: tuple[int, ...] = (), name: str = ""):
        self.fd = os.open(os.path.join(rundir, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh run directory: never contended
        self.info = RunInfo(run_id, os.path.abspath(topology), os.getpid(), rundir, tuple(sorted(ports)), time.time(), name)
        tmp = os.path.join(rundir, INFO + ".tmp")
        with open(tmp, "w") as f:
            json.dump({"run_id": run_id, "topology": self.info.topology, "pid": self.info.pid,
                       "ports": list(self.info.ports), "started": self.info.started, "name": name}, f)  # fmt: skip
        os.replace(tmp, os.path.join(rundir, INFO))  # a reader never sees half of it

    def contested(self) -> list[tuple[int, RunInfo]]:
        """Fixed ports of this run that an earlier live run claims too (two runs started at once:
        the later one gives way before any node starts)."""
        me = self.info
        return [(port, other) for other, alive in list_runs(os.path.dirname(me.rundir))
                if alive and other.run_id != me.run_id and (other.started, other.run_id) < (me.started, me.run_id)
                for port in sorted(set(other.ports) & set(me.ports))]  # fmt: skip

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def read(rundir: str) -> RunInfo | None:
    try:
        with open(os.path.join(rundir, INFO)) as f:
            data = json.load(f)
        ports = tuple(int(p) for p in data.get("ports", ()))
        return RunInfo(str(data["run_id"]), str(data["topology"]), int(data["pid"]), rundir, ports,
                       float(data.get("started", 0.0)), str(data.get("name", "")))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_alive(rundir: str) -> bool:
    """Whether some process still holds the run's lock. No lock file: not a run, or one gone."""
    try:
        fd = os.open(os.path.join(rundir, LOCK), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)  # closing drops our probe lock, if we got it
    return False


def live_run(run_id: str, rundir: str | None = None) -> RunInfo | None:
    """The live run with this id (its directory given, or under this process's TMPDIR), or None."""
    rundir = rundir or rundir_of(run_id)
    if not is_alive(rundir):
        return None
    return read(rundir) or RunInfo(run_id, "?", 0, rundir)


def _held_lock(pid: int) -> str | None:
    """The run directory whose lock `pid` holds open, if any (only zmqrun and its guardian do:
    the descriptor is not inheritable)."""
    for target in procfs.fd_targets(pid):
        if os.path.basename(target) == LOCK and os.path.basename(os.path.dirname(target)).startswith(PREFIX):
            return os.path.dirname(target)
    return None


def enclosing_run(pid: int) -> RunInfo | None:
    """The live run whose zmqrun is `pid` or an ancestor of it, found from the kernel's process tree and
    the lock zmqrun holds: whatever the process did to its environment (zmqrun is a child
    subreaper, so an orphaned descendant stays below it), and whatever TMPDIR either side uses."""
    seen: set[int] = set()
    while pid > 1 and pid not in seen and len(seen) < 256:
        seen.add(pid)
        rundir = _held_lock(pid)
        if rundir is not None and is_alive(rundir):
            return read(rundir) or RunInfo(os.path.basename(rundir)[len(PREFIX):], "?", pid, rundir)
        pid = procfs.parent(pid)
    return None


def claimed(port: int, root: str | None = None) -> list[RunInfo]:
    """Live runs that bind `port` as a fixed port (whether or not a node has bound it yet)."""
    return [info for info, alive in list_runs(root) if alive and port in info.ports]


def list_runs(root: str | None = None) -> list[tuple[RunInfo, bool]]:
    """Every run directory under `root` with its record and whether it is alive, oldest first."""
    root = root or runs_root()
    try:
        names = sorted(n for n in os.listdir(root) if n.startswith(PREFIX))
    except OSError:
        return []
    found = []
    for name in names:
        rundir = os.path.join(root, name)
        info = read(rundir)
        if info is not None:
            found.append((info, is_alive(rundir)))
    return found


def alive_runs(root: str | None = None) -> list[RunInfo]:
    """This user's live runs, oldest first (root's runs are not everybody's)."""
    mine = []
    for info, alive in list_runs(root):
        try:
            if alive and os.stat(info.rundir).st_uid == os.getuid():
                mine.append(info)
        except OSError:
            continue
    return sorted(mine, key=lambda r: r.started)


def resolve(ref: str | None) -> RunInfo:
    """A live run by run id (or a prefix of it), topology file, or topology name; with no
    reference, the one live run. Raises RunError when none or several match."""
    runs = alive_runs()
    if ref is None:
        if len(runs) == 1:
            return runs[0]
        if not runs:
            raise RunError("no run is alive (start one with `zmqrun FILE`)")
        raise RunError("several runs are alive; name one: " + ", ".join(f"{r.run_id} ({r.name})" for r in runs))
    path = os.path.abspath(ref)
    matches = [r for r in runs if r.run_id == ref]
    matches = matches or [r for r in runs if r.topology == path or r.name == ref]
    matches = matches or [r for r in runs if r.run_id.startswith(ref) or r.run_id.startswith("zr-" + ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunError(f"no live run matches {ref!r}" + (f"; alive: {', '.join(r.run_id for r in runs)}" if runs else ""))
    raise RunError(f"{ref!r} matches several runs: " + ", ".join(r.run_id for r in matches) + "; give a run id")


class RunError(ZmqrunError):
    """No run, or no single run, matches what the user named."""

    status = ExitStatus.NO_RUN
