"""Turn a loaded document into the model, field by field, collecting every problem on the way."""

from __future__ import annotations

import os
import re
import shlex
import signal
from typing import Any

from orchestrator.errors import Problem
from orchestrator.topology.loader import Document, Path_
from orchestrator.topology.model import DEVICES, SOCKET_TYPES, Capture, Expect, Node, Ready, Restart, Socket, Topology

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
SOCKET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
ENDPOINT = re.compile(r"^(tcp://[^\s/]+:\d{1,5}|ipc://\S+|inproc://\S+)$")
# A container image reference: [registry[:port]/]path[:tag][@sha256:digest], lower case path.
IMAGE = re.compile(r"^[a-z0-9]([a-z0-9._/-]|:[0-9]+/)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")
# A number of seconds, or number-unit parts: 500ms, 3s, 2m, 1m30s, 1h 15m. The schema uses it too.
DURATION_PATTERN = r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)\s*)+$|^\s*\d+(?:\.\d+)?\s*$"
DURATION = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
MAX_REPLICAS = 1000

TOP_KEYS = {"name", "description", "ports", "grace", "nodes", "expect", "image", "security"}
NODE_KEYS = {
    "run", "shell", "device", "replicas", "env", "cwd", "sockets", "restart", "stop_signal",
    "grace", "depends_on", "ready", "stdin", "exit_on_end", "image",
}  # fmt: skip
SOCKET_KEYS = {"type", "bind", "connect", "host", "transport", "security"}
SECURITY = ("none", "curve")
RESTART_KEYS = {"policy", "limit", "window", "backoff", "max_backoff"}
READY_KEYS = {"when", "log", "timeout"}
READY_WHEN = ("ports", "started", "connected", "log", "helper")
EXPECT_KEYS = {"timeout", "exit", "output", "absent", "equal"}
CONDITIONS = {"process_started", "process_ready", "process_completed_successfully"}
STOP_SIGNALS = {"SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGKILL"}


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "empty"}.get(type(value), type(value).__name__)  # fmt: skip


