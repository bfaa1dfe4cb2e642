"""A cgroup v2 per run, where the machine allows one: zmqrun enters it before the first node
starts, so every node and every descendant is born inside, whatever it later does to its
environment, session or process group; `cgroup.kill` ends them all at once. Elsewhere (no
cgroup v2, no write access, ZMQRUN_CGROUP=off) runs fall back to the guardian's pid list."""

from __future__ import annotations

import os
import time

KILL_WAIT = 2.0  # how long to wait for a killed cgroup to empty before giving up on rmdir


def _own_cgroup_dir() -> tuple[str | None, str]:
    """The directory of this process's cgroup v2, or None and why not."""
    try:
        with open("/proc/self/cgroup") as f:
            path = next((line[3:].strip() for line in f if line.startswith("0::")), None)
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split() for line in f]
    except OSError as exc:
        return None, f"cannot read /proc ({exc.strerror})"
    if path is None:
        return None, "no cgroup v2 hierarchy for this process"
    for fields in mounts:
        sep = fields.index("-")
        if fields[sep + 1] != "cgroup2":
            continue
        root, mountpoint = fields[3], fields[4]
        if root == "/" or path == root or path.startswith(root + "/"):
            rel = path if root == "/" else path[len(root) :]
            return os.path.normpath(mountpoint + "/" + rel.lstrip("/")), ""
    return None, "cgroup v2 is not mounted"


def probe() -> tuple[str | None, str]:
    """Where this machine lets a run have its own cgroup (the parent directory), and how runs
    are contained here, in words for `zmqrun check` and a run's first lines."""
    if os.environ.get("ZMQRUN_CGROUP", "").lower() in ("off", "0", "no"):
        return None, "guardian (cgroups turned off by ZMQRUN_CGROUP=off)"
    parent, why = _own_cgroup_dir()
    if parent is None:
        return None, f"guardian ({why})"
    if not os.access(parent, os.W_OK) or not os.access(os.path.join(parent, "cgroup.procs"), os.W_OK):
        return None, f"guardian (no write access to {parent}: not root and not delegated)"
    return parent, f"cgroup v2 under {parent}"


class RunCgroup:
    """One run's cgroup: `enter()` moves zmqrun in (its children inherit it), `leave()` moves it
    back, `kill_and_remove()` kills whatever is left inside and removes the directory."""

    def __init__(self, parent: str, run_id: str):
        self.parent = parent
        self.path = os.path.join(parent, "zmqrun-" + run_id)
        os.mkdir(self.path)
        if not os.path.exists(os.path.join(self.path, "cgroup.kill")):
            os.rmdir(self.path)
            raise OSError("no cgroup.kill in a new cgroup (kernel older than 5.14)")

    def enter(self) -> None:
        _write(os.path.join(self.path, "cgroup.procs"), str(os.getpid()))

    def leave(self) -> None:
        _write(os.path.join(self.parent, "cgroup.procs"), str(os.getpid()))

    def kill_and_remove(self) -> bool:
        """True when the cgroup is gone. Call only once zmqrun itself has left it."""
        return kill_and_remove(self.path)


def kill_and_remove(path: str) -> bool:
    """Kill every process in the cgroup at `path`, wait for it to empty, remove it."""
    try:
        _write(os.path.join(path, "cgroup.kill"), "1")
    except FileNotFoundError:
        return True
    except OSError:
        pass
    deadline = time.monotonic() + KILL_WAIT
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:  # EBUSY while dying processes are still being torn down
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
