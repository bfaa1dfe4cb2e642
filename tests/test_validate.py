"""Cross-checks: one bad topology per rule, each asserting its message and location."""

from __future__ import annotations

import textwrap

import pytest

from orchestrator.run.ports import Holder
from orchestrator.topology.loader import load_text
from orchestrator.topology.parse import parse
from orchestrator.topology.validate import check


def problems_of(text: str, holder_of=None) -> list[str]:
    doc = load_text(textwrap.dedent(text), "t.yaml")
    topology, problems = parse(doc)
    assert problems == [], problems
    return [str(p) for p in check(topology, doc, holder_of)]


BASE = """\
nodes:
  a:
    run: x
    sockets:
      out: {type: PUSH, bind: true}
"""


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("  b:\n    run: y\n    sockets:\n      i: {type: PULL, connect: c.out}\n",
         "t.yaml:9 nodes.b.sockets.i.connect: connects to c.out, but there is no node 'c'"),
        ("  b:\n    run: y\n    sockets:\n      i: {type: PULL, connect: a.nope}\n",
         "nodes.b.sockets.i.connect: connects to a.nope, but a has no socket 'nope' (it has: out)"),
        ("  b:\n    run: y\n    sockets:\n      i: {type: SUB, connect: a.out}\n",
         "t.yaml:9 nodes.b.sockets.i.type: SUB cannot talk to PUSH (b.i -> a.out)"),
        ("  b:\n    run: y\n    sockets:\n      i: {type: PULL, connect: a.out}\n      j: {type: PULL, connect: b.i}\n",
         "connects to b.i, which connects too"),
        ("  b:\n    run: y\n    sockets:\n      p: {type: PULL, bind: 25001}\n  c:\n    run: z\n    sockets:\n      q: {type: PULL, bind: 25001}\n",
         "t.yaml:13 nodes.c.sockets.q.bind: port 25001 is already bound by b.p"),
        ("  b:\n    run: y\n    replicas: 2\n    sockets:\n      p: {type: PULL, bind: 25002}\n",
         "nodes.b.sockets.p.bind: fixed port 25002 cannot be bound by 2 replicas"),
        ("  b:\n    run: y\n    depends_on: [c]\n  c:\n    run: z\n    depends_on: b\n",
         "depends_on cycle: b -> c -> b"),
        ("  b:\n    run: y\n    depends_on: [zz]\n", "nodes.b.depends_on: depends on 'zz', but there is no such node"),
        ("  b:\n    run: y {out.port}\n", "nodes.b.run: placeholder {out.port}: no socket 'out' on this node"),
        ("  b:\n    run: y {nope}\n", "nodes.b.run: unknown placeholder {nope}"),
        ("  b:\n    run: y --peers={i.ports}\n    sockets:\n      i: {type: PULL, connect: a.out}\n",
         "placeholder {i.ports} expands to one word per peer, so it must stand alone"),
        ("  b:\n    run: y {i.size}\n    sockets:\n      i: {type: PULL, connect: a.out}\n",
         "placeholder {i.size}: expected .port, .ports, .endpoint, .endpoints or .host"),
        ("  b:\n    run: y\n    stdin: inherit\n  c:\n    run: z\n    stdin: inherit\n",
         "nodes.c.stdin: only one node can have the terminal; b has it already"),
        ("expect:\n  exit: {ghost: 0}\n", "expect.exit.ghost: no node named 'ghost'"),
        ("ports: 40000-41000\n", "overlaps the kernel's ephemeral range"),
    ],
)
def test_each_rule(extra, expected):
    found = problems_of(BASE + extra)
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    "a, b",
    [("PAIR", "PAIR"), ("PUB", "SUB"), ("XPUB", "SUB"), ("PUB", "XSUB"), ("REQ", "REP"), ("REQ", "ROUTER"),
     ("DEALER", "REP"), ("DEALER", "ROUTER"), ("DEALER", "DEALER"), ("ROUTER", "ROUTER"), ("PUSH", "PULL")],
)
def test_every_pair_libzmq_accepts_is_accepted_both_ways(a, b):
    for binder, connector in ((a, b), (b, a)):
        text = f"nodes:\n  x:\n    run: x\n    sockets:\n      s: {{type: {binder}, bind: true}}\n" \
               f"  y:\n    run: y\n    sockets:\n      s: {{type: {connector}, connect: x.s}}\n"
        assert problems_of(text) == []


