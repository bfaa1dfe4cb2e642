"""The classic ZeroMQ mistakes, read off the edges: a pure function of one snapshot (the
declared edges, their tracked states, who runs since when) that returns findings. The caller
reports each finding once, by its key."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from orchestrator.edges.declared import Edge
from orchestrator.edges.track import EdgeState
from orchestrator.view.text import count

NOT_CONNECTED_AFTER = 5.0  # seconds after both ends started before a missing connection is named
QUIET_AFTER = 5.0  # seconds a connected subscriber may receive nothing while others do
BUSY = 0.02  # share of one CPU above which a publisher with no subscriber counts as sending
START_WINDOW = 2.0  # seconds after a PUSH's first data over which its spread is judged
MIN_SPREAD_DATA = 4096  # bytes a PUSH must have sent before its spread means anything
UNEVEN = 0.9  # one peer's share of a PUSH's first data that makes the spread a slow joiner's

PUBLISHERS, SUBSCRIBERS = ("PUB", "XPUB"), ("SUB", "XSUB")


class Finding(NamedTuple):
    key: tuple[str, ...]  # what it is about: reported once per key
    kind: str  # not-connected, no-subscriber, prefix-matches-nothing, slow-joiner
    message: str


class Snapshot(NamedTuple):
    now: float
    edges: tuple[Edge, ...]
    states: tuple[EdgeState | None, ...]  # one per edge; None until first sampled
    started: dict[str, float]  # instance label -> when it started; running instances only
    busy: dict[str, float] = {}  # label -> share of one CPU lately, where measured
    interval: float = 1.0  # seconds between samples: a window must hold at least two


def diagnose(s: Snapshot) -> list[Finding]:
    if all_settled(s.states, s.now, s.interval):
        return []  # every edge up and no byte moving: the common case, which has nothing to find
    return [*_not_connected(s), *_no_subscriber(s), *_prefix(s), *_slow_joiner(s)]


def all_settled(states: Sequence[EdgeState | None], now: float, interval: float) -> bool:
    """Every edge connected, quiet, and past any PUSH's start window: no rule can fire, and none
    will as time passes until some edge's state changes."""
    return all(_settled(st, now, interval) for st in states)


def _settled(st: EdgeState | None, now: float, interval: float) -> bool:
    if st is None or not st.connected or st.rate_to_connecter or st.rate_to_binder:
        return False
    firsts = [t for t in (st.data_to_connecter, st.data_to_binder) if t is not None]
    return not firsts or now - min(firsts) > START_WINDOW + max(START_WINDOW, 2 * interval)


def _end(edge: Edge, types: tuple[str, ...]) -> tuple[str, str, str, str] | None:
    """(label, socket, type, side) of the end of `edge` whose type is one of `types`."""
    if edge.binder and edge.binder_type in types:
        return edge.binder, edge.binder_socket, edge.binder_type, "binder"
    if edge.connecter_type in types:
        return edge.connecter, edge.connecter_socket, edge.connecter_type, "connecter"
    return None


def _far(edge: Edge, side: str) -> str:
    return edge.connecter if side == "binder" else (edge.binder or edge.endpoint)


def _toward_far(st: EdgeState, side: str) -> tuple[int, float, float, float | None]:
    """Bytes, rate, last growth and first data time away from the end on `side`."""
    if side == "binder":
        return st.total_to_connecter, st.rate_to_connecter, st.grew_to_connecter, st.data_to_connecter
    return st.total_to_binder, st.rate_to_binder, st.grew_to_binder, st.data_to_binder


@functools.lru_cache(maxsize=16)
def _ends(edges: tuple[Edge, ...], types: tuple[str, ...]) -> tuple[tuple[tuple[str, str, str, str], tuple[int, ...]], ...]:
    """Indices of the edges grouped by their end of one of `types` (one socket of one instance);
    the edges of a run never change, so this is worked out once."""
    groups: dict[tuple[str, str, str, str], list[int]] = {}
    for i, edge in enumerate(edges):
        end = _end(edge, types)
        if end is not None:
            groups.setdefault(end, []).append(i)
    return tuple((end, tuple(ix)) for end, ix in groups.items())


