"""The run's private directory (where its ipc sockets live): made before the plan, removed
however the run ends: by zmqrun itself, or by its guardian when zmqrun was killed."""

from __future__ import annotations

import os

from orchestrator.errors import ZmqrunError
from orchestrator.run import runs
from orchestrator.topology.validate import SUN_PATH_MAX


def make_rundir(run_id: str) -> str:
    rundir = runs.rundir_of(run_id)  # where `zmqrun free` and other runs look for live runs
    if len(os.fsencode(rundir)) + len("/999999") > SUN_PATH_MAX:
        rundir = runs.rundir_of(run_id, "/tmp")  # a long TMPDIR leaves no room for ipc paths
    try:
        os.mkdir(rundir, 0o700)  # private: only this user's processes reach its sockets
    except OSError as exc:
        raise ZmqrunError(f"cannot make the run directory {rundir}: {exc.strerror or exc} (check TMPDIR)") from None
    return rundir


def remove_rundir(rundir: str) -> None:
    """The run directory holds ipc socket files and the key directory: no need for shutil here."""
    if not rundir:
        return
    for top, dirs, files in os.walk(rundir, topdown=False):
        for name in files:
            try:
                os.unlink(os.path.join(top, name))
            except OSError:
                pass
        for name in dirs:
            try:
                os.rmdir(os.path.join(top, name))
            except OSError:
                pass
    try:
        os.rmdir(rundir)
    except OSError:
        pass
