"""Edges: the pure parts (tracking, diagnoses as a table, declared edges, ready: connected in
the loader) and the kernel sampler against real pyzmq processes that do not use the helper."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator

import pytest
from conftest import wait_for

from orchestrator.edges.declared import Edge, declared_edges
from orchestrator.edges.diagnose import Snapshot, diagnose
from orchestrator.edges.kernel import KernelView
from orchestrator.edges.track import EdgeState, Observation, advance
from orchestrator.errors import TopologyError
from orchestrator.run.plan import make_plan
from orchestrator.run.ports import PortAllocator
from orchestrator.topology.validate import load_topology

# ---- tracking -------------------------------------------------------------------------------


def test_advance_counts_connections_rates_and_totals():
    st = advance(None, Observation(False), 0.0, 0.0)
    assert not st.connected and st.connections == 0 and st.since == 0.0
    st = advance(st, Observation(True, 11, 100, 50), 1.0, 0.0)
    assert st.connected and st.since == 1.0 and st.connections == 1 and st.reconnects == 0
    assert st.rate_to_connecter == 0.0  # a new connection has no interval to measure yet
    st = advance(st, Observation(True, 11, 2100, 50), 2.0, 1.0)
    assert st.rate_to_connecter == 2000.0 and st.rate_to_binder == 0.0 and st.since == 1.0
    assert st.total_to_connecter == 2100 and st.grew_to_connecter == 2.0 and st.grew_to_binder == 1.0
    assert st.data_to_connecter == 2.0 and st.data_to_binder is None  # 50 bytes is a handshake, not data
    st = advance(st, Observation(False), 3.0, 2.0)
    assert not st.connected and st.since == 3.0 and st.total_to_connecter == 2100
    st = advance(st, Observation(True, 12, 10, 10), 4.0, 3.0)  # counters start again on a new connection
    assert st.reconnects == 1 and st.total_to_connecter == 2110 and st.since == 4.0
    st = advance(st, Observation(True, 13, 5, 5), 5.0, 4.0)  # a new socket without a gap in between
    assert st.reconnects == 2 and st.since == 5.0
    quiet = advance(st, Observation(True, 13, 5, 5), 6.0, 5.0)
    assert quiet.rate_to_connecter == 0.0 and quiet.since == 5.0 and quiet.total_to_connecter == 2115
    assert advance(quiet, Observation(True, 13, 5, 5), 7.0, 6.0) is quiet  # nothing moved: the same state
    busy = advance(quiet, Observation(True, 13, 505, 5), 9.0, 7.0)
    assert busy.rate_to_connecter == 250.0 and busy.grew_to_connecter == 9.0
    assert advance(busy, Observation(True, 13, 505, 5), 10.0, 9.0).rate_to_connecter == 0.0  # and quiet again


# ---- diagnoses, as a table --------------------------------------------------------------------

PUBSUB = (Edge("a.1", "in", "SUB", "tcp://127.0.0.1:5000", "pub.1", "out", "PUB"),
          Edge("b.1", "in", "SUB", "tcp://127.0.0.1:5000", "pub.1", "out", "PUB"))  # fmt: skip
PUSHPULL = (Edge("w.1", "in", "PULL", "tcp://127.0.0.1:5001", "v.1", "out", "PUSH"),
            Edge("w.2", "in", "PULL", "tcp://127.0.0.1:5001", "v.1", "out", "PUSH"))  # fmt: skip
XPUBSUB = tuple(e._replace(binder_type="XPUB") for e in PUBSUB)  # the same rules hold for an XPUB
UP = {"a.1": 0.0, "b.1": 0.0, "pub.1": 0.0, "w.1": 0.0, "w.2": 0.0, "v.1": 0.0}


def conn(since: float = 0.0, to_c: int = 0, rate: float = 0.0, grew: float = 0.0, data: float | None = None) -> EdgeState:
    return EdgeState(True, since, 1, 1, to_c, 0, to_c, 0, rate, 0.0, grew, since, data, None)


DOWN = EdgeState(False, 0.0)

CASES = [
    # (name, edges, states, now, started, busy, expected kinds)
    ("all well", PUBSUB, (conn(), conn()), 9.0, UP, {}, []),
    ("not connected yet", PUBSUB, (DOWN, conn()), 4.0, UP, {}, []),
    ("not connected", PUBSUB, (DOWN, conn()), 9.0, UP, {}, ["not-connected"]),
    ("never sampled", PUBSUB, (None, conn()), 9.0, UP, {}, ["not-connected"]),
    ("far end not started", PUBSUB, (DOWN, conn()), 9.0, {"a.1": 0.0}, {}, []),
    ("far end started late", PUBSUB, (DOWN, conn()), 9.0, {**UP, "pub.1": 6.0}, {}, []),
    ("quiet publisher alone", PUBSUB, (DOWN, DOWN), 4.0, UP, {"pub.1": 0.3}, []),
    ("busy publisher alone", PUBSUB, (DOWN, DOWN), 9.0, UP, {"pub.1": 0.3}, ["not-connected"] * 2 + ["no-subscriber"]),
    ("idle publisher alone", PUBSUB, (DOWN, DOWN), 9.0, UP, {"pub.1": 0.001}, ["not-connected"] * 2),
    ("busy XPUB alone", XPUBSUB, (DOWN, DOWN), 9.0, UP, {"pub.1": 0.3}, ["not-connected"] * 2 + ["no-subscriber"]),
    ("one starves of an XPUB", XPUBSUB, (conn(0, 9000, 500.0, 9.0, 1.0), conn(0, 90)), 9.0, UP, {}, ["prefix-matches-nothing"]),
    ("one starves", PUBSUB, (conn(0, 9000, 500.0, 9.0, 1.0), conn(0, 90)), 9.0, UP, {}, ["prefix-matches-nothing"]),
    ("one starves, briefly", PUBSUB, (conn(0, 9000, 500.0, 9.0, 1.0), conn(6.0, 90, 0, 6.0)), 9.0, UP, {}, []),
    ("nobody fed", PUBSUB, (conn(0, 90), conn(0, 90)), 9.0, UP, {}, []),
    ("even push", PUSHPULL, (conn(0, 9000, 0, 1, 1.0), conn(0, 8000, 0, 1, 1.0)), 3.5, UP, {}, []),
    ("slow joiner", PUSHPULL, (conn(0, 90000, 0, 1, 1.0), conn(2.0, 90)), 3.5, UP, {}, ["slow-joiner"]),
    ("slow joiner never came", PUSHPULL, (conn(0, 90000, 0, 1, 1.0), None), 3.5, UP, {}, ["slow-joiner"]),
    ("uneven, but not at start", PUSHPULL, (conn(0, 90000, 0, 1, 1.0), conn(2.0, 90)), 9.0, UP, {}, []),
    ("too little to judge", PUSHPULL, (conn(0, 900, 0, 1, 1.0), conn(2.0, 90)), 3.5, UP, {}, []),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_diagnose(case):
    _, edges, states, now, started, busy, expected = case
    found = diagnose(Snapshot(now, edges, states, started, busy))
    assert sorted(f.kind for f in found) == sorted(expected)
    assert len({f.key for f in found}) == len(found)


def test_findings_name_both_ends_and_the_fix():
    [f] = diagnose(Snapshot(9.0, PUBSUB, (DOWN, conn()), UP))
    assert "a.1" in f.message and "pub.1" in f.message and "tcp://127.0.0.1:5000" in f.message
    [f] = diagnose(Snapshot(3.5, PUSHPULL, (conn(0, 90000, 0, 1, 1.0), conn(2.0, 90)), UP))
    assert "w.1" in f.message and "w.2" in f.message and "wait_for_peers" in f.message and "depends_on" in f.message


# ---- declared edges and ready: connected ------------------------------------------------------

TOPOLOGY = """
nodes:
  pub:
    run: x
    replicas: 2
    sockets:
      out: {type: PUB, bind: true}
      pipe: {type: PAIR, bind: true, transport: ipc}
  sub:
    run: x
    ready: connected
    sockets:
      in: {type: SUB, connect: [pub.out, "tcp://10.1.2.3:7000"]}
      pipe: {type: PAIR, connect: pub.pipe}