def parse_duration(value: Any) -> float | None:
    """'500ms', '2s', '1.5m', '1m30s', or a number of seconds; None when not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    if isinstance(value, str) and DURATION.match(value):
        return sum(float(n) * _UNITS[unit or None] for n, unit in _DURATION_PART.findall(value))
    return None


class _Reader:
    def __init__(self, doc: Document):
        self.doc = doc
        self.problems: list[Problem] = []

    def bad(self, path: Path_, message: str) -> None:
        self.problems.append(self.doc.problem(path, message))

    def mapping(self, value: Any, path: Path_, keys: set[str], what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.bad(path, f"expected {what} (a mapping), got {_type_name(value)}")
            return {}
        for key in value:
            if key not in keys and not (path == () and key.startswith("x-")):
                hint = closest(key, keys)
                self.bad(path + (key,), f"unknown key {key!r}" + (f" (did you mean {hint!r}?)" if hint else "")
                         + f"; allowed: {', '.join(sorted(keys))}")  # fmt: skip
        return value

    def typed(self, value: Any, path: Path_, kind: type | tuple[type, ...], what: str) -> Any:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, (int, float)))
        if not ok:
            self.bad(path, f"expected {what}, got {_type_name(value)}")
            return None
        return value

    def duration(self, value: Any, path: Path_) -> float | None:
        seconds = parse_duration(value)
        if seconds is None:
            self.bad(path, f"expected a duration such as 500ms, 3s or 2m, got {value!r}")
        return seconds

    def names(self, value: Any, path: Path_) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        self.bad(path, f"expected a string or a list of strings, got {_type_name(value)}")
        return []


def closest(key: str, keys: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.7)
    return found[0] if found else None


def parse(doc: Document) -> tuple[Topology, list[Problem]]:
    """Read the document into a Topology; problems are returned, never raised, so all are shown."""
    r = _Reader(doc)
    top = r.mapping(doc.data, (), TOP_KEYS, "a topology")
    file = doc.file
    base_dir = os.path.dirname(os.path.realpath(file)) if file != "<string>" else os.getcwd()
    stem = os.path.splitext(os.path.basename(file))[0]
    name = r.typed(top.get("name", stem), ("name",), str, "a string") or stem
    description = r.typed(top.get("description", ""), ("description",), str, "a string") or ""
    port_range = _port_range(r, top.get("ports"), ("ports",))
    grace = r.duration(top["grace"], ("grace",)) if "grace" in top else 3.0
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
            nodes.append(_node(r, node_name, raw, path, grace if grace is not None else 3.0))
    expect = _expect(r, top["expect"], ("expect",)) if "expect" in top else None
    image = _image(r, top["image"], ("image",)) if "image" in top else None
    security = _security(r, top["security"], ("security",)) if "security" in top else None
    topology = Topology(name, file, base_dir, description, tuple(nodes), port_range, expect, image, security or "none")
    return topology, r.problems


def _port_range(r: _Reader, value: Any, path: Path_) -> tuple[int, int]:
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


def _node(r: _Reader, name: str, raw: Any, path: Path_, default_grace: float) -> Node:
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
    stdin = _stdin(r, m.get("stdin"), path + ("stdin",))
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
        restart=_restart(r, m.get("restart", "no"), path + ("restart",)),
        stop_signal=stop_signal,
        grace=grace if grace is not None else default_grace,
        depends_on=_depends(r, m.get("depends_on", []), path + ("depends_on",)),
        ready=_ready(r, m.get("ready", "ports"), path + ("ready",)),
        stdin=stdin,
        exit_on_end=exit_on_end,
        line=line,
        image=_image(r, m["image"], path + ("image",)) if "image" in m else None,
    )


def _run(r: _Reader, value: Any, path: Path_, shell: bool) -> tuple[str, ...]:
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
        r.bad(path, f"expected a command string or a list of words, got {_type_name(value)}")
        return ()
    if not words:
        r.bad(path, "the command is empty")
    return tuple(words)


def _env(r: _Reader, value: Any, path: Path_) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        r.bad(path, f"expected a mapping of variable names to values, got {_type_name(value)}")
        return ()
    out = []
    for key, val in value.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            r.bad(path + (key,), "not a valid environment variable name")
        elif isinstance(val, (str, int, float)) and not isinstance(val, bool):
            out.append((key, str(val)))
        else:
            r.bad(path + (key,), f"expected a string or a number, got {_type_name(val)}")
    return tuple(out)


def _sockets(r: _Reader, value: Any, path: Path_) -> tuple[Socket, ...]:
    if not isinstance(value, dict):
        r.bad(path, f"expected a mapping of socket names to sockets, got {_type_name(value)}")
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


def _security(r: _Reader, value: Any, path: Path_) -> str | None:
    if value not in SECURITY:
        r.bad(path, f"expected curve or none, got {value!r}")
        return None
    return str(value)


def _bind_or_connect(r: _Reader, m: dict[str, Any], spath: Path_, transport: str) -> tuple[bool, int | None, tuple[str, ...]]:
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


def _device_sockets(r: _Reader, device: str, sockets: tuple[Socket, ...], path: Path_) -> tuple[Socket, ...]:
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


def _image(r: _Reader, value: Any, path: Path_) -> str | None:
    if not isinstance(value, str) or not IMAGE.match(value):
        r.bad(path, f"expected a container image reference such as 'registry/zmqrun:1.0', got {value!r}")
        return None
    return value


def _restart(r: _Reader, value: Any, path: Path_) -> Restart:
    short = isinstance(value, str)
    if short:
        value = {"policy": value}
    m = r.mapping(value, path, RESTART_KEYS, "no, on-failure, always, or a restart mapping")
    policy = m.get("policy", "on-failure" if m else "no")
    if policy not in ("no", "on-failure", "always"):
        r.bad(path if short else path + ("policy",),
              f"expected no, on-failure or always, got {policy!r}")  # fmt: skip
        policy = "no"
    limit = m.get("limit", 5)
    if r.typed(limit, path + ("limit",), int, "an integer") is None or limit < 0:
        limit = 5
    dur = {k: (r.duration(m[k], path + (k,)) if k in m else None) for k in ("window", "backoff", "max_backoff")}
    d = Restart()
    return Restart(policy, limit, dur["window"] or d.window, dur["backoff"] or d.backoff,
                   dur["max_backoff"] or d.max_backoff)  # fmt: skip


def _ready(r: _Reader, value: Any, path: Path_) -> Ready:
    if isinstance(value, str):
        value = {"when": value}
    m = r.mapping(value, path, READY_KEYS, "ports, started, connected, helper, or a ready mapping")
    when = m.get("when", "log" if "log" in m else "ports")
    if when not in READY_WHEN:
        r.bad(path, f"expected ports, started, connected, log or helper, got {when!r}")
        when = "ports"
    log = m.get("log")
    if when == "log":
        if not isinstance(log, str):
            r.bad(path, "ready when 'log' needs 'log: REGEX'")
            log = None
        else:
            _regex(r, log, path + ("log",))
    timeout = r.duration(m["timeout"], path + ("timeout",)) if "timeout" in m else 30.0
    return Ready(when, log, timeout if timeout is not None else 30.0)


def _depends(r: _Reader, value: Any, path: Path_) -> tuple[tuple[str, str], ...]:
    if isinstance(value, dict):
        out = []
        for name, cond in value.items():
            c = cond.get("condition") if isinstance(cond, dict) else cond
            if c not in CONDITIONS:
                r.bad(path + (name,), f"expected a condition, one of {', '.join(sorted(CONDITIONS))}, got {c!r}")
                c = "process_ready"
            out.append((name, c))
        return tuple(out)
    return tuple((n, "process_ready") for n in r.names(value, path))


def _stdin(r: _Reader, value: Any, path: Path_) -> str | tuple[str, ...] | None:
    if value is None:
        return None
    if value == "inherit":
        return "inherit"
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return tuple(str(v) for v in value)
    r.bad(path, f"expected 'inherit' or a list of lines to feed, got {_type_name(value)}")
    return None


def _regex(r: _Reader, pattern: Any, path: Path_) -> str | None:
    if not isinstance(pattern, str):
        r.bad(path, f"expected a regular expression, got {_type_name(pattern)}")
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        r.bad(path, f"invalid regular expression: {exc}")
        return None
    return pattern


def _captures(r: _Reader, value: Any, path: Path_) -> tuple[Capture, ...]:
    if not isinstance(value, dict):
        r.bad(path, f"expected a mapping of node names to regular expressions, got {_type_name(value)}")
        return ()
    out = []
    for node, patterns in value.items():
        for i, p in enumerate(patterns if isinstance(patterns, list) else [patterns]):
            sub = path + ((node, i) if isinstance(patterns, list) else (node,))
            if (ok := _regex(r, p, sub)) is not None:
                out.append(Capture(node, ok))
    return tuple(out)


def _expect(r: _Reader, value: Any, path: Path_) -> Expect:
    m = r.mapping(value, path, EXPECT_KEYS, "an expect block")
    timeout = r.duration(m["timeout"], path + ("timeout",)) if "timeout" in m else None
    exits = []
    for node, codes in (m.get("exit") or {}).items() if isinstance(m.get("exit", {}), dict) else []:
        lst = codes if isinstance(codes, list) else [codes]
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in lst) or not lst:
            r.bad(path + ("exit", node), f"expected an exit status or a list of them, got {codes!r}")
            continue
        exits.append((node, tuple(lst)))
    if "exit" in m and not isinstance(m["exit"], dict):
        r.bad(path + ("exit",), "expected a mapping of node names to exit statuses")
    equal = []
    raw_equal = m.get("equal", [])
    if not isinstance(raw_equal, list):
        r.bad(path + ("equal",), "expected a list of pairs, each a mapping of two node names to regexes")
        raw_equal = []
    for i, pair in enumerate(raw_equal):
        caps = _captures(r, pair, path + ("equal", i))
        if len(caps) != 2 or not all(re.compile(c.pattern).groups >= 1 for c in caps):
            r.bad(path + ("equal", i), "each entry names two nodes, each with a regex that captures one group")
            continue
        equal.append((caps[0], caps[1]))
    return Expect(
        timeout,
        tuple(exits),
        _captures(r, m.get("output", {}), path + ("output",)),
        _captures(r, m.get("absent", {}), path + ("absent",)),
        tuple(equal),
    )
