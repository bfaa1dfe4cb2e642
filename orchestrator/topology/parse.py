"""Turn a loaded document into the model, field by field, collecting every problem on the way."""

from __future__ import annotations

import os
import re
import shlex
import signal
from typing import Any

from orchestrator.errors import Problem
from orchestrator.topology.blocks import parse_depends, parse_expect, parse_ready, parse_restart, parse_stdin
from orchestrator.topology.loader import Document, Path_
from orchestrator.topology.model import (
    BUFFERING,
    DEVICES,
    SOCKET_TYPES,
    Node,
    Socket,
    Topology,
)
from orchestrator.topology.reader import Reader, type_name

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
SOCKET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
ENDPOINT = re.compile(r"^(tcp://[^\s/]+:\d{1,5}|ipc://\S+|inproc://\S+)$")
# A container image reference: [registry[:port]/]path[:tag][@sha256:digest], lower case path.
IMAGE = re.compile(r"^[a-z0-9]([a-z0-9._/-]|:[0-9]+/)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")
# A number of seconds, or number-unit parts: 500ms, 3s, 2m, 1m30s, 1h 15m. The schema uses it too.
MAX_REPLICAS = 1000

TOP_KEYS = {"name", "description", "ports", "grace", "buffering", "nodes", "expect", "image", "security"}
NODE_KEYS = {
    "run", "shell", "device", "replicas", "env", "cwd", "sockets", "restart", "stop_signal",
    "grace", "depends_on", "ready", "stdin", "exit_on_end", "buffering", "image",
}  # fmt: skip
SOCKET_KEYS = {"type", "bind", "connect", "host", "transport", "security"}
SECURITY = ("none", "curve")
STOP_SIGNALS = {"SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGKILL"}


def parse(doc: Document) -> tuple[Topology, list[Problem]]:
    """Read the document into a Topology; problems are returned, never raised, so all are shown."""
    r = Reader(doc)
    top = r.mapping(doc.data, (), TOP_KEYS, "a topology")
    file = doc.file
    base_dir = os.path.dirname(os.path.realpath(file)) if file != "<string>" else os.getcwd()
    stem = os.path.splitext(os.path.basename(file))[0]
    name = r.typed(top.get("name", stem), ("name",), str, "a string") or stem
    description = r.typed(top.get("description", ""), ("description",), str, "a string") or ""
    port_range = _port_range(r, top.get("ports"), ("ports",))
    grace = r.duration(top["grace"], ("grace",)) if "grace" in top else 3.0
    buffering = _buffering(r, top, (), "line")
    nodes: list[Node] = []
    raw_nodes = top.get("nodes")
    if raw_nodes is None:
        r.bad((), "missing required key 'nodes'")
    elif not isinstance(raw_nodes, dict) or not raw_nodes:
        r.bad(("nodes",), "expected a mapping of node names to nodes, with at least one node")
    else:
        for node_name, raw in raw_nodes.items():
            path: Path_ = ("nodes", node_name)
            if not NAME.match(node_name):
                r.bad(path, "a node name starts with a letter and holds only letters, digits, '_' and '-'")
            nodes.append(_node(r, node_name, raw, path, grace if grace is not None else 3.0, buffering))
    expect = parse_expect(r, top["expect"], ("expect",)) if "expect" in top else None
    image = _image(r, top["image"], ("image",)) if "image" in top else None
    security = _security(r, top["security"], ("security",)) if "security" in top else None
    topology = Topology(name, file, base_dir, description, tuple(nodes), port_range, expect, image, security or "none")
    return topology, r.problems


def _port_range(r: Reader, value: Any, path: Path_) -> tuple[int, int]:
    default = (20000, 29999)
    if value is None:
        return default
    m = re.match(r"^(\d+)\s*-\s*(\d+)$", value) if isinstance(value, str) else None
    if not m:
        r.bad(path, f"expected a port range such as '20000-29999', got {value!r}")
        return default
    lo, hi = int(m.group(1)), int(m.group(2))
    if not (1024 <= lo <= hi <= 65535):
        r.bad(path, f"port range {lo}-{hi} must lie within 1024-65535, low end first")
        return default
    return lo, hi


