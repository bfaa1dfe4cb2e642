"""The engine-neutral half of `zmqrun export`: a topology in, one workload per node out (fixed
ports, endpoints rewritten to the names an engine's DNS gives, the ZMQRUN_* environment), with
every node that cannot leave this machine reported. Pure: no files, no engine syntax."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from typing import NamedTuple

from orchestrator.errors import Problem
from orchestrator.run.order import start_after
from orchestrator.run.plan import Binding, connecting, instance
from orchestrator.security.keys import Keyring
from orchestrator.security.policy import socket_security
from orchestrator.topology.model import Node, Topology
from orchestrator.topology.validate import peers

# The planner renders one replica at a time; a pod template is shared by every replica, whose
# number is known only when the pod starts. Rendering with this number marks where it goes.
REPLICA_MARK = 7_913_571_031
# Names every resolver answers with a loopback address (RFC 6761, and Debian's /etc/hosts).
LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


class Port(NamedTuple):
    socket: str
    name: str  # an IANA service name: at most 15 characters, lower case, digits and '-'
    number: int


class Launch(NamedTuple):
    """What one container runs: the command, its environment (sorted), lines fed to stdin."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    stdin: tuple[str, ...] | None


class Workload(NamedTuple):
    node: Node
    name: str  # DNS-1123 label, the node's name in the engine
    image: str
    one_shot: bool  # runs to completion (a Job); otherwise kept running
    ports: tuple[Port, ...]  # bound tcp ports, fixed
    each: bool  # several replicas bind: peers reach each one by its own name
    launches: tuple[Launch, ...]  # replica r at index r-1, its number filled in
    template: Launch  # the replica number left as REPLICA_MARK
    after: tuple[tuple[str, str], ...]  # (workload name, zmqrun condition): zmqrun's start order
    curve: bool = False  # has CURVE sockets: its keys come from engine secrets (export/curve.py)

    @property
    def replicas(self) -> int:
        return self.node.replicas


class Naming(NamedTuple):
    """How an engine's DNS names a workload's one address, and each replica's own address."""

    service: Callable[[str], str]
    replica: Callable[[str, int], str]  # (workload name, replica from 1)


def dns_name(name: str) -> str:
    return name.lower().replace("_", "-")


def project_name(topology: str) -> str:
    """A topology's name as a label value and Compose project name: [a-z0-9-], at most 63."""
    name = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", topology.lower()))[:63].strip("-")
    return name if name and name[0].isalpha() else f"zmqrun-{name}".rstrip("-")[:63]


def port_name(socket: str, number: int) -> str:
    name = re.sub(r"-+", "-", socket.lower().replace("_", "-")).strip("-")
    ok = len(name) <= 15 and re.search(r"[a-z]", name) and re.fullmatch(r"[a-z0-9-]+", name)
    return name if ok else f"zmq-{number}"


def named_ports(ports: dict[str, int]) -> tuple[Port, ...]:
    """A node's bound ports, each with a name of its own: sockets whose names fold to the same
    port name (`out_a`, `out__a`) would give a Service two ports of one name, which the API
    server refuses (and schema validators pass); a later one is named after its number."""
    taken: set[str] = set()
    out = []
    for socket_name, number in ports.items():
        name = port_name(socket_name, number)
        k = 1
        while name in taken:
            k += 1
            name = f"zmq-{number}" if k == 2 else f"zmq-{number}-{k}"
        taken.add(name)
        out.append(Port(socket_name, name, number))
    return tuple(out)


def on_this_machine(endpoint: str) -> bool:
    """Whether a literal endpoint reaches only the machine it runs on: ipc://, or tcp:// to a
    loopback or unspecified address in any spelling libzmq accepts (`127.1`, `0`, `[::1]`,
    `[::ffff:127.0.0.1]`, `localhost.`, `a.localhost`), the destination after a `source;` part."""
    if endpoint.startswith("ipc://"):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://") :].rsplit(";", 1)[-1].rsplit(":", 1)[0].strip("[]").lower().rstrip(".")
    if host == "*" or host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:  # the shorthand forms inet_aton takes, as getaddrinfo does: 127.1, 2130706433, 0
            address = ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return False  # a name: it is the engine's DNS that answers for it
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def one_shot_nodes(topology: Topology) -> set[str]:
    """Nodes that end by design: the run ends with them, another waits for them to complete,
    or the expect block waits for their exit status."""
    names = {n.name for n in topology.nodes if n.exit_on_end}
    names |= {d for n in topology.nodes for d, c in n.depends_on if c == "process_completed_successfully"}
    names |= {name for name, _ in topology.expect.exit} if topology.expect else set()
    return names


