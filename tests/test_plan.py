"""Planning is pure: ports, endpoints, argv placeholders, env, and start order."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

from orchestrator.run.plan import make_plan
from orchestrator.run.ports import PortAllocator
from orchestrator.topology.loader import load_text
from orchestrator.topology.parse import parse


def plan_of(text: str, free=lambda port: True):
    doc = load_text(textwrap.dedent(text), "/tmp/t.yaml")
    topology, problems = parse(doc)
    assert problems == []
    allocator = PortAllocator(*topology.port_range, is_free=free, rng=random.Random(7))
    return make_plan(topology, "zr-test", allocator, "/tmp/rundir", python="/venv/bin/python", base_env={"PATH": "/usr/bin"})


PIPELINE = """\
nodes:
  ventilator:
    run: python -m v {tasks.port}
    sockets:
      tasks: {type: PUSH, bind: true}
  worker:
    replicas: 2
    run: python -m w {tasks.endpoint} {node}.{replica}
    sockets:
      tasks: {type: PULL, connect: ventilator.tasks}
      results: {type: PUSH, connect: sink.results}
  sink:
    run: python -m s
    sockets:
      results: {type: PULL, bind: 5558}
"""


def test_receivers_start_before_senders():
    plan = plan_of(PIPELINE)
    assert plan.waves == (("sink",), ("worker",), ("ventilator",))
    assert dict(plan.after)["ventilator"] == (("worker", "process_ready"),)


def test_ports_endpoints_and_placeholders():
    plan = plan_of(PIPELINE)
    vent, w1, w2, sink = plan.instances
    port = vent.sockets[0].ports[0]
    assert 20000 <= port <= 29999
    assert vent.argv == ("python", "-m", "v", str(port))
    assert w1.argv == ("python", "-m", "w", f"tcp://127.0.0.1:{port}", "worker.1")
    assert w2.label == "worker.2"
    assert sink.sockets[0].endpoints == ("tcp://127.0.0.1:5558",)
    assert plan.ports == tuple(sorted((port, 5558)))
    assert vent.sockets[0].peers == 2 and sink.sockets[0].peers == 2


def test_environment_for_new_programs():
    plan = plan_of(PIPELINE)
    env = dict(plan.instances[1].env)
    assert env["ZMQRUN_RUN_ID"] == "zr-test"
    assert env["ZMQRUN_NODE"] == "worker" and env["ZMQRUN_REPLICA"] == "1"
    assert env["ZMQRUN_SOCKET_RESULTS_ENDPOINT"] == "tcp://127.0.0.1:5558"
    assert env["ZMQRUN_SOCKET_RESULTS_MODE"] == "connect"
    assert "PYTHONUNBUFFERED" not in env  # the default, line buffering, comes from a pseudo-terminal
    assert env["PATH"].split(":")[0] == "/venv/bin"
    spec = json.loads(env["ZMQRUN_SOCKETS"])
    assert spec["tasks"]["type"] == "PULL" and spec["tasks"]["bind"] is False


def test_buffering_defaults_never_override_the_topology_env():
    plan = plan_of("""\
    buffering: unbuffered
    nodes:
      a: {run: a}
      b: {run: b, env: {PYTHONUNBUFFERED: ""}}
      c: {run: c, buffering: full}
      d: {run: d, buffering: line, env: {PYTHONUNBUFFERED: "1"}}
    """)
    got = {i.node.name: (i.node.buffering, dict(i.env).get("PYTHONUNBUFFERED")) for i in plan.instances}
    assert got == {"a": ("unbuffered", "1"), "b": ("unbuffered", ""), "c": ("full", None), "d": ("line", "1")}


def test_one_word_per_peer():
    plan = plan_of("""\
    nodes:
      pub:
        replicas: 2
        run: python3 pub_server.py {out.port}
        sockets:
          out: {type: PUB, bind: true}
      sub:
        run: python3 pub_client.py {feed.ports}
        sockets:
          feed: {type: SUB, connect: pub.out}
    """)
    p1, p2, sub = plan.instances
    assert sub.argv == ("python3", "pub_client.py", str(p1.sockets[0].ports[0]), str(p2.sockets[0].ports[0]))
    assert p1.sockets[0].ports != p2.sockets[0].ports


def test_ports_are_never_handed_out_twice_and_busy_ones_are_skipped():
    busy = set(range(20000, 29999, 2))
    text = "nodes:\n" + "".join(f"  n{i}:\n    run: x\n    sockets:\n      s: {{type: PUB, bind: true}}\n" for i in range(50))
    plan = plan_of(text, free=lambda port: port not in busy)
    ports = [p for i in plan.instances for p in i.listen_ports]
    assert len(set(ports)) == 50 and not busy & set(ports)


def test_shell_commands_quote_values():
    plan = plan_of("nodes:\n  a:\n    shell: true\n    run: echo {node} | cat\n")
    assert plan.instances[0].argv == ("/bin/sh", "-c", "echo a | cat")


def test_ipc_transport_and_literal_endpoints():
    plan = plan_of("""\
    nodes:
      a:
        run: x {s.endpoint}
        sockets:
          s: {type: PULL, bind: true, transport: ipc}
      b:
        run: y
        sockets:
          t: {type: PUSH, connect: [a.s, 'tcp://127.0.0.1:5999']}
    """)
    a, b = plan.instances
    assert a.argv[1] == "ipc:///tmp/rundir/a.1.s"
    assert b.sockets[0].endpoints == ("ipc:///tmp/rundir/a.1.s", "tcp://127.0.0.1:5999")
    assert a.ipc_paths == ("/tmp/rundir/a.1.s",)


def test_request_reply_cycle_is_broken_deterministically():
    plan = plan_of("""\
    nodes:
      client:
        run: c
        sockets:
          req: {type: REQ, connect: server.rep}
          sub: {type: SUB, connect: server.pub}
      server:
        run: s
        sockets:
          rep: {type: REP, bind: true}
          pub: {type: PUB, bind: true}
    """)
    assert [n for wave in plan.waves for n in wave] in (["client", "server"], ["server", "client"])
    assert Path("/tmp/t.yaml").name == "t.yaml"


def test_generated_ipc_paths_always_fit_sun_path_and_never_collide():
    long_a, long_b = "a" + "x" * 62, "s" + "y" * 62  # the longest legal node and socket names
    text = f"""\
    nodes:
      {long_a}:
        run: x
        replicas: 3
        sockets:
          {long_b}: {{type: PULL, bind: true, transport: ipc}}
          short: {{type: PULL, bind: true, transport: ipc}}
    """
    doc = load_text(textwrap.dedent(text), "/tmp/t.yaml")
    topology, problems = parse(doc)
    assert problems == []
    rundir = "/tmp/zmqrun-zr-0123456789"
    plan = make_plan(topology, "zr-test", PortAllocator(20000, 20010), rundir, base_env={})
    paths = [p for i in plan.instances for p in i.ipc_paths]
    assert len(paths) == 6 == len(set(paths))
    assert all(len(p.encode()) <= 107 for p in paths), paths
    assert f"{rundir}/{long_a}.1.short" in paths  # readable where it fits


def test_running_out_of_automatic_ports_is_a_validation_error():
    from orchestrator.errors import ExitStatus, PortRangeError

    allocator = PortAllocator(20000, 20001, is_free=lambda port: False)
    try:
        allocator.take()
    except PortRangeError as exc:
        assert exc.status == ExitStatus.INVALID and "20000-20001" in str(exc)
    else:
        raise AssertionError("no error")