def _buffering(r: Reader, m: dict[str, Any], path: Path_, default: str) -> str:
    value = m.get("buffering", default)
    if value not in BUFFERING:
        r.bad(path + ("buffering",), f"expected one of {', '.join(BUFFERING)}, got {value!r}")
        return default
    return str(value)


def _node(r: Reader, name: str, raw: Any, path: Path_, default_grace: float, default_buffering: str = "line") -> Node:
    m = r.mapping(raw, path, NODE_KEYS, "a node")
    line = r.doc.line(path)
    shell = bool(r.typed(m.get("shell", False), path + ("shell",), bool, "true or false"))
    device = m.get("device")
    if device is not None and device not in DEVICES:
        r.bad(path + ("device",), f"unknown device {device!r} (expected one of {', '.join(DEVICES)})")
        device = None
    run: tuple[str, ...] = ()
    if "run" in m:
        run = _run(r, m["run"], path + ("run",), shell)
        if device:
            r.bad(path + ("run",), "a node has either 'run' or 'device', not both")
    elif not device:
        r.bad(path, "missing required key 'run' (the command to start), or 'device'")
    replicas = m.get("replicas", 1)
    if r.typed(replicas, path + ("replicas",), int, "an integer") is None:
        replicas = 1
    elif not 1 <= replicas <= MAX_REPLICAS:
        r.bad(path + ("replicas",), f"replicas must be between 1 and {MAX_REPLICAS}, got {replicas}")
        replicas = 1
    env = _env(r, m.get("env", {}), path + ("env",))
    cwd = r.typed(m["cwd"], path + ("cwd",), str, "a directory path") if "cwd" in m else None
    sockets = _sockets(r, m.get("sockets", {}), path + ("sockets",))
    if device:
        sockets = _device_sockets(r, device, sockets, path)
    stop_signal = int(signal.SIGINT)
    if "stop_signal" in m:
        sig = m["stop_signal"]
        if isinstance(sig, str) and sig.upper() in STOP_SIGNALS:
            stop_signal = int(getattr(signal, sig.upper()))
        else:
            r.bad(path + ("stop_signal",), f"expected one of {', '.join(sorted(STOP_SIGNALS))}, got {sig!r}")
    grace = r.duration(m["grace"], path + ("grace",)) if "grace" in m else default_grace
    stdin = parse_stdin(r, m.get("stdin"), path + ("stdin",))
    exit_on_end = bool(r.typed(m.get("exit_on_end", False), path + ("exit_on_end",), bool, "true or false"))
    return Node(
        name=name,
        run=run,
        shell=shell,
        device=device,
        replicas=replicas,
        env=env,
        cwd=cwd,
        sockets=sockets,
        restart=parse_restart(r, m.get("restart", "no"), path + ("restart",)),
        stop_signal=stop_signal,
        grace=grace if grace is not None else default_grace,
        depends_on=parse_depends(r, m.get("depends_on", []), path + ("depends_on",)),
        ready=parse_ready(r, m.get("ready", "ports"), path + ("ready",)),
        stdin=stdin,
        exit_on_end=exit_on_end,
        line=line,
        buffering=_buffering(r, m, path, default_buffering),
        image=_image(r, m["image"], path + ("image",)) if "image" in m else None,
    )


def _run(r: Reader, value: Any, path: Path_, shell: bool) -> tuple[str, ...]:
    if isinstance(value, str):
        if shell:
            return (value,)
        try:
            words = shlex.split(value)
        except ValueError as exc:
            r.bad(path, f"cannot split the command into words: {exc}")
            return ()
    elif isinstance(value, list) and all(isinstance(w, (str, int, float)) and not isinstance(w, bool) for w in value):
        words = [str(w) for w in value]
        if shell:
            r.bad(path, "with shell: true, 'run' is one command string")
    else:
        r.bad(path, f"expected a command string or a list of words, got {type_name(value)}")
        return ()
    if not words:
        r.bad(path, "the command is empty")
    return tuple(words)


def _env(r: Reader, value: Any, path: Path_) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        r.bad(path, f"expected a mapping of variable names to values, got {type_name(value)}")
        return ()
    out = []
    for key, val in value.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            r.bad(path + (key,), "not a valid environment variable name")
        elif isinstance(val, (str, int, float)) and not isinstance(val, bool):
            out.append((key, str(val)))
        else:
            r.bad(path + (key,), f"expected a string or a number, got {type_name(val)}")
    return tuple(out)


