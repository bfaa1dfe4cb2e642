"""A small process that outlives zmqrun by a moment: if zmqrun dies without saying goodbye on the
lifeline pipe (SIGKILL, a crash), it kills the run's cgroup if it has one, every pid zmqrun told
it about (and their descendants), and every process that carries this run's marker, then removes
the run's private directory (key files, ipc sockets)."""

from __future__ import annotations

import os
import signal
import time

from orchestrator.run import cgroup, process, procfs
from orchestrator.run.rundir import remove_rundir
from orchestrator.writes import write_fd

GOODBYE = b"bye\n"


def marked_pids(run_id: str) -> list[int]:
    """Processes whose environment holds ZMQRUN_RUN_ID=<run_id>, read straight from /proc."""
    needle = b"ZMQRUN_RUN_ID=" + run_id.encode() + b"\0"
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot): a pid plus this names one process."""
    fields = procfs.stat_fields(pid)
    return int(fields[19]) if len(fields) > 19 else None


def _told_pids(told: dict[int, int | None]) -> list[int]:
    """The pids zmqrun reported that are still the same processes, with their descendants."""
    found: set[int] = set()
    for pid, started in told.items():
        if started is not None and start_time(pid) == started:
            found.update(process.tree(pid))
    return sorted(found)


def _watch(read_fd: int, run_id: str, cgroup_path: str | None, rundir: str) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)  # the terminal's Ctrl-C is zmqrun's to handle
    data = b""
    told: dict[int, int | None] = {}
    while True:
        try:
            chunk = os.read(read_fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        *lines, data = (data + chunk).split(b"\n")
        for line in lines:
            if line == GOODBYE.strip():
                return
            if line.isdigit():  # a pid the loop has seen; remember which process it was
                told[int(line)] = start_time(int(line))
    if cgroup_path is not None:
        cgroup.kill_and_remove(cgroup_path)
    for _ in range(20):  # a node may fork while we kill; sweep until nothing is left
        pids = sorted(set(marked_pids(run_id)) | set(_told_pids(told)))
        if not pids:
            break
        process.kill_pids(pids)
        time.sleep(0.05)
    if os.path.basename(rundir).startswith("zmqrun-"):  # its keys and ipc sockets must not outlive the run
        remove_rundir(rundir)  # zmqrun cannot: it is gone


class Guardian:
    """Fork the watcher before any node starts (and before zmqrun enters the run's cgroup);
    `tell()` it every pid seen, `release()` at a normal end."""

    def __init__(self, run_id: str, cgroup_path: str | None = None, rundir: str = ""):
        self.pid = 0
        self._w = -1
        if not os.path.isdir("/proc"):
            return
        r, w = os.pipe()  # not inheritable: nodes never hold the lifeline
        pid = os.fork()
        if pid == 0:  # the guardian
            try:
                os.close(w)
                os.setsid()  # out of the terminal's process group
                _watch(r, run_id, cgroup_path, rundir)
            finally:
                os._exit(0)
        os.close(r)
        self.pid, self._w = pid, w

    def tell(self, pids: list[int]) -> None:
        """Report pids the loop has seen; the guardian kills them too if zmqrun dies."""
        if self._w >= 0 and pids:
            try:
                write_fd(self._w, "".join(f"{pid}\n" for pid in pids).encode())  # never a torn pid
            except OSError:
                pass

    def release(self) -> None:
        if self._w < 0:
            return
        try:
            write_fd(self._w, GOODBYE)
        except OSError:
            pass
        os.close(self._w)
        self._w = -1
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