"""


def load(tmp_path, text: str):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return load_topology(str(path))


def test_declared_edges_one_per_connecter_and_endpoint(tmp_path):
    topology = load(tmp_path, TOPOLOGY)
    plan = make_plan(topology, "zr-x", PortAllocator(20000, 29999), str(tmp_path))
    edges = declared_edges(plan)
    assert [(e.connecter, e.connecter_socket, e.binder, e.transport) for e in edges] == [
        ("sub.1", "in", "pub.1", "tcp"), ("sub.1", "in", "pub.2", "tcp"), ("sub.1", "in", None, "tcp"),
        ("sub.1", "pipe", "pub.1", "ipc"), ("sub.1", "pipe", "pub.2", "ipc"),
    ]  # fmt: skip
    assert edges[2].port == 7000 and edges[3].path.endswith("pub.1.pipe")


def test_ready_connected_needs_a_connecting_socket(tmp_path):
    assert load(tmp_path, TOPOLOGY).node("sub").ready.when == "connected"  # type: ignore[union-attr]
    with pytest.raises(TopologyError) as err:
        load(tmp_path, "nodes:\n  a:\n    run: x\n    ready: connected\n    sockets:\n      s: {type: PUB, bind: true}\n")
    assert "ready: connected needs a socket that connects" in str(err.value)
    with pytest.raises(TopologyError) as err:
        load(tmp_path, "nodes:\n  a:\n    run: x\n    ready: linked\n")
    assert "connected" in str(err.value)


# ---- the kernel sampler, against real processes ------------------------------------------------

PROGRAM = textwrap.dedent("""
    import sys, time, zmq
    kind, endpoint, mode = sys.argv[1:4]
    s = zmq.Context().socket(getattr(zmq, kind))
    s.linger = 0
    (s.bind if mode == "bind" else s.connect)(endpoint)
    print("up", flush=True)
    for line in sys.stdin:  # one message per line in; keeps going until stdin closes
        s.send(b"x" * 1000) if kind == "PUSH" else print(len(s.recv()), flush=True)
