"""From a validated topology to what will run: replicas, ports, endpoints, argv, env, and the
start order (computed in run/order.py).

Pure apart from the port allocator it is given, so it is tested without processes."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from typing import NamedTuple

from orchestrator.run.order import start_order, waves
from orchestrator.run.ports import PortAllocator
from orchestrator.security.keys import Keyring
from orchestrator.security.policy import socket_security
from orchestrator.topology.model import Node, Socket, Topology
from orchestrator.topology.validate import PLACEHOLDER, SUN_PATH_MAX, peers


class Binding(NamedTuple):
    """One socket of one running instance, with its concrete endpoints."""

    name: str
    type: str
    bind: bool
    endpoints: tuple[str, ...]
    ports: tuple[int, ...]
    peers: int = 0  # connecting instances for a binder (by reference), endpoints for a connector
    security: str = "none"  # or "curve"
    keys: tuple[str, ...] = ()  # CURVE public keys: of every client for a binder, one per endpoint for a connector


class Instance(NamedTuple):
    node: Node
    replica: int  # from 1
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cwd: str
    sockets: tuple[Binding, ...]

    @property
    def label(self) -> str:
        return f"{self.node.name}.{self.replica}"

    @property
    def listen_ports(self) -> tuple[int, ...]:
        return tuple(p for b in self.sockets if b.bind for p in b.ports)

    @property
    def secured(self) -> bool:
        return any(b.security == "curve" for b in self.sockets)

    @property
    def ipc_paths(self) -> tuple[str, ...]:
        return tuple(e[len("ipc://"):] for b in self.sockets if b.bind for e in b.endpoints if e.startswith("ipc://"))


class Plan(NamedTuple):
    topology: Topology
    run_id: str
    instances: tuple[Instance, ...]
    waves: tuple[tuple[str, ...], ...]  # node names, in start order; for display
    after: dict[str, tuple[tuple[str, str], ...]]  # node -> (node it waits for, condition)
    rundir: str = ""  # the run's private directory (ipc sockets, key files)
    keys: Keyring | None = None  # this run's CURVE key pairs, when any edge uses CURVE
    conflicts: tuple[str, ...] = ()  # start-order rules that contradicted, and which one won

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(sorted({p for i in self.instances for p in i.listen_ports}))


def _bind_endpoint(sock: Socket, port: int | None, rundir: str, node: str, replica: int, index: int) -> str:
    if sock.transport == "ipc":
        path = f"{rundir}/{node}.{replica}.{sock.name}"
        # Readable when it fits; else the bind's number, unique in the run (names never start with a digit).
        return f"ipc://{path if len(os.fsencode(path)) <= SUN_PATH_MAX else f'{rundir}/{index}'}"
    host = f"[{sock.host}]" if ":" in sock.host else sock.host
    return f"tcp://{host}:{port}"


def connect_endpoint(endpoint: str) -> str:
    """A bind endpoint as a peer should dial it (a wildcard bind is reached on loopback)."""
    for wildcard in ("tcp://0.0.0.0:", "tcp://*:", "tcp://[::]:"):
        if endpoint.startswith(wildcard):
            return "tcp://127.0.0.1:" + endpoint[len(wildcard):]
    return endpoint


def _port_of(endpoint: str) -> int | None:
    if endpoint.startswith("tcp://"):
        tail = endpoint.rsplit(":", 1)[-1]
        return int(tail) if tail.isdigit() else None
    return None


def make_plan(
    topology: Topology,
    run_id: str,
    allocator: PortAllocator,
    rundir: str,
    python: str = sys.executable,
    base_env: dict[str, str] | None = None,
    keys: Keyring | None = None,
) -> Plan:
    base_env = dict(os.environ if base_env is None else base_env)
    # Nodes see zmqrun's own Python first on PATH, so `python -m ...` finds pyzmq and the helper.
    base_env["PATH"] = os.pathsep.join([os.path.dirname(python), base_env.get("PATH", os.defpath)])
    for key in [k for k in base_env if k.startswith("ZMQRUN_")]:
        del base_env[key]
    security = {(n.name, s.name): socket_security(topology, n, s) for n in topology.nodes for s in n.sockets}
    if keys is None and "curve" in security.values():
        keys = Keyring(os.path.join(rundir, "keys"))
    # Bound endpoints first, so that connectors can be resolved in one pass.
    bound: dict[tuple[str, str], list[str]] = {}
    for node in topology.nodes:
        for sock in node.sockets:
            if sock.bind:
                for replica in range(1, node.replicas + 1):
                    port = sock.port if sock.port is not None else (allocator.take() if sock.transport == "tcp" else None)
                    endpoint = _bind_endpoint(sock, port, rundir, node.name, replica, sum(map(len, bound.values())))
                    bound.setdefault((node.name, sock.name), []).append(endpoint)
    incoming = connecting(topology)
    clients: dict[tuple[str, str], list[str]] = {}  # binding socket -> labels of instances connecting to it
    for node in topology.nodes:
        for sock in node.sockets:
            for peer, peer_sock in peers(topology, node, sock):
                labels = (f"{node.name}.{r}" for r in range(1, node.replicas + 1))
                clients.setdefault((peer.name, peer_sock.name), []).extend(labels)

    def public(label: str) -> str:
        assert keys is not None
        return keys.public(label)

    instances = []
    for node in topology.nodes:
        for replica in range(1, node.replicas + 1):
            bindings = []
            for sock in node.sockets:
                if sock.bind:
                    eps: tuple[str, ...] = (bound[(node.name, sock.name)][replica - 1],)
                else:
                    eps = tuple(
                        connect_endpoint(e) if "://" not in t else t
                        for t in sock.connect
                        for e in (bound[tuple(t.split(".", 1))] if "://" not in t else [t])  # type: ignore[index]
                    )
                ports = tuple(p for e in eps if (p := _port_of(e)) is not None)
                count = incoming.get((node.name, sock.name), 0) if sock.bind else len(eps)
                mechanism = security[(node.name, sock.name)]
                curve_keys: tuple[str, ...] = ()
                if mechanism == "curve" and sock.bind:
                    curve_keys = tuple(public(c) for c in dict.fromkeys(clients.get((node.name, sock.name), [])))
                elif mechanism == "curve":  # references only (policy refuses literal endpoints), in endpoint order
                    curve_keys = tuple(public(f"{t.split('.', 1)[0]}.{r}") for t in sock.connect
                                       for r in range(1, len(bound[tuple(t.split(".", 1))]) + 1))  # type: ignore[index]
                bindings.append(Binding(sock.name, sock.type, sock.bind, eps, ports, count, mechanism, curve_keys))
            label = f"{node.name}.{replica}"
            pair = (public(label), keys.secret_file(label)) if keys and any(b.security == "curve" for b in bindings) else None
            instances.append(instance(topology, node, replica, tuple(bindings), run_id, python, base_env, pair, rundir))
    after, conflicts = start_order(topology)
    return Plan(topology, run_id, tuple(instances), waves(topology, after), after, rundir, keys, conflicts)


def connecting(topology: Topology) -> dict[tuple[str, str], int]:
    """For each bound (node, socket), how many instances connect to it by reference."""
    incoming: dict[tuple[str, str], int] = {}
    for node in topology.nodes:
        for sock in node.sockets:
            for peer, peer_sock in peers(topology, node, sock):
                edge = (peer.name, peer_sock.name)
                incoming[edge] = incoming.get(edge, 0) + node.replicas
    return incoming


def instance(topology: Topology, node: Node, replica: int, bindings: tuple[Binding, ...],
              run_id: str, python: str, base_env: dict[str, str], curve: tuple[str, str] | None = None,
              rundir: str = "") -> Instance:  # fmt: skip
    """One instance as it will run: argv, env and endpoints (also what `zmqrun export` puts in a
    pod template, so the environment contract is the same everywhere)."""
    values: dict[str, list[str]] = {
        "node": [node.name], "replica": [str(replica)], "replicas": [str(node.replicas)],
        "run_id": [run_id], "python": [python], "topology": [topology.name],
    }  # fmt: skip
    env = dict(base_env)
    if node.buffering == "unbuffered":
        env["PYTHONUNBUFFERED"] = "1"  # a default like any other: the node's own env below wins
    env.update(node.env)
    env.update(
        ZMQRUN_RUN_ID=run_id,
        ZMQRUN_TOPOLOGY=topology.name,
        ZMQRUN_NODE=node.name,
        ZMQRUN_REPLICA=str(replica),
        ZMQRUN_REPLICAS=str(node.replicas),
        ZMQRUN_SOCKETS=json.dumps({b.name: _spec(b) for b in bindings}, separators=(",", ":")),
    )
    if rundir:  # where the run's lock says whether it is alive (run/runs.py); none in an export
        env["ZMQRUN_RUN_DIR"] = rundir
    if curve is not None:  # its own public key, and where its secret key is: never the secret itself
        env["ZMQRUN_CURVE_PUBLICKEY"], env["ZMQRUN_CURVE_SECRETKEY_FILE"] = curve
    for b in bindings:
        key = f"ZMQRUN_SOCKET_{b.name.upper()}"
        if b.security == "curve":
            env[f"{key}_SECURITY"] = "curve"
            env[f"{key}_CLIENTKEYS" if b.bind else f"{key}_SERVERKEYS"] = " ".join(b.keys)
            if not b.bind:
                env[f"{key}_SERVERKEY"] = b.keys[0] if b.keys else ""
        env[f"{key}_TYPE"] = b.type
        env[f"{key}_MODE"] = "bind" if b.bind else "connect"
        env[f"{key}_ENDPOINTS"] = " ".join(b.endpoints)
        env[f"{key}_ENDPOINT"] = b.endpoints[0] if b.endpoints else ""
        if b.ports:
            env[f"{key}_PORT"] = str(b.ports[0])
        values[f"{b.name}.endpoints"] = list(b.endpoints)
        values[f"{b.name}.endpoint"] = list(b.endpoints[:1])
        values[f"{b.name}.ports"] = [str(p) for p in b.ports]
        values[f"{b.name}.port"] = [str(p) for p in b.ports[:1]]
        values[f"{b.name}.host"] = [b.endpoints[0].split("://", 1)[1].rsplit(":", 1)[0].strip("[]")] if b.ports else []
    if node.device:
        argv: tuple[str, ...] = (python, "-m", "orchestrator.nodes.device", node.device)
    elif node.shell:
        argv = ("/bin/sh", "-c", render_word(node.run[0], values, quote=True))
    else:
        argv = tuple(w for word in node.run for w in render(word, values))
    cwd = os.path.normpath(os.path.join(topology.base_dir, node.cwd)) if node.cwd else topology.base_dir
    return Instance(node, replica, argv, tuple(sorted(env.items())), cwd, bindings)


def _spec(b: Binding) -> dict[str, object]:
    spec: dict[str, object] = {"type": b.type, "bind": b.bind, "endpoints": list(b.endpoints), "peers": b.peers}
    if b.security == "curve":
        spec.update({"security": "curve", "clientkeys" if b.bind else "serverkeys": list(b.keys)})
    return spec


def render(word: str, values: dict[str, list[str]]) -> list[str]:
    """One argv word with placeholders filled; a lone many-valued placeholder gives many words."""
    m = PLACEHOLDER.fullmatch(word)
    if m and m.group(1) is not None:
        return list(values[m.group(1)])
    return [render_word(word, values)]


def render_word(word: str, values: dict[str, list[str]], quote: bool = False) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)[0]
        vals = values[m.group(1)]
        return " ".join(shlex.quote(v) for v in vals) if quote else " ".join(vals)

    return PLACEHOLDER.sub(sub, word)
