"""Cross-checks over the whole topology: references, socket pairs, ports, cycles, placeholders."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence

from orchestrator.errors import Problem, TopologyError
from orchestrator.run.ports import Holder, ephemeral_range
from orchestrator.topology.loader import Document, Path_
from orchestrator.topology.model import Node, Socket, Topology, compatible
from orchestrator.topology.reader import did_you_mean

SUN_PATH_MAX = 107  # bytes of an AF_UNIX socket path on Linux (sun_path is 108, NUL included)

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
ATTRS_ONE = {"port", "endpoint", "host"}
ATTRS_MANY = {"ports", "endpoints"}
BRACES = "write {{ and }} for literal braces, as in python -c one-liners; ${VAR} for an environment variable"
SCALARS = {"node", "replica", "replicas", "run_id", "python", "topology"}


def peers(topology: Topology, node: Node, sock: Socket) -> list[tuple[Node, Socket]]:
    """The binding sockets a connecting socket reaches by reference (literal endpoints excluded)."""
    out = []
    for target in sock.connect:
        if "://" in target:
            continue
        node_name, _, sock_name = target.partition(".")
        peer = topology.node(node_name)
        peer_sock = peer.socket(sock_name) if peer else None
        if peer and peer_sock:
            out.append((peer, peer_sock))
    return out


def check(topology: Topology, doc: Document, holder_of: Callable[[int], list[Holder]] | None = None) -> list[Problem]:
    """Every cross-reference problem; with `holder_of`, also what this machine must offer for a run
    here: fixed ports not taken (`holder_of` names who holds one), `cwd` directories that exist."""
    problems: list[Problem] = []

    def bad(path: Path_, message: str) -> None:
        problems.append(doc.problem(path, message))

    fixed: dict[int, str] = {}
    inherit = [n.name for n in topology.nodes if n.stdin == "inherit"]
    if len(inherit) > 1:
        bad(("nodes", inherit[1], "stdin"), f"only one node can have the terminal; {inherit[0]} has it already")
    for node in topology.nodes:
        base: Path_ = ("nodes", node.name)
        if node.stdin == "inherit" and node.replicas > 1:
            bad(base + ("stdin",), "stdin: inherit needs replicas: 1")
        # Like held ports, a missing cwd matters on this machine only (an export's cwd is in its image).
        if holder_of is not None and node.cwd is not None and not os.path.isdir(cwd := os.path.normpath(os.path.join(topology.base_dir, node.cwd))):
            bad(base + ("cwd",), f"directory {cwd} does not exist" if not os.path.exists(cwd) else f"{cwd} is not a directory")
        dials = [t for s in node.sockets if not s.bind for t in s.connect if "://" not in t or t.startswith(("tcp://", "ipc://"))]
        if node.ready.when == "connected" and not dials:
            bad(base + ("ready",), "ready: connected needs a socket that connects over tcp or ipc; this node has none")
        for sock in node.sockets:
            spath = base + ("sockets", sock.name)
            for target in (t for t in sock.connect if t.startswith("ipc://")):
                size = len(os.fsencode(target[len("ipc://"):]))
                if size > SUN_PATH_MAX:
                    bad(spath + ("connect",), f"{node.name}.{sock.name}: the ipc path is {size} bytes; "
                        f"the kernel allows at most {SUN_PATH_MAX} (sun_path)")  # fmt: skip
            if sock.bind and sock.port is not None:
                where = f"{node.name}.{sock.name}"
                if node.replicas > 1:
                    bad(spath + ("bind",), f"fixed port {sock.port} cannot be bound by {node.replicas} replicas")
                if sock.port in fixed:
                    bad(spath + ("bind",), f"port {sock.port} is already bound by {fixed[sock.port]}")
                else:
                    fixed[sock.port] = where
                if sock.port < 1024:
                    bad(spath + ("bind",), f"port {sock.port} is privileged (below 1024)")
            for target in sock.connect:
                if "://" in target:
                    continue
                node_name, _, sock_name = target.partition(".")
                peer = topology.node(node_name)
                if peer is None:
                    bad(spath + ("connect",), f"connects to {target}, but there is no node {node_name!r}"
                        + did_you_mean(node_name, {n.name for n in topology.nodes}))  # fmt: skip
                    continue
                peer_sock = peer.socket(sock_name)
                if peer_sock is None:
                    names = ", ".join(s.name for s in peer.sockets) or "none"
                    bad(spath + ("connect",), f"connects to {target}, but {node_name} has no socket {sock_name!r}"
                        + did_you_mean(sock_name, {s.name for s in peer.sockets}) + f" (it has: {names})")  # fmt: skip
                elif not peer_sock.bind:
                    bad(spath + ("connect",), f"connects to {target}, which connects too; one side of an edge must bind")
                elif not compatible(sock.type, peer_sock.type):
                    bad(spath + ("type",), f"{sock.type} cannot talk to {peer_sock.type} ({node.name}.{sock.name} -> {target}); "
                        "libzmq would drop every message silently")  # fmt: skip
        for dep, _cond in node.depends_on:
            if topology.node(dep) is None:
                bad(base + ("depends_on",), f"depends on {dep!r}, but there is no such node" + did_you_mean(dep, {n.name for n in topology.nodes}))
            elif dep == node.name:
                bad(base + ("depends_on",), "a node cannot depend on itself")
        _check_placeholders(node, bad)
    if topology.expect:
        node_names = {n.name for n in topology.nodes}
        e = topology.expect
        for node_name, _ in e.exit:
            if node_name not in node_names:
                bad(("expect", "exit", node_name), f"no node named {node_name!r}" + did_you_mean(node_name, node_names))
        for kind, caps in (("output", e.output), ("absent", e.absent)):
            for cap in caps:
                if cap.node not in node_names:
                    bad(("expect", kind, cap.node), f"no node named {cap.node!r}" + did_you_mean(cap.node, node_names))
        for i, pair in enumerate(e.equal):
            for cap in pair:
                if cap.node not in node_names:
                    bad(("expect", "equal", i, cap.node), f"no node named {cap.node!r}" + did_you_mean(cap.node, node_names))
    from orchestrator.security.policy import problems as security_problems

    for path, message in security_problems(topology):
        bad(path, message)
    cycle = find_cycle({n.name: [d for d, _ in n.depends_on if topology.node(d)] for n in topology.nodes})
    if cycle:
        bad(("nodes", cycle[0], "depends_on"), "depends_on cycle: " + " -> ".join(cycle + [cycle[0]]))
    lo, hi = topology.port_range
    elo, ehi = ephemeral_range()
    if lo <= ehi and elo <= hi:
        bad(("ports",), f"range {lo}-{hi} overlaps the kernel's ephemeral range {elo}-{ehi}")
    if holder_of is not None:
        for port, where in sorted(fixed.items()):
            held = [h for h in holder_of(port) if h.status == "LISTEN" or h.live is not None]
            if held:
                node_name, _, sock_name = where.partition(".")
                h = held[0]
                hint = ""
                if h.environ_run and h.orphan:
                    hint = f" (a leftover of crashed zmqrun run {h.environ_run}; `zmqrun free {port}` stops it)"
                elif h.live is not None:
                    hint = f" (live {h.live.describe()}; stop it first: Ctrl-C in its terminal, or `kill -INT {h.live.pid}`)"
                elif h.environ_run:
                    hint = f" (zmqrun run {h.environ_run}, still running)"
                bad(("nodes", node_name, "sockets", sock_name, "bind"),
                    f"port {port} is already in use by {held[0].describe()}{hint}")  # fmt: skip
    return problems




def _check_placeholders(node: Node, bad: Callable[[Path_, str], None]) -> None:
    path: Path_ = ("nodes", node.name, "run")
    names = {s.name for s in node.sockets}
    for word in node.run:
        for m in PLACEHOLDER.finditer(word):
            if m.group(1) is None:
                continue
            key = m.group(1)
            if key in SCALARS:
                continue
            sock, _, attr = key.partition(".")
            if sock not in names:
                what = f"placeholder {{{key}}}: no socket {sock!r} on this node" if attr else f"unknown placeholder {{{key}}}"
                bad(path, f"{what} ({BRACES})")
            elif attr not in ATTRS_ONE | ATTRS_MANY:
                bad(path, f"placeholder {{{key}}}: expected .port, .ports, .endpoint, .endpoints or .host")
            elif attr in ATTRS_MANY and m.group(0) != word and not node.shell:
                bad(path, f"placeholder {{{key}}} expands to one word per peer, so it must stand alone as a word")
            elif attr in ("port", "ports") and next(s for s in node.sockets if s.name == sock).transport != "tcp":
                bad(path, f"placeholder {{{key}}}: an ipc socket has no port")


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle in a directed graph (as a list of names), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, []):
            if state.get(m) == 1:
                return stack[stack.index(m):]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in graph:
        if n not in state and (found := visit(n)):
            return found
    return None


def load_topology(path: str, holder_of: Callable[[int], list[Holder]] | None = None,
                  env_files: Sequence[str] = ()) -> Topology:  # fmt: skip
    """Load (variables substituted, includes merged), parse and check one file; raise
    TopologyError with every problem found."""
    from orchestrator.topology.parse import parse
    from orchestrator.topology.source import read

    source = read(path, env_files)
    topology, problems = parse(source.doc)
    problems = source.with_later(problems + check(topology, source.doc, holder_of))
    if problems:
        raise TopologyError(problems)
    return topology
