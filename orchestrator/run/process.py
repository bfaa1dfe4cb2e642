"""One node process: spawn it in its own session, signal its whole group, reap orphans."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

from orchestrator.run.plan import Instance

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Orphaned descendants of our nodes (double forks, setsid daemons) re-parent to us, so
    none escapes the final sweep. Linux only; elsewhere the environment marker still finds them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Spawned:
    """A started node: its Popen and the pipe ends zmqrun reads and writes."""

    __slots__ = ("out_fd", "own_group", "popen", "ready_fd", "stdin_fd")

    def __init__(self, popen: subprocess.Popen[bytes], out_fd: int, stdin_fd: int | None = None,
                 ready_fd: int | None = None, own_group: bool = True):  # fmt: skip
        self.popen = popen
        self.out_fd = out_fd
        self.stdin_fd = stdin_fd
        self.ready_fd = ready_fd
        self.own_group = own_group

    @property
    def pid(self) -> int:
        return self.popen.pid


def spawn(instance: Instance, stdin: str | tuple[str, ...] | None, ready_pipe: bool = False,
          extra_env: dict[str, str] | None = None) -> Spawned:  # fmt: skip
    """Start one instance: argv (no shell unless asked), own session and process group,
    stdin from /dev/null unless asked, stdout and stderr into one pipe."""
    env = dict(instance.env)
    env.update(extra_env or {})
    pass_fds: tuple[int, ...] = ()
    ready_r = ready_w = None
    if ready_pipe:
        ready_r, ready_w = os.pipe()
        os.set_blocking(ready_r, False)
        env["ZMQRUN_READY_FD"] = str(ready_w)
        pass_fds = (ready_w,)
    if stdin == "inherit":
        stdin_arg: int | None = None
    elif stdin is None:
        stdin_arg = subprocess.DEVNULL
    else:
        stdin_arg = subprocess.PIPE
    try:
        popen = subprocess.Popen(
            instance.argv,
            stdin=stdin_arg,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=instance.cwd,
            env=env,
            # An interactive node stays in our foreground group so that it may read the
            # terminal; every other node gets a session of its own.
            start_new_session=stdin != "inherit",
            pass_fds=pass_fds,
            bufsize=0,
        )
    finally:
        if ready_w is not None:
            os.close(ready_w)
    assert popen.stdout is not None
    out_fd = popen.stdout.fileno()
    os.set_blocking(out_fd, False)
    stdin_fd = None
    if popen.stdin is not None:
        stdin_fd = popen.stdin.fileno()
        os.set_blocking(stdin_fd, False)
    return Spawned(popen, out_fd, stdin_fd, ready_r, own_group=stdin != "inherit")


def signal_group(pid: int, sig: int, own_group: bool = True) -> bool:
    """Send `sig` to the node's process group (its pid), waking it first if it was stopped.
    A node without a group of its own (stdin: inherit) gets the signal alone."""
    send = os.killpg if own_group else os.kill
    try:
        send(pid, sig)
        if sig not in (signal.SIGKILL, signal.SIGCONT):
            send(pid, signal.SIGCONT)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def tree(pid: int) -> list[int]:
    """The pid and all its descendants."""
    return [pid] + sorted(descendants(pid))


def children(pid: int) -> list[int]:
    """Direct children, from /proc/PID/task/*/children (Linux); psutil elsewhere."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tasks = []
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(x) for x in f.read().split()]
        except OSError:
            continue
    if not tasks and not sys.platform.startswith("linux"):
        import psutil

        try:
            return [c.pid for c in psutil.Process(pid).children()]
        except psutil.NoSuchProcess:
            return []
    return found


def descendants(pid: int | None = None) -> set[int]:
    pending, seen = [os.getpid() if pid is None else pid], set()
    while pending:
        for child in children(pending.pop()):
            if child not in seen:
                seen.add(child)
                pending.append(child)
    return seen


def is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def kill_pids(pids: list[int]) -> list[int]:
    killed = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except (ProcessLookupError, PermissionError):
            pass
    return killed


def reap_orphans(known: set[int]) -> list[int]:
    """Reap exited children that are not our nodes (orphans that re-parented to us).
    Our own nodes are left for Popen.poll(), which records their status."""
    reaped: list[int] = []
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return reaped
        if info is None or info.si_pid == 0:
            return reaped
        if info.si_pid in known:
            return reaped  # the caller polls its Popens; nothing to steal here
        try:
            os.waitpid(info.si_pid, os.WNOHANG)
            reaped.append(info.si_pid)
        except ChildProcessError:
            return reaped
