"""The validated topology: immutable records (NamedTuples: cheap to define, which keeps start-up
lean) that the planner and supervisor read."""

from __future__ import annotations

import signal
from typing import NamedTuple

SOCKET_TYPES = (
    "PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER",
    "PULL", "PUSH", "XPUB", "XSUB", "STREAM",
)  # fmt: skip

# Pairs that libzmq accepts (both directions). A wrong pair connects and then drops every
# message silently, so it must be refused before anything runs.
COMPATIBLE = frozenset(
    frozenset(pair)
    for pair in [
        ("PAIR", "PAIR"), ("PUB", "SUB"), ("PUB", "XSUB"), ("XPUB", "SUB"), ("XPUB", "XSUB"),
        ("REQ", "REP"), ("REQ", "ROUTER"), ("DEALER", "REP"), ("DEALER", "ROUTER"),
        ("DEALER", "DEALER"), ("ROUTER", "ROUTER"), ("PUSH", "PULL"),
    ]
)  # fmt: skip

# Which side of a pair receives the first message: it should be up before the sender starts.
SENDS_FIRST = {"PUSH", "PUB", "XPUB", "REQ"}

# Built-in proxy devices: the socket types each accepts for its frontend and its backend.
DEVICES = {
    "queue": ({"ROUTER"}, {"DEALER"}),
    "forwarder": ({"XSUB", "SUB"}, {"XPUB", "PUB"}),
    "streamer": ({"PULL"}, {"PUSH"}),
}


BUFFERING = ("line", "full", "unbuffered")


def send_rank(socket_type: str) -> int:
    """How much a socket type tends to speak first; the quieter peer should start first."""
    return 2 if socket_type in SENDS_FIRST else 1 if socket_type == "DEALER" else 0


def compatible(a: str, b: str) -> bool:
    return frozenset((a, b)) in COMPATIBLE


class Socket(NamedTuple):
    name: str
    type: str
    bind: bool
    port: int | None = None  # a fixed port when binding over tcp; None means "assign one"
    connect: tuple[str, ...] = ()  # "node.socket" references or literal endpoints
    host: str = "127.0.0.1"
    transport: str = "tcp"
    line: int = 0
    security: str | None = None  # "curve" or "none" for this edge; None follows the topology (or the binder)


class Restart(NamedTuple):
    policy: str = "no"  # no | on-failure | always
    limit: int = 5  # give up after this many restarts within `window`
    window: float = 60.0
    backoff: float = 0.5
    max_backoff: float = 10.0


class Ready(NamedTuple):
    when: str = "ports"  # ports | started | connected | log | helper
    log: str | None = None
    timeout: float = 30.0


class Node(NamedTuple):
    name: str
    run: tuple[str, ...]  # argv words before placeholders; a single command string if shell
    shell: bool = False
    device: str | None = None
    replicas: int = 1
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    sockets: tuple[Socket, ...] = ()
    restart: Restart = Restart()
    stop_signal: int = int(signal.SIGINT)
    grace: float = 3.0
    depends_on: tuple[tuple[str, str], ...] = ()  # (node, condition)
    ready: Ready = Ready()
    stdin: str | tuple[str, ...] | None = None  # None: /dev/null; "inherit"; or lines to feed
    exit_on_end: bool = False
    line: int = 0
    buffering: str = "line"  # line (a pseudo-terminal) | full (a pipe) | unbuffered (a pipe, PYTHONUNBUFFERED=1)
    image: str | None = None  # container image for `zmqrun export`; None: the topology's default

    def socket(self, name: str) -> Socket | None:
        return next((s for s in self.sockets if s.name == name), None)


class Capture(NamedTuple):
    node: str
    pattern: str


class Expect(NamedTuple):
    timeout: float | None = None
    exit: tuple[tuple[str, tuple[int, ...]], ...] = ()
    output: tuple[Capture, ...] = ()
    absent: tuple[Capture, ...] = ()
    equal: tuple[tuple[Capture, Capture], ...] = ()


class Topology(NamedTuple):
    name: str
    file: str
    base_dir: str
    description: str = ""
    nodes: tuple[Node, ...] = ()
    port_range: tuple[int, int] = (20000, 29999)
    expect: Expect | None = None
    image: str | None = None  # default container image for `zmqrun export`
    security: str = "none"  # the default for every edge: "none" (ZMTP NULL) or "curve"

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)
