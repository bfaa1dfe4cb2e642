"""One node process: spawn it in its own session, signal its whole group, reap orphans."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Container
from typing import BinaryIO

from orchestrator.errors import LimitError
from orchestrator.run import procfs
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
    """A started node: its Popen and the ends zmqrun reads and writes (its output: a pty master
    or a pipe's read end, as a file object that closes its fd exactly once)."""

    __slots__ = ("note", "out", "out_fd", "own_group", "popen", "pty", "ready_fd", "stdin_fd", "trickle")

    def __init__(self, popen: subprocess.Popen[bytes], out: BinaryIO, stdin_fd: int | None = None,
                 ready_fd: int | None = None, own_group: bool = True, note: str | None = None,
                 pty: bool = False):  # fmt: skip
        self.popen = popen
        self.out = out
        self.out_fd = out.fileno()
        self.stdin_fd = stdin_fd
        self.ready_fd = ready_fd
        self.own_group = own_group
        self.note = note  # why the node did not get the output channel it asked for
        self.pty = pty  # its output is a pseudo-terminal (small kernel buffer), not a pipe
        self.trickle = False  # its pipe gives small reads: see pipes.LINGER

    @property
    def pid(self) -> int:
        return self.popen.pid


TERMINAL_SIZE = (24, 80)  # rows, columns: what a node that asks its pseudo-terminal is told


def output_channel(buffering: str) -> tuple[int, int, str | None]:
    """(read end, write end, note) for a node's stdout and stderr. `line` is a pseudo-terminal in
    raw mode (no echo, no CR added, no signal keys): Python and C stdio see a terminal and flush
    each line. `full` and `unbuffered` are a pipe. Without a pty to give, a pipe and a note."""
    if buffering == "line":
        try:
            master, slave = os.openpty()
        except OSError as exc:
            r, w = os.pipe()
            return r, w, f"no pseudo-terminal available ({exc.strerror or exc}); output through a pipe"
        import fcntl
        import struct
        import termios
        import tty

        tty.setraw(slave)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *TERMINAL_SIZE, 0, 0))
        return master, slave, None
    r, w = os.pipe()
    return r, w, None


def spawn(instance: Instance, stdin: str | tuple[str, ...] | None, ready_pipe: bool = False,
          extra_env: dict[str, str] | None = None) -> Spawned:  # fmt: skip
    """Start one instance: argv (no shell unless asked), own session and process group,
    stdin from /dev/null unless asked, stdout and stderr into one pty or pipe (never a
    controlling terminal: the node gets no terminal signals and cannot open /dev/tty)."""
    env = dict(instance.env)
    env.update(extra_env or {})
    out_r, out_w, note = output_channel(instance.node.buffering)
    if note:
        env.setdefault("PYTHONUNBUFFERED", "1")  # the next best thing to line buffering
    pass_fds: tuple[int, ...] = ()
    ready_w = None
    ready_r: int | None = None
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
            stdout=out_w,
            stderr=out_w,
            cwd=instance.cwd,
            env=env,
            # An interactive node stays in our foreground group so that it may read the
            # terminal; every other node gets a session of its own.
            start_new_session=stdin != "inherit",
            pass_fds=pass_fds,
            bufsize=0,
        )
    except BaseException:
        os.close(out_r)
        if ready_r is not None:
            os.close(ready_r)
        raise
    finally:
        os.close(out_w)
        if ready_w is not None:
            os.close(ready_w)
    os.set_blocking(out_r, False)
    stdin_fd = None
    if popen.stdin is not None:
        stdin_fd = popen.stdin.fileno()
        os.set_blocking(stdin_fd, False)
    out = open(out_r, "rb", buffering=0)  # noqa: SIM115 - closed by Pipes when the output ends
    pty = instance.node.buffering == "line" and note is None
    return Spawned(popen, out, stdin_fd, ready_r, own_group=stdin != "inherit", note=note, pty=pty)


FDS_PER_NODE = 3  # zmqrun's end of its output, and at most a ready pipe and a stdin pipe
FDS_SPARE = 64  # zmqrun's own: the selector, signal pipe, guardian lifeline, log files, spawning


def ensure_fd_limit(processes: int) -> int:
    """Raise the soft RLIMIT_NOFILE to what `processes` nodes need (never beyond the hard
    limit, and no further than needed: nodes inherit it). Returns the soft limit in force;
    raises LimitError, before anything starts, when the hard limit is too low."""
    import resource

    need = FDS_PER_NODE * processes + FDS_SPARE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        raise LimitError(f"{processes} processes need about {need} open files in zmqrun, but the limit is "
                         f"{hard} (ulimit -Hn); raise it, or run fewer replicas")  # fmt: skip
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need


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
    return procfs.stat_fields(pid)[:1] == [b"Z"]


def kill_pids(pids: list[int]) -> list[int]:
    killed = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except (ProcessLookupError, PermissionError):
            pass
    return killed


def reap(nodes: Container[int]) -> list[tuple[int, int]]:
    """Reap every exited child in one pass, orphans that re-parented to us included; returns
    (pid, exit code as Popen gives it) for those in `nodes`. One waitpid per exited child,
    however many nodes still run (polling each node's Popen on every SIGCHLD was N^2 at scale)."""
    exited: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return exited
        if pid == 0:
            return exited
        if pid in nodes:
            exited.append((pid, os.waitstatus_to_exitcode(status)))
