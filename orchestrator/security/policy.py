"""Which edges use CURVE. A binding socket decides for its edges (its own `security`, else the
topology's); a connecting socket follows the sockets it reaches, and may only state the same.
Also every problem with that: mixed edges, keyless endpoints, STREAM sockets, a libzmq without CURVE."""

from __future__ import annotations

from orchestrator.topology.loader import Path_
from orchestrator.topology.model import Node, Socket, Topology

CVE_FIXED = (4, 3, 2)  # CVE-2019-13132: a remote buffer overflow reachable before authentication


def _reached(topology: Topology, node: Node, sock: Socket) -> list[tuple[str, str]]:
    """(NODE.SOCKET, its security) for every binding socket this one connects to by reference."""
    from orchestrator.topology.validate import peers

    return [(f"{peer.name}.{ps.name}", ps.security or topology.security) for peer, ps in peers(topology, node, sock)]


def socket_security(topology: Topology, node: Node, sock: Socket) -> str:
    """ "curve" or "none": the mechanism this socket uses on all its edges."""
    if sock.bind:
        return sock.security or topology.security
    if sock.security:
        return sock.security
    found = {sec for _, sec in _reached(topology, node, sock)}
    return found.pop() if len(found) == 1 else topology.security


def uses_curve(topology: Topology) -> bool:
    return any(socket_security(topology, n, s) == "curve" for n in topology.nodes for s in n.sockets)


def curve_available() -> bool:
    import zmq

    return bool(zmq.has("curve"))


def problems(topology: Topology) -> list[tuple[Path_, str]]:
    """Every reason the topology's security cannot be honoured, as (YAML path, message)."""
    out: list[tuple[Path_, str]] = []
    for node in topology.nodes:
        for sock in node.sockets:
            path: Path_ = ("nodes", node.name, "sockets", sock.name)
            mine = socket_security(topology, node, sock)
            reached = _reached(topology, node, sock) if not sock.bind else []
            kinds = {sec for _, sec in reached}
            if sock.security and reached and kinds != {sock.security}:
                other = next(t for t, sec in reached if sec != sock.security)
                theirs = "none" if sock.security == "curve" else "curve"
                out.append((path + ("security",), (f"security: {sock.security} here, but {other} uses {theirs}; "
                            "both ends of an edge use the same mechanism")))  # fmt: skip
            elif len(kinds) > 1:
                listed = ", ".join(f"{t}: {sec}" for t, sec in reached)
                out.append((path + ("connect",), (f"reaches sockets with different security ({listed}); "
                            "one socket uses one mechanism, so give them the same")))  # fmt: skip
            if mine != "curve":
                continue
            if sock.type == "STREAM":
                out.append((path + ("type",), ("a STREAM socket speaks raw TCP, not ZMTP, so it cannot use CURVE; "
                            "set security: none on it")))  # fmt: skip
            for target in sock.connect:
                if "://" in target:
                    out.append((path + ("connect",), (f"{target} is a literal endpoint: zmqrun knows no CURVE server key "
                                "for it; set security: none on this socket")))  # fmt: skip
    if uses_curve(topology) and not curve_available():
        import zmq

        where: Path_ = ("security",) if topology.security == "curve" else ()
        out.append((where, (f"CURVE needs a libzmq built with it; this one ({zmq.zmq_version()}) is not "
                    "(zmq.has('curve') is false)")))  # fmt: skip
    return out


def warnings(topology: Topology) -> list[str]:
    """What the user should know before an encrypted run: an old libzmq with a pre-auth overflow."""
    if not uses_curve(topology):
        return []
    import zmq

    version = zmq.zmq_version_info()
    if tuple(version[:3]) < CVE_FIXED:
        return [(f"warning: libzmq {zmq.zmq_version()} is older than 4.3.2 and has CVE-2019-13132, a remote buffer "
                 "overflow reachable before CURVE authenticates anyone; upgrade pyzmq/libzmq")]  # fmt: skip
    return []
