"""The order nodes start in: each node's waits (its depends_on, and along each socket edge the
peer that receives first), conflicts between those rules said in words, and the waves that the
stop sequence walks in reverse. Pure: a function of the validated topology."""

from __future__ import annotations

from orchestrator.topology.model import Topology, send_rank
from orchestrator.topology.validate import peers


def start_after(topology: Topology) -> dict[str, tuple[tuple[str, str], ...]]:
    """For each node, the nodes it waits for (see `start_order`)."""
    return start_order(topology)[0]


def start_order(topology: Topology) -> tuple[dict[str, tuple[tuple[str, str], ...]], tuple[str, ...]]:
    """For each node, the nodes it waits for: its depends_on, and along each socket edge the
    peer that receives first (the sink before workers before the ventilator), so no first
    message is lost to a slow joiner or pushed to one worker. Where these rules contradict each
    other (a cycle of data edges, such as a node that is REQ toward a peer and SUB toward it),
    the node waiting on the fewest others starts first, earliest in the file first; each rule
    so overruled is returned in words, with the rule that won and how to pin the order.
    depends_on cycles were refused already."""
    hard = {n.name: list(n.depends_on) for n in topology.nodes}
    soft: dict[str, dict[str, str]] = {n.name: {} for n in topology.nodes}  # node -> peer it waits for -> why
    for node in topology.nodes:
        for sock in node.sockets:
            for peer, peer_sock in peers(topology, node, sock):
                if peer.name == node.name:
                    continue
                mine, theirs = send_rank(sock.type), send_rank(peer_sock.type)
                me, them = f"{node.name}.{sock.name} ({sock.type})", f"{peer.name}.{peer_sock.name} ({peer_sock.type})"
                # Tie (PAIR, DEALER-DEALER...): the binder goes first. A node that is ready only
                # once connected (`node` dials `peer` here) cannot be waited for by its peer.
                if mine >= theirs or node.ready.when == "connected":
                    why = (f"{me} is ready once connected to {them}" if mine < theirs
                           else f"{them} binds first" if mine == theirs else f"{them} receives before {me} sends")  # fmt: skip
                    soft[node.name].setdefault(peer.name, why)
                else:
                    soft[peer.name].setdefault(node.name, f"{me} receives before {them} sends")
    for name, deps in hard.items():  # a depends_on pins the pair: a data rule against it is dropped
        for dep, _ in deps:
            soft.get(dep, {}).pop(name, None)
    order = {n.name: i for i, n in enumerate(topology.nodes)}
    placed: set[str] = set()
    result: dict[str, tuple[tuple[str, str], ...]] = {}
    conflicts: list[str] = []
    remaining = [n.name for n in topology.nodes]
    while remaining:
        ready = [n for n in remaining if all(d in placed for d, _ in hard[n]) and set(soft[n]) <= placed]
        if not ready:  # a data cycle: start the node that waits on the fewest others, earliest first
            candidates = [n for n in remaining if all(d in placed for d, _ in hard[n])] or remaining
            first = min(candidates, key=lambda n: (len(set(soft[n]) - placed), order[n]))
            ready = [first]
            for lost in sorted(set(soft[first]) - placed, key=order.__getitem__):
                won = soft[lost].get(first)
                rule = f"the rule that won: {lost} waits for {first}, as {won}" if won else "the rules form a cycle"
                conflicts.append(
                    f"start-order conflict between {first} and {lost}: {first} starts first although "
                    f"{soft[first][lost]} ({rule}); to pin the order, add `depends_on: [{first}]` to "
                    f"{lost} or `depends_on: [{lost}]` to {first}"
                )
        for n in ready:
            waits = dict(hard[n])
            for s in sorted(set(soft[n]) & placed, key=order.__getitem__):
                waits.setdefault(s, "process_ready")
            result[n] = tuple(waits.items())
        placed.update(ready)
        remaining = [n for n in remaining if n not in placed]
    return result, tuple(conflicts)


def waves(topology: Topology, after: dict[str, tuple[tuple[str, str], ...]]) -> tuple[tuple[str, ...], ...]:
    """The nodes grouped by how deep they wait: the first wave waits on nobody. Stops go in the
    reverse order."""
    level: dict[str, int] = {}

    def depth(n: str, seen: frozenset[str] = frozenset()) -> int:
        if n not in level:
            deps = [d for d, _ in after.get(n, ()) if d not in seen]
            level[n] = 1 + max((depth(d, seen | {n}) for d in deps), default=-1)
        return level[n]

    for n in topology.nodes:
        depth(n.name)
    out: dict[int, list[str]] = {}
    for n in topology.nodes:
        out.setdefault(level[n.name], []).append(n.name)
    return tuple(tuple(out[k]) for k in sorted(out))