@pytest.mark.parametrize("a, b", [("PUSH", "PUSH"), ("REQ", "REQ"), ("PUB", "PULL"), ("PAIR", "REP"), ("SUB", "SUB")])
def test_wrong_pairs_are_refused(a, b):
    text = f"nodes:\n  x:\n    run: x\n    sockets:\n      s: {{type: {a}, bind: true}}\n" \
           f"  y:\n    run: y\n    sockets:\n      s: {{type: {b}, connect: x.s}}\n"
    assert any("cannot talk to" in p for p in problems_of(text))


def test_fixed_port_held_names_the_holder():
    holder = Holder(4242, "alice", "python3 other.py", "LISTEN")
    text = "nodes:\n  a:\n    run: x\n    sockets:\n      s: {type: REP, bind: 25555}\n"
    found = problems_of(text, holder_of=lambda port: [holder] if port == 25555 else [])
    assert found == ["t.yaml:5 nodes.a.sockets.s.bind: port 25555 is already in use by pid 4242 (alice): python3 other.py [LISTEN]"]


def test_a_client_connection_on_the_port_is_not_a_holder():
    client = Holder(99, "bob", "curl", "ESTABLISHED")
    text = "nodes:\n  a:\n    run: x\n    sockets:\n      s: {type: REP, bind: 25555}\n"
    assert problems_of(text, holder_of=lambda port: [client]) == []


@pytest.mark.parametrize(
    "extra, expected",
    [
        (("  sink:\n    run: y\n    sockets:\n      i: {type: PUSH, bind: true}\n"
          "  b:\n    run: y\n    sockets:\n      o: {type: PULL, connect: snik.i}\n"),
         "connects to snik.i, but there is no node 'snik' (did you mean 'sink'?)"),
        ("  bee:\n    run: y\n    depends_on: [be]\n", "depends on 'be', but there is no such node (did you mean 'bee'?)"),
        ("  b:\n    run: y\n    sockets:\n      i: {type: PULL, connect: a.outt}\n",
         "connects to a.outt, but a has no socket 'outt' (did you mean 'out'?) (it has: out)"),
        ("  sink:\n    run: y\nexpect:\n  exit: {sinc: 0}\n", "expect.exit.sinc: no node named 'sinc' (did you mean 'sink'?)"),
        ("  sink:\n    run: y\nexpect:\n  output: {snik: x}\n", "expect.output.snik: no node named 'snik' (did you mean 'sink'?)"),
        ("  sink:\n    run: y\nexpect:\n  absent: {snik: x}\n", "expect.absent.snik: no node named 'snik' (did you mean 'sink'?)"),
    ],
)  # fmt: skip
def test_a_mistyped_node_name_gets_a_did_you_mean(extra, expected):
    assert any(expected in p for p in problems_of(BASE + extra)), problems_of(BASE + extra)


def test_a_missing_cwd_is_a_missing_directory(tmp_path):
    here = lambda port: []  # noqa: E731  (validating for a run on this machine)
    found = problems_of(BASE + f"    cwd: {tmp_path}/gone\n", here)
    assert found == [f"t.yaml:6 nodes.a.cwd: directory {tmp_path}/gone does not exist"]
    assert problems_of(BASE + f"    cwd: {tmp_path}\n", here) == []
    assert problems_of(BASE + f"    cwd: {tmp_path}/gone\n") == []  # graph, config, export: not this machine's business


def test_an_ipc_path_longer_than_sun_path_is_refused_with_socket_and_length():
    long_path = "/tmp/" + "p" * 103  # 108 bytes: one too many
    text = BASE + f"  b:\n    run: y\n    sockets:\n      inp: {{type: PULL, connect: 'ipc://{long_path}'}}\n"
    found = problems_of(text)
    assert any("b.inp: the ipc path is 108 bytes; the kernel allows at most 107" in p for p in found), found
    assert problems_of(text.replace("p" * 103, "p" * 102)) == []


def test_exit_code_from_and_examples_get_a_did_you_mean_too(zmqrun):
    path = zmqrun.write("nodes:\n  sink:\n    run: python3 -c pass\n")
    result = zmqrun.run("--exit-code-from", "snik", str(path))
    assert result.returncode == 2 and "--exit-code-from: no node named 'snik' (did you mean 'sink'?)" in result.stderr
    result = zmqrun.run("examples", "pipline")
    assert result.returncode == 1 and "no example named 'pipline' (did you mean 'pipeline'?)" in result.stderr
