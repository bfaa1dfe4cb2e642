"""The one place that decides whether a run is alive: each run holds an exclusive flock on
`lock` in its private run directory for its whole life, with `run.json` (run id, topology, pid,
start time) beside it. A crashed run's directory may linger; its lock is free, so it is not alive."""

from __future__ import annotations

import fcntl
import glob
import json
import os
import time
from typing import NamedTuple

from orchestrator.errors import ExitStatus, ZmqrunError

LOCK = "lock"
INFO = "run.json"
CONTROL = "control"  # the control socket's file name in the run directory


class RunInfo(NamedTuple):
    run_id: str
    name: str  # the topology's name
    topology: str  # the topology file, absolute
    pid: int  # zmqrun's
    started: float  # wall-clock time
    rundir: str

    @property
    def control(self) -> str:
        return os.path.join(self.rundir, CONTROL)


def runs_root() -> str:
    return os.environ.get("TMPDIR") or "/tmp"


def rundir_of(run_id: str) -> str:
    return os.path.join(runs_root(), f"zmqrun-{run_id}")


class RunLock:
    """Held by zmqrun while its run lives; the kernel lets go of it if zmqrun dies."""

    def __init__(self, rundir: str, run_id: str, name: str, topology: str):
        self.fd = os.open(os.path.join(rundir, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        info = {"run_id": run_id, "name": name, "topology": os.path.abspath(topology), "pid": os.getpid(),
                "started": time.time()}  # fmt: skip
        tmp = os.path.join(rundir, INFO + ".tmp")
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, os.path.join(rundir, INFO))  # readers never see half a file

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _held(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # also lets go of the shared lock, if we got it
    return False


def read_info(rundir: str) -> RunInfo | None:
    """The run in `rundir` if it is alive and this user's; None otherwise."""
    try:
        if os.stat(rundir).st_uid != os.getuid():
            return None
        with open(os.path.join(rundir, INFO)) as f:
            raw = json.load(f)
        info = RunInfo(str(raw["run_id"]), str(raw["name"]), str(raw["topology"]), int(raw["pid"]),
                       float(raw["started"]), rundir)  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if _held(os.path.join(rundir, LOCK)) else None


def alive_runs() -> list[RunInfo]:
    """This user's live runs on this machine, oldest first."""
    found = [read_info(d) for d in glob.glob(os.path.join(runs_root(), "zmqrun-*"))]
    return sorted((r for r in found if r is not None), key=lambda r: r.started)


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
