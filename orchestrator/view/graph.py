"""`zmqrun graph`: the topology as a picture: a terminal tree (rich), Mermaid, or Graphviz DOT.
Arrows follow the data (PUSH -> PULL, PUB -> SUB; both ways for REQ/REP, DEALER/ROUTER, PAIR);
the binding socket is marked `(bind)` in the label, since the arrow no longer tells."""

from __future__ import annotations

from typing import NamedTuple

from orchestrator.topology.model import Node, Socket, Topology
from orchestrator.topology.validate import peers
from orchestrator.view.text import dot_quote, mermaid_quote, one_line

SENDS = frozenset({"PUSH", "PUB", "XPUB"})  # data only leaves these
RECEIVES = frozenset({"PULL", "SUB", "XSUB"})  # data only arrives at these


class Edge(NamedTuple):
    source: str  # node name, or an endpoint for a literal connect
    target: str
    both: bool  # data flows both ways (REQ/REP, DEALER/ROUTER, PAIR, ...)
    label: str


def endpoint_of(sock: Socket) -> str:
    if sock.transport == "ipc":
        return "ipc"
    return f"{sock.host}:{sock.port if sock.port is not None else 'auto'}"


def _flow(connector_type: str, binder_type: str | None) -> str:
    """'out' when data leaves the connecting socket, 'in' when it arrives there, 'both'."""
    if connector_type in SENDS or binder_type in RECEIVES:
        return "out"
    if connector_type in RECEIVES or binder_type in SENDS:
        return "in"
    return "both"


def arrow(sock: Socket) -> str:
    """The arrow beside one socket, seen from that socket: → sends, ← receives, ⇄ both."""
    return "→" if sock.type in SENDS else "←" if sock.type in RECEIVES else "⇄"


def edges(topology: Topology) -> list[Edge]:
    out = []
    for node in topology.nodes:
        for sock in node.sockets:
            mine = f"{sock.name} {sock.type}"
            ends: list[tuple[str, str, str | None]] = [  # (other end, its side of the label, its type)
                (peer.name, f"{peer_sock.name} {peer_sock.type} (bind) @ {endpoint_of(peer_sock)}", peer_sock.type)
                for peer, peer_sock in peers(topology, node, sock)
            ]
            ends += [(t, t, None) for t in sock.connect if "://" in t]
            for other, theirs, other_type in ends:
                flow = _flow(sock.type, other_type)
                if flow == "in":
                    out.append(Edge(other, node.name, False, f"{theirs} → {mine}"))
                else:
                    out.append(Edge(node.name, other, flow == "both", f"{mine} {'→' if flow == 'out' else '⇄'} {theirs}"))
    return out


def _title(node: Node) -> str:
    kind = f"device {node.device}" if node.device else ""
    count = f"×{node.replicas}" if node.replicas > 1 else ""
    return " ".join(x for x in (node.name, count, kind) if x)


def mermaid(topology: Topology) -> str:
    ids = {n.name: f"n{i}" for i, n in enumerate(topology.nodes)}
    lines = ["flowchart LR"]
    for n in topology.nodes:
        lines.append(f"    {ids[n.name]}[{mermaid_quote(_title(n))}]")
    all_edges = edges(topology)
    for e in all_edges:
        for end in (e.source, e.target):
            if end not in ids:
                ids[end] = f"x{len(ids) - len(topology.nodes)}"
                lines.append(f"    {ids[end]}([{mermaid_quote(end)}])")
    for e in all_edges:
        link = "<-->" if e.both else "-->"
        lines.append(f"    {ids[e.source]} {link}|{mermaid_quote(e.label)}| {ids[e.target]}")
    return "\n".join(lines) + "\n"


def dot(topology: Topology) -> str:
    lines = [f"digraph {dot_quote(topology.name)} {{", "    rankdir=LR;", "    node [shape=box];"]
    names = {n.name for n in topology.nodes}
    for n in topology.nodes:
        shape = ", shape=hexagon" if n.device else ""
        lines.append(f"    {dot_quote(n.name)} [label={dot_quote(_title(n))}{shape}];")
    all_edges = edges(topology)
    for end in dict.fromkeys(x for e in all_edges for x in (e.source, e.target) if x not in names):
        lines.append(f"    {dot_quote(end)} [shape=ellipse];")
    for e in all_edges:
        both = ", dir=both" if e.both else ""
        lines.append(f"    {dot_quote(e.source)} -> {dot_quote(e.target)} [label={dot_quote(e.label)}{both}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def tree(topology: Topology) -> object:
    """A rich Tree (returned, not printed: the CLI decides where it goes)."""
    from rich.text import Text
    from rich.tree import Tree

    root = Tree(Text(one_line(topology.name), style="bold"))
    incoming: dict[tuple[str, str], list[str]] = {}
    for node in topology.nodes:
        for sock in node.sockets:
            for peer, peer_sock in peers(topology, node, sock):
                incoming.setdefault((peer.name, peer_sock.name), []).append(f"{node.name}.{sock.name}")
    for n in topology.nodes:
        branch = root.add(Text(_title(n), style="bold cyan"))
        for s in n.sockets:
            if s.bind:
                who = ", ".join(incoming.get((n.name, s.name), [])) or "nobody in this file"
                branch.add(Text(one_line(f"{s.name} {s.type} bind {endpoint_of(s)} {arrow(s)} {who}")))
            else:
                branch.add(Text(one_line(f"{s.name} {s.type} connect {arrow(s)} {', '.join(s.connect)}")))
    return root