def translate(
    topology: Topology, naming: Naming, image: str | None = None, keys: Keyring | None = None
) -> tuple[tuple[Workload, ...], list[Problem]]:
    """Every node as a workload; `image` replaces the topology's default (a node's own wins).
    CURVE sockets take their key pairs from `keys` (made fresh for this export when None): the
    launches carry them, for the Secrets; an engine's manifests must leave them out."""
    problems: list[Problem] = []

    def bad(line: int, path: str, message: str) -> None:
        problems.append(Problem(topology.file, line, path, message))

    keys = keys or Keyring("/nonexistent")  # secret_file() is never used: the pod chooses the path
    clients: dict[tuple[str, str], list[str]] = {}  # binding socket -> labels of its connecting instances
    for node in topology.nodes:
        for sock in node.sockets:
            for server, server_sock in peers(topology, node, sock):
                clients.setdefault((server.name, server_sock.name), []).extend(
                    f"{node.name}.{r}" for r in range(1, node.replicas + 1)
                )
    names: dict[str, str] = {}
    for node in topology.nodes:
        name = dns_name(node.name)
        if not DNS_LABEL.match(name) or len(name) + 1 + len(str(node.replicas)) > 63:
            bad(node.line, f"nodes.{node.name}", f"{name!r} is not a DNS-1123 label an engine can use as a name")
        elif name in names:
            bad(node.line, f"nodes.{node.name}", f"becomes {name!r}, the same name as node {names[name]!r}")
        names[name] = node.name
    ports = {n.name: _ports(n, topology.port_range[0]) for n in topology.nodes}
    each = {n.name: n.replicas > 1 and bool(ports[n.name]) for n in topology.nodes}
    incoming = connecting(topology)
    one_shot = one_shot_nodes(topology)
    after = start_after(topology)
    workloads = []
    for node in topology.nodes:
        path = f"nodes.{node.name}"
        chosen = node.image or image or topology.image
        if chosen is None:
            bad(node.line, path, "no container image: give the node 'image:', the topology 'image:', or --image")
        if node.stdin == "inherit":
            bad(node.line, f"{path}.stdin", "stdin: inherit needs this terminal; a pod or container has none")
        if node.cwd is not None and not node.cwd.startswith("/"):
            bad(
                node.line,
                f"{path}.cwd",
                f"cwd {node.cwd!r} is relative to the topology file, which is not in the image",
            )
        bindings = []
        for sock in node.sockets:
            spath = f"{path}.sockets.{sock.name}"
            mechanism = socket_security(topology, node, sock)
            if sock.bind:
                eps: tuple[str, ...] = (
                    (f"ipc:///tmp/zmqrun.{node.name}.{sock.name}",)
                    if sock.transport == "ipc"
                    else (f"tcp://*:{ports[node.name][sock.name]}",)
                )
                admitted = dict.fromkeys(clients.get((node.name, sock.name), [])) if mechanism == "curve" else {}
                bindings.append(Binding(sock.name, sock.type, True, eps, _numbers(eps),
                                        incoming.get((node.name, sock.name), 0), mechanism,
                                        tuple(keys.public(c) for c in admitted)))  # fmt: skip
                continue
            eps = ()
            server_keys: tuple[str, ...] = ()
            for target in sock.connect:
                if "://" in target:
                    if on_this_machine(target):
                        bad(sock.line, f"{spath}.connect", f"{target} is on this machine; another host cannot reach it")
                    eps += (target,)
                    continue
                peer_name, _, peer_sock_name = target.partition(".")
                peer = topology.node(peer_name)
                peer_sock = peer.socket(peer_sock_name) if peer else None
                if peer is None or peer_sock is None:
                    continue  # the loader refused this already
                if peer_sock.transport == "ipc":
                    bad(
                        sock.line, f"{spath}.connect", f"{target} is an ipc socket; ipc:// cannot cross hosts (use tcp)"
                    )
                    continue
                port = ports[peer.name][peer_sock.name]
                peer_dns = dns_name(peer.name)
                hosts = (
                    [naming.replica(peer_dns, r) for r in range(1, peer.replicas + 1)]
                    if each[peer.name]
                    else [naming.service(peer_dns)]
                )
                eps += tuple(f"tcp://{h}:{port}" for h in hosts)
                if mechanism == "curve":  # one server key per endpoint, in endpoint order
                    server_keys += tuple(keys.public(f"{peer.name}.{r}") for r in range(1, len(hosts) + 1))
            bindings.append(Binding(sock.name, sock.type, False, eps, _numbers(eps), len(eps), mechanism, server_keys))
        curve = any(b.security == "curve" for b in bindings)
        launches = tuple(
            _launch(topology, node, r, tuple(bindings), keys if curve else None) for r in range(1, node.replicas + 1)
        )
        template = _launch(topology, node, REPLICA_MARK, tuple(bindings))
        template = template._replace(env=tuple(kv for kv in template.env if kv[0] != "ZMQRUN_REPLICA"))
        if any(str(REPLICA_MARK) in w for w in node.run):
            bad(node.line, f"{path}.run", f"the command holds {REPLICA_MARK}, which export uses as a marker")
        workloads.append(Workload(
            node, dns_name(node.name), chosen or "", node.name in one_shot,
            named_ports(ports[node.name]),
            each[node.name], launches, template,
            tuple((dns_name(d), c) for d, c in after.get(node.name, ())), curve,
        ))  # fmt: skip
    return tuple(workloads), problems


def _ports(node: Node, first: int) -> dict[str, int]:
    """Fixed ports for a node's tcp binds: its own where given, else the next free from `first`.
    Each pod or container has its own address, so ports need not differ between nodes."""
    fixed = {s.port for s in node.sockets if s.port is not None}
    out: dict[str, int] = {}
    port = first
    for sock in node.sockets:
        if not sock.bind or sock.transport != "tcp":
            continue
        if sock.port is not None:
            out[sock.name] = sock.port
            continue
        while port in fixed:
            port += 1
        out[sock.name] = port
        port += 1
    return out


def _numbers(endpoints: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(int(e.rsplit(":", 1)[1]) for e in endpoints if e.startswith("tcp://"))


def _launch(topology: Topology, node: Node, replica: int, bindings: tuple[Binding, ...],
            keys: Keyring | None = None) -> Launch:  # fmt: skip
    label = f"{node.name}.{replica}"
    pair = (keys.public(label), keys.secret_file(label)) if keys else None
    inst = instance(topology, node, replica, bindings, topology.name, "python", {}, pair)
    stdin = node.stdin if isinstance(node.stdin, tuple) else None
    env = dict(inst.env)
    if node.buffering != "full":  # no zmqrun pseudo-terminal in a container: the nearest to `line`
        env.setdefault("PYTHONUNBUFFERED", "1")  # the node's own env: still wins
    return Launch(inst.argv, tuple(sorted(env.items())), stdin)
