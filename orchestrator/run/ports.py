"""Ports on this machine: who listens, who holds, which are free, and which to hand out."""

from __future__ import annotations

import errno
import os
import random
import socket
from collections.abc import Callable, Iterable
from typing import NamedTuple

from orchestrator.run import runs
from orchestrator.run.runs import RunInfo
from orchestrator.view.text import one_line

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


class Holder(NamedTuple):
    pid: int | None
    user: str
    cmdline: str
    status: str  # LISTEN, ESTABLISHED, ...
    environ_run: str | None = None  # the ZMQRUN_RUN_ID in its environment, if any
    create_time: float = 0.0
    orphan: bool = False  # its run is over (the run's lock is free): a leftover of a crashed run
    live: RunInfo | None = None  # the live run it belongs to, if any

    @property
    def ownerless(self) -> bool:
        """TIME_WAIT is a closed connection the kernel remembers: no process owns it, and it
        keeps no listener from binding (SO_REUSEADDR), so it holds nothing."""
        return self.status == "TIME_WAIT"

    def describe(self) -> str:
        """One line; the command line and user come from another process: sanitised."""
        if self.ownerless:
            return "no process: a closed connection the kernel keeps for a while; it holds nothing [TIME_WAIT]"
        who = f"pid {self.pid}" if self.pid else "an unknown process (no permission to see it)"
        return one_line(f"{who} ({self.user}): {self.cmdline or '?'} [{self.status}]")


def listeners_netlink() -> list[tuple[str, int, int]] | None:
    """Every listening TCP socket (v4 and v6) as (address, port, socket inode), from the kernel's
    sock_diag: unlike /proc/net/tcp, the cost does not grow with every connection and TIME_WAIT
    entry on the machine. None if unsupported."""
    from orchestrator.run import sockdiag

    try:
        return [(s.src, s.sport, s.inode) for family in (socket.AF_INET, socket.AF_INET6)
                for s in sockdiag.tcp_sockets(family, 1 << sockdiag.LISTEN)]  # fmt: skip
    except (OSError, AttributeError):
        return None


def listening_ports() -> set[int]:
    """TCP ports with a listening socket: from the kernel's sock_diag, else /proc, else psutil."""
    found = listeners_netlink()
    if found is not None:
        return {port for _, port, _ in found}
    ports: set[int] = set()
    seen_proc = False
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                text = f.read()
        except OSError:
            continue
        seen_proc = True
        for row in text.splitlines()[1:]:
            cols = row.split()
            if len(cols) > 3 and cols[3] == LISTEN:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    if not seen_proc:
        import psutil

        ports = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr}
    return ports


def can_bind(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a listener could take `port` now (SO_REUSEADDR, as libzmq sets it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_is_free(port: int) -> bool:
    """A listener on any address makes one of these binds fail (SO_REUSEADDR allows binding
    beside TIME_WAIT leftovers, never beside a listener)."""
    return can_bind(port) and can_bind(port, "0.0.0.0")


def port_users(port: int) -> list[Holder]:
    """Who listens on `port`, and any live zmqrun run that claims it as a fixed port but has not
    bound it yet (it is starting): what a new run must not collide with."""
    return port_users_lookup()(port)


def port_users_lookup() -> Callable[[int], list[Holder]]:
    """port_users for many ports in a row (a topology's fixed ports), with one listening-ports query."""
    listeners = listener_lookup()
    return lambda port: _users(port, listeners(port))


def _users(port: int, found: list[Holder]) -> list[Holder]:
    for info in runs.claimed(port):
        if not any(h.live is not None and h.live.run_id == info.run_id for h in found):
            found.append(Holder(info.pid, _owner(info.rundir), f"zmqrun {info.topology} (starting; it will bind this port)",
                                "CLAIMED", info.run_id, 0.0, False, info))  # fmt: skip
    return found


def _owner(path: str) -> str:
    import pwd

    try:
        return pwd.getpwuid(os.stat(path).st_uid).pw_name
    except (OSError, KeyError):
        return "?"


def listener_holders(port: int) -> list[Holder]:
    """Who listens on `port`; asks the (costly) process tables only when something does."""
    return listener_lookup()(port)


def listener_lookup() -> Callable[[int], list[Holder]]:
    """listener_holders for many ports in a row (a topology's fixed ports): the kernel is asked
    for the listening ports once, on the first question, not once per port."""
    listening: set[int] | None = None

    def holder_of(port: int) -> list[Holder]:
        nonlocal listening
        if listening is None:
            listening = listening_ports()
        return [h for h in holders(port) if h.status == "LISTEN"] if port in listening else []

    return holder_of


def holders(port: int) -> list[Holder]:
    """Every process with a TCP socket on `port` (local side), listeners first."""
    import psutil

    found: dict[tuple[int | None, str], Holder] = {}
    for conn in psutil.net_connections("tcp"):
        if not conn.laddr or conn.laddr.port != port:
            continue
        key = (conn.pid, conn.status)
        if key in found:
            continue
        found[key] = describe_pid(conn.pid, conn.status)
    return sorted(found.values(), key=lambda h: (h.status != "LISTEN", h.pid or 0))


def describe_pid(pid: int | None, status: str) -> Holder:
    import psutil

    if pid is None:
        return Holder(None, "?", "", status)
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            user = proc.username()
            cmd = " ".join(proc.cmdline()) or proc.name()
            created = proc.create_time()
        try:
            environ = proc.environ()
        except (psutil.AccessDenied, psutil.ZombieProcess):
            environ = {}
        run = environ.get("ZMQRUN_RUN_ID")
        live = runs.live_run(run, environ.get("ZMQRUN_RUN_DIR")) if run else None
        live = live or runs.enclosing_run(pid)  # a marker can be cleared or edited; ancestry cannot
        return Holder(pid, user, cmd, status, run, created, bool(run) and live is None, live)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return Holder(pid, "?", "", status)


class PortAllocator:
    """Hands out ports from a range, each at most once per run, starting at a random place
    so that parallel runs rarely even try the same port."""

    def __init__(
        self,
        lo: int,
        hi: int,
        is_free: Callable[[int], bool] = port_is_free,
        reserved: Iterable[int] = (),
        rng: random.Random | None = None,
    ):
        self.lo, self.hi = lo, hi
        self.is_free = is_free
        self.given: set[int] = set(reserved)
        self.cursor = (rng or random.Random()).randint(lo, hi)

    def take(self) -> int:
        size = self.hi - self.lo + 1
        for step in range(size):
            port = self.lo + (self.cursor - self.lo + step) % size
            if port in self.given or not self.is_free(port):
                continue
            self.given.add(port)
            self.cursor = port + 1
            return port
        from orchestrator.errors import PortRangeError

        raise PortRangeError(f"no free port left in {self.lo}-{self.hi} for automatic ports (widen `ports:` "
                             "in the topology, or free some); nothing was started")  # fmt: skip


def ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = f.read().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999
