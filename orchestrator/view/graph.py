"""`zmqrun graph`: the topology as a picture: a terminal tree (rich), Mermaid, or Graphviz DOT.
Arrows run from the binding socket to the connecting one, labelled with types and endpoint."""

from __future__ import annotations

from typing import NamedTuple

from orchestrator.topology.model import Node, Socket, Topology
from orchestrator.topology.validate import peers


class Edge(NamedTuple):
    binder: str  # node name, or an endpoint for a literal connect
    bind_socket: str
    connector: str
    connect_socket: str
    label: str


def endpoint_of(sock: Socket) -> str:
    if sock.transport == "ipc":
        return "ipc"
    return f"{sock.host}:{sock.port if sock.port is not None else 'auto'}"


def edges(topology: Topology) -> list[Edge]:
    out = []
    for node in topology.nodes:
        for sock in node.sockets:
            for peer, peer_sock in peers(topology, node, sock):
                label = f"{peer_sock.name} {peer_sock.type} ← {sock.name} {sock.type} @ {endpoint_of(peer_sock)}"
                out.append(Edge(peer.name, peer_sock.name, node.name, sock.name, label))
            for literal in (t for t in sock.connect if "://" in t):
                out.append(Edge(literal, "", node.name, sock.name, f"{sock.name} {sock.type} connects"))
    return out


def _title(node: Node) -> str:
    kind = f"device {node.device}" if node.device else ""
    count = f"×{node.replicas}" if node.replicas > 1 else ""
    return " ".join(x for x in (node.name, count, kind) if x)


def mermaid(topology: Topology) -> str:
    ids = {n.name: f"n{i}" for i, n in enumerate(topology.nodes)}
    lines = ["flowchart LR"]
    for n in topology.nodes:
        lines.append(f'    {ids[n.name]}["{_title(n)}"]')
    for i, e in enumerate(x for x in edges(topology) if x.binder not in ids):
        ids[e.binder] = f"x{i}"
        lines.append(f'    {ids[e.binder]}(["{e.binder}"])')
    for e in edges(topology):
        lines.append(f'    {ids[e.binder]} -- "{e.label.replace(chr(34), chr(39))}" --> {ids[e.connector]}')
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(topology: Topology) -> str:
    lines = [f"digraph {_dot_quote(topology.name)} {{", "    rankdir=LR;", "    node [shape=box];"]
    for n in topology.nodes:
        shape = ", shape=hexagon" if n.device else ""
        lines.append(f"    {_dot_quote(n.name)} [label={_dot_quote(_title(n))}{shape}];")
    for e in edges(topology):
        if "://" in e.binder:
            lines.append(f"    {_dot_quote(e.binder)} [shape=ellipse];")
        lines.append(f"    {_dot_quote(e.binder)} -> {_dot_quote(e.connector)} [label={_dot_quote(e.label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def tree(topology: Topology) -> object:
    """A rich Tree (returned, not printed: the CLI decides where it goes)."""
    from rich.text import Text
    from rich.tree import Tree

    root = Tree(Text(topology.name, style="bold"))
    incoming: dict[tuple[str, str], list[str]] = {}
    for e in edges(topology):
        incoming.setdefault((e.binder, e.bind_socket), []).append(f"{e.connector}.{e.connect_socket}")
    for n in topology.nodes:
        branch = root.add(Text(_title(n), style="bold cyan"))
        for s in n.sockets:
            if s.bind:
                who = ", ".join(incoming.get((n.name, s.name), [])) or "nobody in this file"
                branch.add(Text(f"{s.name} {s.type} bind {endpoint_of(s)} ← {who}"))
            else:
                branch.add(Text(f"{s.name} {s.type} connect → {', '.join(s.connect)}"))
    return root
