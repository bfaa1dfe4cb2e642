"""The kernel's view of the declared edges: which of the run's processes own which sockets
(from /proc/PID/fd), and from sock_diag each connecting end's TCP state and byte counters, or
the unix peer of an ipc edge. No cooperation from the nodes is needed."""

from __future__ import annotations

import socket

from orchestrator.edges.declared import Edge
from orchestrator.edges.track import Observation
from orchestrator.run import sockdiag
from orchestrator.run.sockdiag import ESTABLISHED, socket_inodes


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
    """Samples the kernel for a fixed set of edges. A connection, once found by a walk of the
    kernel's tables, is followed by an exact lookup (cheap: no walk); which process owns a socket
    is learned from /proc only when a socket of interest is new. So a quiet, connected run costs
    one netlink round trip a sample, and the walks happen while some edge is down: every sample
    for the first SETTLE seconds after a node started, then every REWALK seconds."""

    SETTLE, REWALK = 10.0, 5.0

    def __init__(self, edges: tuple[Edge, ...]):
        self.edges = edges
        self.v6 = any(e.endpoint.startswith("tcp://[") for e in edges)
        self.owner: dict[int, str] = {}  # socket inode -> instance label
        self.foreign: set[int] = set()  # inodes of interest owned by no node of ours
        self.tcp: dict[int, sockdiag.TcpSocket] = {}  # edge index -> the connecter's socket
        self.unix: dict[int, tuple[sockdiag.UnixSocket, int]] = {}  # edge index -> (accepted socket, connecter's inode)
        self.pids: dict[str, int] = {}
        self.lookups = sockdiag.Lookups()
        self.asked: list[int] = []  # the edges the request asks about: tcp ones first
        self.request: tuple[bytes, int] = (b"", 0)
        self.dirty = False  # self.tcp or self.unix changed since the request was built
        self.changed = 0.0  # when the set of processes last changed
        self.next_walk = 0.0

    def close(self) -> None:
        self.lookups.close()

    def _rescan(self, pids: dict[str, int]) -> None:
        """Learn whose sockets these processes hold (reading /proc costs: only the few asked)."""
        self.owner.update({inode: label for label, pid in pids.items() for p in descendants(pid) for inode in socket_inodes(p)})

    def sample(self, pids: dict[str, int], now: float = 0.0, eager: bool = False) -> list[Observation]:
        """One observation per edge. `eager` walks the tables now if an edge is down (someone
        waits for it)."""
        if pids != self.pids:
            self.pids, self.changed = dict(pids), now
        observed: list[Observation | None] = [None] * len(self.edges)
        tcp, unix = self.tcp, self.unix
        if self.dirty:  # the request datagram is built once per set of connections
            self.asked, self.dirty = [*tcp, *unix], False
            self.request = sockdiag.lookup_request(list(tcp.values()), [s for s, _ in unix.values()])
        owner = self.owner
        for i, answer in zip(self.asked, self.lookups.ask(self.request, len(tcp)), strict=True):
            if i in tcp:
                t = tcp[i]
                if answer is None or owner.get(t.inode) not in pids:
                    del tcp[i]
                    self.dirty = True
                else:
                    observed[i] = Observation(True, t.inode, answer[1], answer[0])  # type: ignore[index]
            else:
                inode = unix[i][1]
                if not answer or owner.get(inode) not in pids:
                    del unix[i]
                    self.dirty = True
                else:
                    observed[i] = Observation(True, inode)
        if len(tcp) + len(unix) == len(observed):  # every edge up: the common case
            return observed  # type: ignore[return-value]
        down = [i for i, ob in enumerate(observed) if ob is None]
        if eager or now >= self.next_walk or now - self.changed < self.SETTLE:
            self.next_walk = now + self.REWALK
            self._walk(down, pids, observed)
        return [ob or Observation(False) for ob in observed]

    def _walk(self, down: list[int], pids: dict[str, int], observed: list[Observation | None]) -> None:
        """Find the connections of the edges in `down` in the kernel's tables."""
        ports = {self.edges[i].port for i in down} - {None}
        paths = {self.edges[i].path for i in down} - {""}
        dialled = []
        if ports:
            for fam in [socket.AF_INET] + ([socket.AF_INET6] if self.v6 else []):
                dialled += [s for s in sockdiag.tcp_sockets(fam, 1 << ESTABLISHED, info=True) if s.dport in ports]
        accepted = [s for s in sockdiag.unix_sockets(1 << ESTABLISHED) if s.name in paths] if paths else []
        wanted = {s.inode for s in dialled} | {s.peer for s in accepted}
        unknown = wanted - self.owner.keys() - self.foreign
        if unknown:  # new connections: they can only be those of the connecters still down
            self._rescan({label: pids[label] for label in {self.edges[i].connecter for i in down} if label in pids})
        self.foreign = (self.foreign | unknown) & wanted - self.owner.keys()
        by_conn = {(self.owner.get(s.inode), s.dport): s for s in dialled}
        by_peer = {(self.owner.get(s.peer), s.name): s for s in accepted}
        for i in down:
            e = self.edges[i]
            if e.port is not None and (t := by_conn.get((e.connecter, e.port))) is not None:
                self.tcp[i], self.dirty = t, True
                observed[i] = Observation(True, t.inode, t.bytes_received, t.bytes_acked)
            elif e.path and (u := by_peer.get((e.connecter, e.path))) is not None:
                self.unix[i], self.dirty = (u, u.peer), True
                observed[i] = Observation(True, u.peer)
