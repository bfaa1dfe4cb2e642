"""How a run's processes are kept from outliving it: a cgroup of its own where the machine allows
(zmqrun enters it, so every descendant is born inside), else the guardian kept informed of every
pid the loop has seen. Either way the guardian acts if zmqrun dies without a goodbye."""

from __future__ import annotations

from orchestrator.run import cgroup, process
from orchestrator.run.guardian import Guardian

TRACK_EVERY = 0.25  # without a cgroup: how often the loop reports new descendants to the guardian


class Containment:
    def __init__(self, run_id: str, rundir: str = ""):
        parent, self.describe = cgroup.probe()
        self.cgroup: cgroup.RunCgroup | None = None
        if parent is not None:
            try:
                self.cgroup = cgroup.RunCgroup(parent, run_id)
            except OSError as exc:
                self.describe = f"guardian (could not make a cgroup under {parent}: {exc.strerror or exc})"
        self.guardian = Guardian(run_id, self.cgroup.path if self.cgroup else None, rundir)
        self.next_track = 0.0 if self.cgroup is None else float("inf")  # when the loop should call track()
        self.pid = self.guardian.pid
        self.told: set[int] = set()
        if self.cgroup is not None:
            try:
                self.cgroup.enter()  # after the fork: the guardian stays outside, safe from cgroup.kill
                self.describe = f"cgroup v2 {self.cgroup.path}"
            except OSError as exc:
                self.cgroup.kill_and_remove()
                self.cgroup, self.next_track = None, 0.0
                self.describe = f"guardian (could not enter the run's cgroup: {exc.strerror or exc})"

    def seen(self, pids: list[int]) -> None:
        """Pids the loop knows of (a node just spawned); the guardian needs them only without a cgroup."""
        if self.cgroup is None:
            new = [p for p in pids if p not in self.told]
            self.told.update(new)
            self.guardian.tell(new)

    def track(self, now: float, keep: set[int]) -> None:
        """Without a cgroup: now and then, report descendants that appeared (daemons re-parented
        to zmqrun as subreaper included) before they can hide."""
        if self.cgroup is None and now >= self.next_track:
            self.next_track = now + TRACK_EVERY
            self.seen(sorted(process.descendants() - keep))

    def close(self) -> None:
        """At the end of the run (nodes gone, sweep done): leave and kill the cgroup, then say goodbye."""
        if self.cgroup is not None:
            try:
                self.cgroup.leave()
            except OSError:
                pass  # still inside: killing the cgroup would kill zmqrun; the sweep has ended the nodes
            else:
                self.cgroup.kill_and_remove()
        self.guardian.release()
