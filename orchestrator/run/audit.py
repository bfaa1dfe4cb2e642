"""Listener audit: the TCP addresses a node's processes listen on that its topology did not
declare (a wildcard where loopback was declared, or a port nobody declared). Read from the
kernel (sock_diag, else /proc);
`undeclared` is a pure function of what was declared and what was found."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from orchestrator.run import process
from orchestrator.run.plan import Instance
from orchestrator.run.ports import listeners_netlink
from orchestrator.run.sockdiag import socket_inodes
from orchestrator.run.state import Proc

Address = tuple[str, int]  # (host as the kernel reports it, port)

WILDCARDS = {"*", "0.0.0.0", "::", ""}
LOOPBACK_NAMES = {"localhost": {"127.0.0.1", "::1"}}


def declared(inst: Instance) -> list[Address]:
    """The (host, port) of every tcp socket the instance binds, as the plan rendered them."""
    out = []
    for b in inst.sockets:
        for endpoint in b.endpoints if b.bind else ():
            if endpoint.startswith("tcp://"):
                host, _, port = endpoint[len("tcp://"):].rpartition(":")
                if port.isdigit():
                    out.append((host.strip("[]"), int(port)))
    return out


def undeclared(allowed: Iterable[Address], found: Iterable[Address]) -> list[Address]:
    """Listening addresses not covered by a declared one: a declared wildcard covers every
    address on its port; a declared address covers only itself (and `localhost` its loopbacks)."""
    hosts_by_port: dict[int, set[str]] = {}
    for host, port in allowed:
        hosts_by_port.setdefault(port, set()).update(LOOPBACK_NAMES.get(host, {host}))
    out = []
    for host, port in found:
        hosts = hosts_by_port.get(port)
        if hosts is None or not (hosts & WILDCARDS or host in hosts):
            out.append((host, port))
    return sorted(set(out))


def _decode(hex_addr: str) -> Address:
    addr, port = hex_addr.split(":")
    raw = bytes.fromhex(addr)
    # /proc/net/tcp{,6} print each 32-bit word in host (little-endian) order.
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    host = str(ipaddress.ip_address(raw))
    return host, int(port, 16)


def _listening_by_inode() -> dict[int, Address]:
    listeners = listeners_netlink()
    if listeners is not None:
        return {inode: (host, port) for host, port, inode in listeners}
    found: dict[int, Address] = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A":  # LISTEN
                found[int(cols[9])] = _decode(cols[1])
    return found


def audit(running: Iterable[tuple[Instance, int]]) -> list[tuple[Instance, Address]]:
    """The undeclared listening addresses of running instances (each with its process tree),
    with one read of the kernel's socket tables for all of them."""
    by_inode = _listening_by_inode()
    if not by_inode:
        return []
    out = []
    for inst, pid in running:
        found = {by_inode[i] for p in process.tree(pid) for i in socket_inodes(p) if i in by_inode}
        out += [(inst, address) for address in undeclared(declared(inst), found)]
    return out


class ListenerAudit:
    """When to audit whom (at ready, and again a moment later: a node ready by log or helper may
    bind late), and which findings were already reported, so each is said once."""

    def __init__(self) -> None:
        self.due: list[tuple[float, Proc]] = []
        self.reported: set[tuple[str, str, int]] = set()

    def schedule(self, proc: Proc, now: float, again: float) -> None:
        self.due += [(now, proc), (now + again, proc)]

    def next_due(self) -> float | None:
        return min(t for t, _ in self.due) if self.due else None

    def take_due(self, now: float) -> list[Proc]:
        """The instances whose audit is due now (each once), removed from the schedule."""
        ready = list(dict.fromkeys(p for t, p in self.due if t <= now))
        self.due = [(t, p) for t, p in self.due if t > now]
        return ready

    def new(self, running: list[tuple[Instance, int]]) -> list[tuple[Instance, str]]:
        """Each undeclared listener of these (instance, pid) pairs not reported before, with its
        address written for people."""
        found = []
        for inst, (host, port) in audit(running):
            if (inst.label, host, port) not in self.reported:
                self.reported.add((inst.label, host, port))
                found.append((inst, f"[{host}]:{port}" if ":" in host else f"{host}:{port}"))
        return found