def _sockets(r: Reader, value: Any, path: Path_) -> tuple[Socket, ...]:
    if not isinstance(value, dict):
        r.bad(path, f"expected a mapping of socket names to sockets, got {type_name(value)}")
        return ()
    out: list[Socket] = []
    seen_env: dict[str, str] = {}
    for name, raw in value.items():
        spath = path + (name,)
        if not SOCKET_NAME.match(name):
            r.bad(spath, "a socket name starts with a letter and holds only letters, digits and '_'")
        elif name.upper() in seen_env:
            r.bad(spath, f"socket names {seen_env[name.upper()]!r} and {name!r} differ only in case")
        seen_env[name.upper()] = name
        m = r.mapping(raw, spath, SOCKET_KEYS, "a socket")
        stype = m.get("type")
        if stype is None:
            r.bad(spath, "missing required key 'type'")
        elif not isinstance(stype, str) or stype.upper() not in SOCKET_TYPES:
            r.bad(spath + ("type",), f"unknown socket type {stype!r} (expected one of {', '.join(SOCKET_TYPES)})")
            stype = None
        transport = m.get("transport", "tcp")
        if transport not in ("tcp", "ipc"):
            r.bad(spath + ("transport",), f"expected tcp or ipc, got {transport!r}")
            transport = "tcp"
        host = r.typed(m.get("host", "127.0.0.1"), spath + ("host",), str, "a host name or address") or "127.0.0.1"
        bind, port, connect = _bind_or_connect(r, m, spath, transport)
        security = _security(r, m["security"], spath + ("security",)) if "security" in m else None
        out.append(Socket(name, (stype or "PAIR").upper(), bind, port, connect, host, transport, r.doc.line(spath), security))
    return tuple(out)


def _security(r: Reader, value: Any, path: Path_) -> str | None:
    if value not in SECURITY:
        r.bad(path, f"expected curve or none, got {value!r}")
        return None
    return str(value)


def _bind_or_connect(r: Reader, m: dict[str, Any], spath: Path_, transport: str) -> tuple[bool, int | None, tuple[str, ...]]:
    if ("bind" in m) == ("connect" in m):
        r.bad(spath, "a socket has exactly one of 'bind' (true or a port) and 'connect' (peers or endpoints)")
        return "bind" in m, None, ()
    if "bind" in m:
        b = m["bind"]
        if b is True:
            return True, None, ()
        if isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 65535:
            if transport != "tcp":
                r.bad(spath + ("bind",), "a fixed port needs transport tcp")
            return True, b, ()
        r.bad(spath + ("bind",), f"expected true (assign a port) or a port number 1-65535, got {b!r}")
        return True, None, ()
    targets = r.names(m["connect"], spath + ("connect",))
    for i, t in enumerate(targets):
        if "://" in t:
            if not ENDPOINT.match(t):
                r.bad(spath + ("connect",), f"malformed endpoint {t!r} (expected tcp://HOST:PORT or ipc://PATH)")
        elif not re.match(r"^[A-Za-z][A-Za-z0-9_-]*\.[A-Za-z][A-Za-z0-9_]*$", t):
            r.bad(spath + ("connect",), f"expected NODE.SOCKET or an endpoint, got {t!r}")
    if not targets:
        r.bad(spath + ("connect",), "connect needs at least one peer")
    return False, None, tuple(targets)


def _device_sockets(r: Reader, device: str, sockets: tuple[Socket, ...], path: Path_) -> tuple[Socket, ...]:
    types = DEVICES[device]
    names = {s.name for s in sockets}
    if names != {"frontend", "backend"}:
        r.bad(path + ("sockets",), f"a {device} device declares exactly two sockets, 'frontend' and 'backend'")
        return sockets
    for s in sockets:
        allowed = types[0] if s.name == "frontend" else types[1]
        if s.type not in allowed:
            r.bad(path + ("sockets", s.name, "type"),
                  f"a {device} device's {s.name} is {' or '.join(sorted(allowed))}, not {s.type}")  # fmt: skip
    return sockets


def _image(r: Reader, value: Any, path: Path_) -> str | None:
    if not isinstance(value, str) or not IMAGE.match(value):
        r.bad(path, f"expected a container image reference such as 'registry/zmqrun:1.0', got {value!r}")
        return None
    return value