""")


@pytest.fixture
def start() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Starts PROGRAM with the given arguments once it says it is up; kills every one it started
    (by its pid) at the end of the test."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        p = subprocess.Popen([sys.executable, "-c", PROGRAM, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout is not None and p.stdout.readline() == "up\n"
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_kernel_sees_an_edge_of_programs_without_the_helper(tmp_path, transport, start):
    from orchestrator.run.ports import PortAllocator as Ports

    endpoint = f"tcp://127.0.0.1:{Ports(20000, 29999).take()}" if transport == "tcp" else f"ipc://{tmp_path}/e"
    edge = Edge("pull.1", "in", "PULL", endpoint, "push.1", "out", "PUSH")
    pusher = start("PUSH", endpoint, "bind")
    view = KernelView((edge,))
    [obs] = view.sample({"push.1": pusher.pid}, eager=True)
    assert not obs.connected
    puller = start("PULL", endpoint, "connect")
    pids = {"push.1": pusher.pid, "pull.1": puller.pid}
    obs = wait_for(lambda: (o := view.sample(pids, eager=True)[0]).connected and o, 10)
    assert obs.conn
    if transport == "tcp":
        before = obs.to_connecter
        assert pusher.stdin is not None and puller.stdin is not None
        for _ in range(5):
            pusher.stdin.write("go\n")
            pusher.stdin.flush()
            puller.stdin.write("go\n")
            puller.stdin.flush()
        wait_for(lambda: view.sample(pids, eager=True)[0].to_connecter >= before + 5000, 10)
    puller.kill()
    puller.wait()
    wait_for(lambda: not view.sample(pids, eager=True)[0].connected, 10)


def test_kernel_follows_an_edge_that_reconnects_from_a_new_process(tmp_path, start):
    """The connecter restarts (a new process, a new socket, the same edge): once the walk has found
    the new connection, the exact lookups of later samples must follow it, not the old socket."""
    from orchestrator.run.ports import PortAllocator as Ports

    endpoint = f"tcp://127.0.0.1:{Ports(20000, 29999).take()}"
    edge = Edge("pull.1", "in", "PULL", endpoint, "push.1", "out", "PUSH")
    pusher = start("PUSH", endpoint, "bind")
    first = start("PULL", endpoint, "connect")
    view = KernelView((edge,))
    try:
        old = wait_for(lambda: (o := view.sample({"push.1": pusher.pid, "pull.1": first.pid}, 0.0, True)[0]).connected and o, 10)
        first.kill()
        first.wait()
        second = start("PULL", endpoint, "connect")
        pids = {"push.1": pusher.pid, "pull.1": second.pid}
        view.sample(pids, 100.0)  # the processes changed at 100
        new = wait_for(lambda: (o := view.sample(pids, 200.0, True)[0]).connected and o, 10)  # found by a walk
        assert new.conn != old.conn
        # 201: long after the change, before the next walk is due: only the lookups can see it.
        assert [view.sample(pids, 201.0 + i / 10)[0].conn for i in range(3)] == [new.conn] * 3
    finally:
        view.close()


def test_a_quiet_settled_run_skips_the_work_but_not_a_change(tmp_path):
    """Samples that find every edge as it was, up and quiet, leave the states alone and find
    nothing (the cheap path of a quiet run); the first one that differs is folded in and diagnosed."""
    from orchestrator.edges.diagnose import NOT_CONNECTED_AFTER
    from orchestrator.edges.watch import EdgeWatch
    from orchestrator.run.state import Proc

    plan = make_plan(load(tmp_path, TOPOLOGY), "zr-x", PortAllocator(20000, 29999), str(tmp_path))
    procs = [Proc(i) for i in plan.instances]
    for n, p in enumerate(procs):
        p.spawned, p.state, p.started = type("Spawned", (), {"pid": 1000 + n})(), "ready", 0.0  # type: ignore[assignment]
    up = [Observation(True, 10 + i, 100, 100) for i in range(len(declared_edges(plan)))]
    script = [up] * 5 + [[Observation(False)] + up[1:]] * 7
    found = []
    watch = EdgeWatch(plan, found.append, 1.0, kernel=lambda *_: list(script.pop(0)))
    assert watch.edges[0].binder == "pub.1"
    for t in range(1, 6):
        assert watch.tick(procs, float(t))
    states = watch.states
    assert watch.settled and all(st is not None and st.connected for st in states) and not found
    assert watch.last == 5.0
    for t in range(6, 13):
        watch.tick(procs, float(t))
        assert not watch.settled
        assert watch.states[0] is not None and not watch.states[0].connected and watch.states[0].since == 6.0
        assert watch.states[1:] == states[1:]
        assert [f.kind for f in found] == (["not-connected"] if t - 6 >= NOT_CONNECTED_AFTER else [])


# ---- the edges section of --status ---------------------------------------------------------------


@pytest.mark.parametrize("width", [120, 80, 60, 40, 30])
def test_edges_section_fits_the_terminal(width):
    import io

    from rich.console import Console

    from orchestrator.view.status import edges_table

    edges = PUBSUB + PUSHPULL + (Edge("client-with-a-rather-long-name.3", "requests", "REQ", "tcp://127.0.0.1:5002",
                                      "server.1", "replies", "REP"),)  # fmt: skip
    states = [conn(0, 9000, 1234.0), DOWN, None, EdgeState(False, 2.0, connections=2), conn(1.0)]
    console = Console(file=io.StringIO(), width=width)
    console.print(edges_table(edges, states, 9.0, width))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 + len(edges) and max(map(len, lines)) <= width
    assert "up 9s" in lines[1] and "never up" in lines[2] and "down 7s" in lines[4]
    if width >= 80:
        assert "pub.1.out -> a.1.in" in lines[1] and "1.2 kB/s" in lines[1] and "PUB>SUB" in lines[1]
    if width >= 120:
        assert "client-with-a-rather-long-name.3.requests -> server.1.replies" in lines[5]


def test_a_kernel_without_sock_diag_turns_the_watch_off_once(tmp_path):
    from orchestrator.edges.watch import EdgeWatch
    from orchestrator.run.state import Proc

    plan = make_plan(load(tmp_path, TOPOLOGY), "zr-x", PortAllocator(20000, 29999), str(tmp_path))
    found = []

    def refuse(*_):
        raise OSError("EPERM")

    watch = EdgeWatch(plan, found.append, 1.0, kernel=refuse)
    procs = [Proc(i) for i in plan.instances]
    assert not watch.tick(procs, 10.0) and not watch.tick(procs, 20.0)
    watch.spawned(25.0)  # a node (re)started: still not asked again
    assert not watch.tick(procs, 30.0)
    assert [f.kind for f in found] == ["unavailable"] and "sock_diag" in found[0].message


def test_a_sample_follows_soon_after_a_node_starts(tmp_path):
    """At the interval, and SETTLE after a node (re)started, however long the interval."""
    from orchestrator.edges.watch import SETTLE, EdgeWatch
    from orchestrator.run.state import Proc

    plan = make_plan(load(tmp_path, TOPOLOGY), "zr-x", PortAllocator(20000, 29999), str(tmp_path))
    n = len(declared_edges(plan))
    watch = EdgeWatch(plan, lambda _: None, 60.0, kernel=lambda *_: [Observation(False)] * n)
    procs = [Proc(i) for i in plan.instances]
    assert watch.tick(procs, 0.0) and watch.due() == 60.0
    watch.spawned(5.0)
    watch.spawned(7.0)
    assert watch.due() == 5.0 + SETTLE
    assert not watch.tick(procs, 5.0 + SETTLE / 2) and watch.tick(procs, 5.0 + SETTLE)
    assert watch.due() == 5.0 + SETTLE + 60.0  # the first start's sample saw the second's too