def _groups(s: Snapshot, types: tuple[str, ...]) -> Iterator[tuple[tuple[str, str, str, str], list[tuple[Edge, EdgeState | None]]]]:
    for end, ix in _ends(s.edges, types):
        yield end, [(s.edges[i], s.states[i]) for i in ix]


def _not_connected(s: Snapshot) -> Iterator[Finding]:
    for edge, st in zip(s.edges, s.states, strict=True):
        if st is not None and st.connected:
            continue
        ends = [edge.connecter] + ([edge.binder] if edge.binder else [])
        if any(e not in s.started for e in ends):
            continue
        since = max([s.started[e] for e in ends] + ([st.since] if st is not None and st.connections else []))
        if s.now - since < NOT_CONNECTED_AFTER:
            continue
        far = f"{edge.binder} ({edge.binder_socket}, {edge.binder_type})" if edge.binder else "its peer"
        what = "lost its connection to" if st is not None and st.connections else "never connected to"
        yield Finding(("not-connected", edge.connecter, edge.connecter_socket, edge.endpoint), "not-connected",
                      f"edge not connected: {edge.connecter} ({edge.connecter_socket}, {edge.connecter_type}) "
                      f"{what} {far} at {edge.endpoint}, {s.now - since:.0f}s after both ends started")  # fmt: skip


def _no_subscriber(s: Snapshot) -> Iterator[Finding]:
    for (label, sock, kind, side), group in _groups(s, PUBLISHERS):
        if label not in s.started or s.now - s.started[label] < QUIET_AFTER:
            continue
        if any(st is not None and st.connected for _, st in group) or s.busy.get(label, 0.0) < BUSY:
            continue
        peers = ", ".join(sorted({_far(e, side) for e, _ in group}))
        yield Finding(("no-subscriber", label, sock), "no-subscriber",
                      f"{label} is busy ({s.busy[label]:.0%} CPU) but no subscriber is connected to its {kind} "
                      f"socket {sock!r}: whatever it publishes now is dropped (declared subscribers: {peers})")  # fmt: skip


def _prefix(s: Snapshot) -> Iterator[Finding]:
    for (label, sock, kind, side), group in _groups(s, PUBLISHERS):
        fed = [_far(e, side) for e, st in group if st is not None and st.connected
               and _toward_far(st, side)[1] > 0 and _toward_far(st, side)[3] is not None]  # fmt: skip
        if not fed:
            continue
        for edge, st in group:
            if st is None or not st.connected or s.now - st.since < QUIET_AFTER:
                continue
            if s.now - _toward_far(st, side)[2] < QUIET_AFTER:
                continue
            sub = _far(edge, side)
            yield Finding(("prefix-matches-nothing", sub, label, sock), "prefix-matches-nothing",
                          f"{sub} is connected to {label}'s {kind} {sock!r}, which is sending to {', '.join(sorted(set(fed)))}, "
                          f"but has received nothing for {s.now - max(st.since, _toward_far(st, side)[2]):.0f}s: "
                          "its subscription prefix matches nothing being published")  # fmt: skip


def _slow_joiner(s: Snapshot) -> Iterator[Finding]:
    for (label, sock, kind, side), group in _groups(s, ("PUSH",)):
        if len(group) < 2:
            continue
        firsts = [f for _, st in group if st is not None and (f := _toward_far(st, side)[3]) is not None]
        if not firsts or not START_WINDOW <= s.now - min(firsts) <= START_WINDOW + max(START_WINDOW, 2 * s.interval):
            continue
        sent = [(_toward_far(st, side)[0] if st is not None else 0, _far(e, side)) for e, st in group]
        total = sum(n for n, _ in sent)
        top, peer = max(sent)
        if total < MIN_SPREAD_DATA or top < UNEVEN * total:
            continue
        others = ", ".join(sorted(p for _, p in sent if p != peer))
        yield Finding(("slow-joiner", label, sock), "slow-joiner",
                      f"{label}'s {kind} {sock!r} sent {top / total:.0%} of its first {count(total, 'byte')} to {peer} "
                      f"({others} got almost nothing): a slow joiner; start the PULL side first (depends_on) "
                      f"or wait for every peer before sending (node.wait_for_peers({sock!r}))")  # fmt: skip
