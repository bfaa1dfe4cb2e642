"""The kernel's view of the declared edges: which of the run's processes own which sockets
(from /proc/PID/fd), and from sock_diag each connecting end's TCP state and byte counters, or
the unix peer of an ipc edge. No cooperation from the nodes is needed."""

from __future__ import annotations

import os
import socket
from collections.abc import Collection

from orchestrator.edges.declared import Edge
from orchestrator.edges.track import Observation
from orchestrator.run import sockdiag
from orchestrator.run.sockdiag import ESTABLISHED, LISTEN


def descendants(pid: int) -> list[int]:
    """`pid` and its children's trees, from /proc (a shell node's program is its child)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return out


def socket_inodes(pid: int) -> list[int]:
    found: list[int] = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.append(int(target[8:-1]))
    return found


def cpu_ns(pid: int) -> int | None:
    """CPU time the process has used, in nanoseconds (schedstat; finer than the 10 ms ticks of stat)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _endpoint(s: sockdiag.TcpSocket) -> str:
    return f"tcp://[{s.src}]:{s.sport}" if ":" in s.src else f"tcp://{s.src}:{s.sport}"


class KernelView:
    """Samples the kernel for a fixed set of edges. Which process owns a socket is learned from
    /proc only when a socket of interest is new, so a quiet run costs two netlink dumps a sample."""

    def __init__(self, edges: tuple[Edge, ...]):
        self.edges = edges
        self.ports = {e.port for e in edges if e.port is not None}
        self.v6 = any(e.endpoint.startswith("tcp://[") for e in edges)
        self.paths = {e.path for e in edges if e.path}
        self.owner: dict[int, str] = {}  # socket inode -> instance label
        self.foreign: set[int] = set()  # inodes of interest owned by no node of ours

    def _rescan(self, pids: dict[str, int]) -> None:
        self.owner = {inode: label for label, pid in pids.items() for p in descendants(pid) for inode in socket_inodes(p)}

    def sample(self, pids: dict[str, int], audit: Collection[str] = ()) -> tuple[list[Observation], list[tuple[str, str]]]:
        """One observation per edge, and (label, endpoint) of what the instances in `audit` listen on."""
        tcp: list[sockdiag.TcpSocket] = []
        listen_states = (1 << LISTEN) if audit else 0
        if self.ports or audit:
            families = [socket.AF_INET] + ([socket.AF_INET6] if self.v6 or audit else [])
            for fam in families:
                tcp += sockdiag.tcp_sockets(fam, (1 << ESTABLISHED) | listen_states, info=bool(self.ports))
        unix: list[sockdiag.UnixSocket] = []
        if self.paths or audit:
            unix = sockdiag.unix_sockets((1 << ESTABLISHED) | listen_states)
        dialled = [s for s in tcp if s.state == ESTABLISHED and s.dport in self.ports]
        accepted = [s for s in unix if s.state == ESTABLISHED and s.name in self.paths]
        wanted = {s.inode for s in dialled} | {s.peer for s in accepted}
        unknown = wanted - self.owner.keys() - self.foreign
        if unknown or audit:
            self._rescan(pids)
        self.foreign = (self.foreign | unknown) & wanted - self.owner.keys()
        by_conn = {(self.owner.get(s.inode), s.dport): s for s in dialled}
        by_peer = {(self.owner.get(s.peer), s.name): s.peer for s in accepted}
        observed = []
        for e in self.edges:
            if e.port is not None and (s := by_conn.get((e.connecter, e.port))) is not None:
                observed.append(Observation(True, s.inode, s.bytes_received, s.bytes_acked))
            elif e.path and (peer := by_peer.get((e.connecter, e.path))) is not None:
                observed.append(Observation(True, peer))
            else:
                observed.append(Observation(False))
        listening = [(self.owner[s.inode], _endpoint(s)) for s in tcp if s.state == LISTEN and self.owner.get(s.inode) in audit]
        listening += [(self.owner[s.inode], "ipc://" + s.name.replace("\0", "@", 1)) for s in unix
                      if s.state == LISTEN and s.name and self.owner.get(s.inode) in audit]  # fmt: skip
        return observed, listening
