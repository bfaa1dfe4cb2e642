"""A small process that outlives zmqrun by a moment: if zmqrun dies without saying goodbye on the
lifeline pipe (SIGKILL, a crash), it kills every process that carries this run's marker and
removes the run's private directory (key files, ipc sockets)."""

from __future__ import annotations

import os
import signal
import time

from orchestrator.run.rundir import remove_rundir

GOODBYE = b"bye"


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


def _watch(read_fd: int, run_id: str, rundir: str) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)  # the terminal's Ctrl-C is zmqrun's to handle
    data = b""
    while True:
        try:
            chunk = os.read(read_fd, 64)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    if GOODBYE in data:
        return
    for _ in range(20):  # a node may fork while we kill; sweep until nothing carries the marker
        pids = marked_pids(run_id)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    if os.path.basename(rundir).startswith("zmqrun-"):  # its keys and ipc sockets must not outlive the run
        remove_rundir(rundir)  # zmqrun cannot: it is gone


class Guardian:
    """Fork the watcher before any node starts; `release()` at a normal end."""

    def __init__(self, run_id: str, rundir: str = ""):
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
                _watch(r, run_id, rundir)
            finally:
                os._exit(0)
        os.close(r)
        self.pid, self._w = pid, w

    def release(self) -> None:
        if self._w < 0:
            return
        try:
            os.write(self._w, GOODBYE)
        except OSError:
            pass
        os.close(self._w)
        self._w = -1
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
