"""The smaller blocks of a topology file, each read into its model record: restart, ready,
depends_on, stdin, expect (with its captures and regular expressions)."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.topology.loader import Path_
from orchestrator.topology.model import Capture, Expect, Ready, Restart
from orchestrator.topology.reader import Reader, type_name

RESTART_KEYS = {"policy", "limit", "window", "backoff", "max_backoff"}
READY_KEYS = {"when", "log", "timeout"}
READY_WHEN = ("ports", "started", "connected", "log", "helper")
EXPECT_KEYS = {"timeout", "exit", "output", "absent", "equal"}
CONDITIONS = {"process_started", "process_ready", "process_completed_successfully"}


def parse_restart(r: Reader, value: Any, path: Path_) -> Restart:
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


def parse_ready(r: Reader, value: Any, path: Path_) -> Ready:
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
            parse_regex(r, log, path + ("log",))
    timeout = r.duration(m["timeout"], path + ("timeout",)) if "timeout" in m else 30.0
    return Ready(when, log, timeout if timeout is not None else 30.0)


def parse_depends(r: Reader, value: Any, path: Path_) -> tuple[tuple[str, str], ...]:
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


def parse_stdin(r: Reader, value: Any, path: Path_) -> str | tuple[str, ...] | None:
    if value is None:
        return None
    if value == "inherit":
        return "inherit"
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return tuple(str(v) for v in value)
    r.bad(path, f"expected 'inherit' or a list of lines to feed, got {type_name(value)}")
    return None


def parse_regex(r: Reader, pattern: Any, path: Path_) -> str | None:
    if not isinstance(pattern, str):
        r.bad(path, f"expected a regular expression, got {type_name(pattern)}")
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        r.bad(path, f"invalid regular expression: {exc}")
        return None
    return pattern


def parse_captures(r: Reader, value: Any, path: Path_) -> tuple[Capture, ...]:
    if not isinstance(value, dict):
        r.bad(path, f"expected a mapping of node names to regular expressions, got {type_name(value)}")
        return ()
    out = []
    for node, patterns in value.items():
        for i, p in enumerate(patterns if isinstance(patterns, list) else [patterns]):
            sub = path + ((node, i) if isinstance(patterns, list) else (node,))
            if (ok := parse_regex(r, p, sub)) is not None:
                out.append(Capture(node, ok))
    return tuple(out)


def parse_expect(r: Reader, value: Any, path: Path_) -> Expect:
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
        caps = parse_captures(r, pair, path + ("equal", i))
        if len(caps) != 2 or not all(re.compile(c.pattern).groups >= 1 for c in caps):
            r.bad(path + ("equal", i), "each entry names two nodes, each with a regex that captures one group")
            continue
        equal.append((caps[0], caps[1]))
    return Expect(
        timeout,
        tuple(exits),
        parse_captures(r, m.get("output", {}), path + ("output",)),
        parse_captures(r, m.get("absent", {}), path + ("absent",)),
        tuple(equal),
    )
