"""`--watch`: which files belong to which node, and watcher threads (watchfiles) that wake the
supervisor's selector loop through a pipe; the loop alone decides what to restart."""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from orchestrator.errors import TopologyError
from orchestrator.topology.model import Topology

if TYPE_CHECKING:
    from orchestrator.run.supervisor import Supervisor

Note = Callable[..., None]  # the printer's note(text, style=None)
DEBOUNCE_MS = 400  # changes are grouped until quiet for 50 ms, at most this long: one restart per save


class Targets(NamedTuple):
    topology: frozenset[str]  # the topology file, the files it includes, and their .env or --env-files
    nodes: dict[str, frozenset[str]]  # node -> the files and folders that are its own
    shared: frozenset[str]  # the PATHS given to --watch: a change there restarts every node


def targets(topology: Topology, topology_files: Iterable[str], extra: Sequence[str]) -> Targets:
    """What to watch: each node's explicit `cwd` (all of it) and the scripts named in its `run`."""
    nodes: dict[str, frozenset[str]] = {}
    for node in topology.nodes:
        cwd = os.path.normpath(os.path.join(topology.base_dir, node.cwd or "."))
        owned = {cwd} if node.cwd else set()
        words = node.run
        if node.shell and words:
            try:
                words = tuple(shlex.split(words[0]))
            except ValueError:
                words = ()
        for word in words[1:]:  # the program itself (python3, /usr/bin/...) is not the user's file
            path = os.path.normpath(os.path.join(cwd, word))
            if "{" not in word and os.path.isfile(path):
                owned.add(os.path.realpath(path))
        nodes[node.name] = frozenset(owned)
    return Targets(frozenset(os.path.realpath(f) for f in topology_files), nodes,
                   frozenset(os.path.realpath(p) for p in extra))  # fmt: skip


def plan_inputs(file: str, env_files: Sequence[str], included: Iterable[str]) -> set[str]:
    """The files the plan is made from: the topology, the files it includes, and the variables'
    files (the `--env-file`s, or the `.env` beside each topology file, present or not yet)."""
    tops = {file, *included}
    dotenvs = env_files or [os.path.join(os.path.dirname(os.path.abspath(f)), ".env") for f in tops]
    return tops | set(dotenvs)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def affected(t: Targets, changed: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The changed topology files, and for each node to restart, its changed files (pure)."""
    changed = sorted({os.path.realpath(c) for c in changed})
    tops = [c for c in changed if c in t.topology]
    out: dict[str, list[str]] = {}
    for c in changed:
        owners = [name for name, roots in t.nodes.items() if any(_under(c, r) for r in roots)]
        if not owners and any(_under(c, r) for r in t.shared):
            owners = list(t.nodes)
        for name in owners:
            out.setdefault(name, []).append(c)
    return tops, out


def _roots(t: Targets) -> tuple[set[str], set[str]]:
    """Folders to watch without recursion (parents of single files) and with it (cwds, PATHS)."""
    flat, deep = set(), set()
    for path in set(t.topology).union(*t.nodes.values(), t.shared):
        if os.path.isdir(path):
            deep.add(path)
        else:
            flat.add(os.path.dirname(path))  # editors replace files by renaming: watch the folder
    return flat - deep, deep


class Watcher:
    """Runs watchfiles in threads; each batch of changes is queued and one byte wakes the loop."""

    def __init__(self, t: Targets):
        self.fd, self._w = os.pipe()
        os.set_blocking(self.fd, False)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        flat, deep = _roots(t)
        self._threads = [threading.Thread(target=self._watch, args=(sorted(roots), recursive), daemon=True,
                                          name="zmqrun-watch") for roots, recursive in ((flat, False), (deep, True))
                         if roots]  # fmt: skip
        for thread in self._threads:
            thread.start()

    def _watch(self, roots: list[str], recursive: bool) -> None:
        import watchfiles

        try:
            for batch in watchfiles.watch(*roots, recursive=recursive, debounce=DEBOUNCE_MS, stop_event=self._stop,
                                          raise_interrupt=False):  # fmt: skip
                with self._lock:
                    self._changed.update(path for _, path in batch)
                try:
                    os.write(self._w, b"w")
                except OSError:
                    return  # closed under us
        except Exception as exc:  # noqa: BLE001 - a folder removed, inotify limits: say so, never end the run
            with self._lock:
                self._changed.add(f"!watching stopped: {exc}")
            os.write(self._w, b"!")

    def drain(self) -> set[str]:
        try:
            while os.read(self.fd, 512):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            changed, self._changed = self._changed, set()
        return changed

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        if not any(thread.is_alive() for thread in self._threads):
            os.close(self.fd)  # a thread still running keeps its pipe: a reused fd number must never get its byte
            os.close(self._w)


class Session:
    """One watched run: restarts the nodes whose files changed; a changed topology is loaded and,
    when valid, ends this run so the runner starts the new plan."""

    def __init__(self, file: str, env_files: Sequence[str], topology: Topology, extra: Sequence[str]):
        from orchestrator.topology.source import read

        self.file, self.env_files, self.topology = file, env_files, topology
        self.targets = targets(topology, plan_inputs(file, env_files, read(file, env_files).doc.files.values()), extra)
        self.watcher = Watcher(self.targets)
        self.fd = self.watcher.fd
        self.next: Topology | None = None  # the plan to start when this run ends

    def handle(self, sup: Supervisor) -> None:
        """Called by the supervisor's loop when the pipe is readable."""
        changed = self.watcher.drain()
        for broken in (c for c in changed if c.startswith("!")):
            sup.out.note(broken[1:], "bold red")
        tops, nodes = affected(self.targets, (c for c in changed if not c.startswith("!")))
        if tops and (reason := self.reload_reason(tops, sup.out.note)):
            sup.requests.end_run(reason)
            return
        for name, files in nodes.items():  # a topology saved unchanged (or invalid) with a script: the script counts
            sup.requests.restart_node(name, "changed: " + ", ".join(self._short(f) for f in files))

    def reload_reason(self, tops: list[str], say: Note) -> str | None:
        """Load the changed topology: the reason to restart with it, or None (invalid or the same)."""
        from orchestrator.topology.validate import load_topology

        what = ", ".join(self._short(f) for f in tops)
        try:
            new = load_topology(self.file, env_files=self.env_files)
        except TopologyError as exc:
            say(f"{what} changed but is invalid; the current plan keeps running:", "bold red")
            for problem in exc.problems:
                say(f"  {problem}", "red")
            return None
        if new == self.topology:
            say(f"{what} saved; the plan is unchanged")
            return None
        self.next = new
        return f"{what} changed: starting the new plan"

    def wait(self, note: Note) -> tuple[str, Topology]:
        """Between runs: block until a change; the reason and the topology to run next."""
        import select

        while True:
            select.select([self.fd], [], [])
            changed = {c for c in self.watcher.drain() if not c.startswith("!")}
            tops, nodes = affected(self.targets, changed)
            if tops and (reason := self.reload_reason(tops, note)) and self.next is not None:
                return reason, self.next
            if nodes:
                files = sorted({f for fs in nodes.values() for f in fs})
                return "changed: " + ", ".join(self._short(f) for f in files), self.topology

    @staticmethod
    def _short(path: str) -> str:
        rel = os.path.relpath(path)
        return rel if not rel.startswith("../..") else path

    def close(self) -> None:
        self.watcher.close()
