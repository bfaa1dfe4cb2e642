"""CURVE security, the pure parts: the file format, which edges use CURVE, the keys each
instance is handed, key files, redaction and the handshake reports."""

from __future__ import annotations

import json
import os
import random
import textwrap

import pytest
import zmq

from orchestrator.errors import SecurityError
from orchestrator.run.plan import make_plan
from orchestrator.run.ports import PortAllocator
from orchestrator.security import handshake, policy, store
from orchestrator.security.keys import Keyring
from orchestrator.security.redact import REDACTED, redact, spellings
from orchestrator.topology.loader import load_text
from orchestrator.topology.parse import parse
from orchestrator.topology.validate import check


def parsed(text: str):
    doc = load_text(textwrap.dedent(text), "/tmp/t.yaml")
    topology, problems = parse(doc)
    return topology, [str(p) for p in problems + check(topology, doc)]


PIPELINE = """\
security: curve
nodes:
  ventilator:
    run: v
    sockets:
      tasks: {type: PUSH, bind: true}
  worker:
    replicas: 2
    run: w
    sockets:
      tasks: {type: PULL, connect: ventilator.tasks}
      results: {type: PUSH, connect: sink.results}
  sink:
    run: s
    sockets:
      results: {type: PULL, bind: true}
  plain:
    run: p
    sockets:
      log: {type: PULL, bind: true, security: none}
  logger:
    run: l
    sockets:
      out: {type: PUSH, connect: plain.log}
"""


def test_security_is_read_at_the_top_and_per_socket():
    topology, problems = parsed(PIPELINE)
    assert problems == []
    assert topology.security == "curve"
    assert topology.node("plain").socket("log").security == "none"
    assert topology.node("worker").socket("tasks").security is None


def test_unknown_mechanisms_are_refused_with_their_paths():
    _, problems = parsed("""\
        security: tls
        nodes:
          a: {run: x, sockets: {s: {type: PULL, bind: true, security: plain}}}
        """)
    assert any("/tmp/t.yaml:1 security: expected curve or none, got 'tls'" in p for p in problems), problems
    assert any("nodes.a.sockets.s.security: expected curve or none, got 'plain'" in p for p in problems), problems


def test_a_binder_decides_its_edges_and_a_connector_follows():
    topology, _ = parsed(PIPELINE)
    sec = {(n.name, s.name): policy.socket_security(topology, n, s) for n in topology.nodes for s in n.sockets}
    assert sec[("ventilator", "tasks")] == sec[("worker", "tasks")] == sec[("sink", "results")] == "curve"
    # the exempted binder takes its unmarked connector with it
    assert sec[("plain", "log")] == sec[("logger", "out")] == "none"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """\
            nodes:
              a: {run: x, sockets: {s: {type: PULL, bind: true, security: curve}}}
              b: {run: x, sockets: {s: {type: PUSH, connect: a.s, security: none}}}
         """,
            "nodes.b.sockets.s.security: security: none here, but a.s uses curve; both ends of an edge use the same mechanism",
        ),
        (
            """\
            nodes:
              a: {run: x, sockets: {s: {type: PULL, bind: true, security: curve}}}
              c: {run: x, sockets: {s: {type: PULL, bind: true}}}
              b: {run: x, sockets: {s: {type: PUSH, connect: [a.s, c.s]}}}
         """,
            "nodes.b.sockets.s.connect: reaches sockets with different security (a.s: curve, c.s: none)",
        ),
        (
            """\
            security: curve
            nodes:
              b: {run: x, sockets: {s: {type: PUSH, connect: 'tcp://127.0.0.1:5999'}}}
         """,
            "nodes.b.sockets.s.connect: tcp://127.0.0.1:5999 is a literal endpoint: zmqrun knows no CURVE server key",
        ),
        (
            """\
            security: curve
            nodes:
              b: {run: x, sockets: {s: {type: STREAM, bind: true}}}
         """,
            "nodes.b.sockets.s.type: a STREAM socket speaks raw TCP",
        ),
    ],
    ids=["explicit-mismatch", "mixed-peers", "literal-endpoint", "stream"],
)
def test_edges_that_cannot_be_secured_are_refused(text, expected):
    _, problems = parsed(text)
    assert any(expected in p for p in problems), problems


def test_exemptions_make_those_edges_valid():
    _, problems = parsed("""\
        security: curve
        nodes:
          b: {run: x, sockets: {s: {type: PUSH, connect: 'tcp://127.0.0.1:5999', security: none}}}
          r: {run: x, sockets: {s: {type: STREAM, bind: true, security: none}}}
        """)
    assert problems == []


def test_curve_is_refused_when_libzmq_lacks_it(monkeypatch):
    monkeypatch.setattr(zmq, "has", lambda what: what != "curve")
    _, problems = parsed(PIPELINE)
    assert any("t.yaml:1 security: CURVE needs a libzmq built with it" in p and "zmq.has('curve') is false" in p
               for p in problems), problems  # fmt: skip
    _, plain = parsed(PIPELINE.replace("security: curve\n", ""))
    assert plain == []  # nothing asks for CURVE: nothing to refuse


def test_old_libzmq_is_warned_about(monkeypatch):
    topology, _ = parsed(PIPELINE)
    assert policy.warnings(topology) == []  # this machine's libzmq is recent
    monkeypatch.setattr(zmq, "zmq_version_info", lambda: (4, 3, 1))
    monkeypatch.setattr(zmq, "zmq_version", lambda: "4.3.1")
    (warning,) = policy.warnings(topology)
    assert "libzmq 4.3.1 is older than 4.3.2" in warning and "CVE-2019-13132" in warning
    plain, _ = parsed(PIPELINE.replace("security: curve\n", ""))
    assert policy.warnings(plain) == []


def plan_of(text: str):
    topology, problems = parsed(text)
    assert problems == []
    allocator = PortAllocator(*topology.port_range, is_free=lambda port: True, rng=random.Random(7))
    return make_plan(topology, "zr-test", allocator, "/tmp/rundir", python="/py", base_env={"PATH": "/usr/bin"})


def test_each_instance_gets_its_own_pair_and_its_peers_public_keys_only():
    plan = plan_of(PIPELINE)
    keys = plan.keys
    assert keys is not None and keys.directory == "/tmp/rundir/keys"
    env = {i.label: dict(i.env) for i in plan.instances}
    pub = {label: keys.public(label) for label in ("ventilator.1", "worker.1", "worker.2", "sink.1")}
    assert set(keys.pairs) == set(pub)  # the plain edge's instances get no keys at all
    for label in ("plain.1", "logger.1"):
        assert not any(k.startswith("ZMQRUN_CURVE") or k.endswith("_SECURITY") for k in env[label])
    w1 = env["worker.1"]
    assert w1["ZMQRUN_CURVE_PUBLICKEY"] == pub["worker.1"]
    assert w1["ZMQRUN_CURVE_SECRETKEY_FILE"] == "/tmp/rundir/keys/worker.1.key"
    assert w1["ZMQRUN_SOCKET_TASKS_SERVERKEY"] == pub["ventilator.1"]
    assert w1["ZMQRUN_SOCKET_RESULTS_SERVERKEYS"] == pub["sink.1"]
    assert w1["ZMQRUN_SOCKET_TASKS_SECURITY"] == "curve"
    spec = json.loads(w1["ZMQRUN_SOCKETS"])
    assert spec["tasks"]["serverkeys"] == [pub["ventilator.1"]] and spec["tasks"]["security"] == "curve"
    sink = env["sink.1"]
    assert sink["ZMQRUN_SOCKET_RESULTS_CLIENTKEYS"].split() == [pub["worker.1"], pub["worker.2"]]
    assert json.loads(sink["ZMQRUN_SOCKETS"])["results"]["clientkeys"] == [pub["worker.1"], pub["worker.2"]]
    # no secret key anywhere in any environment: only the path of the instance's own file
    secrets = [p.secret for p in keys.pairs.values()]
    for e in env.values():
        blob = "\n".join(f"{k}={v}" for k, v in e.items())
        assert not any(s in blob for s in secrets)
        assert sum(k == "ZMQRUN_CURVE_SECRETKEY_FILE" for k in e) <= 1
    assert "secret" not in repr(keys.pairs["sink.1"]).replace("secret=<redacted>", "")
    assert not any(s in repr(keys) + repr(list(keys.pairs.values())) for s in secrets)


def test_connectors_get_one_server_key_per_endpoint_in_order():
    plan = plan_of("""\
        security: curve
        nodes:
          pub: {replicas: 3, run: p, sockets: {out: {type: PUB, bind: true}}}
          sub: {run: s, sockets: {feed: {type: SUB, connect: pub.out}}}
        """)
    sub = next(i for i in plan.instances if i.node.name == "sub")
    binding = sub.sockets[0]
    assert binding.keys == tuple(plan.keys.public(f"pub.{r}") for r in (1, 2, 3))
    owners = {i.sockets[0].endpoints[0]: i.label for i in plan.instances if i.node.name == "pub"}
    assert [owners[e] for e in binding.endpoints] == ["pub.1", "pub.2", "pub.3"]


def test_key_files_are_private_and_read_back_only_when_private(tmp_path):
    keys = Keyring(str(tmp_path / "keys"))
    pair = keys.pair("a.1")
    store.write(keys)
    path = keys.secret_file("a.1")
    assert os.stat(tmp_path / "keys").st_mode & 0o777 == 0o700
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert store.read_secret(path) == pair.secret.encode()
    with pytest.raises(FileExistsError):
        store.write(keys)  # never reuses a directory somebody prepared
    os.chmod(path, 0o640)
    with pytest.raises(SecurityError) as group:
        store.read_secret(path)
    assert "open to group or others (mode 0640)" in str(group.value) and pair.secret not in str(group.value)
    os.chmod(path, 0o604)
    with pytest.raises(SecurityError):
        store.read_secret(path)
    os.chmod(path, 0o600)
    os.chmod(tmp_path / "keys", 0o750)
    with pytest.raises(SecurityError) as directory:
        store.read_secret(path)
    assert "key directory" in str(directory.value)


def test_the_helper_refuses_a_key_file_open_to_others(tmp_path):
    from orchestrator.node import Node

    keys = Keyring(str(tmp_path / "keys"))
    keys.pair("a.1")
    store.write(keys)
    os.chmod(keys.secret_file("a.1"), 0o644)
    env = {
        "ZMQRUN_SOCKETS": json.dumps({"s": {"type": "PULL", "bind": True, "endpoints": ["tcp://127.0.0.1:0"],
                                            "security": "curve", "clientkeys": []}}),
        "ZMQRUN_CURVE_PUBLICKEY": keys.public("a.1"),
        "ZMQRUN_CURVE_SECRETKEY_FILE": keys.secret_file("a.1"),
    }  # fmt: skip
    with Node(environ=env) as node, pytest.raises(SecurityError) as refused:
        node.socket("s")
    assert "mode 0644" in str(refused.value) and keys.pairs["a.1"].secret not in str(refused.value)


def test_redaction_covers_the_usual_spellings_of_a_secret():
    public, secret = (k.decode() for k in zmq.curve_keypair())
    forms = spellings(secret)
    assert len(set(forms)) == 4
    lines = [f"key {form} end" for form in forms] + ["nothing here", f"public {public}"]
    out = redact(lines, secret)
    assert out[:4] == [f"key {REDACTED} end"] * 4
    assert out[4:] == ["nothing here", f"public {public}"]
    assert redact(["a", "b"], secret) == ["a", "b"]


def test_handshake_reports_round_trip_and_junk_is_ignored():
    failure = handshake.Failure(
        "results", handshake.FAILED_PROTOCOL, handshake.ERR_MECHANISM_MISMATCH, 3, "tcp://127.0.0.1:5"
    )
    assert handshake.decode(handshake.encode(failure).decode()) == failure
    text = handshake.describe("sink.1", failure)
    assert text.startswith("handshake failed on sink.1 results (tcp://127.0.0.1:5): the peer does not speak CURVE")
    assert "(3 times since the last report)" in text
    for junk in ("ready", "handshake-failed", "handshake-failed x 1 2 3", "handshake-failed 1bad 1 2 3 e",
                 "handshake-failed s 1 2 3 " + "e" * 400):  # fmt: skip
        assert handshake.decode(junk) is None
    assert "wrong server key" in handshake.reason(handshake.FAILED_PROTOCOL, handshake.ERR_CRYPTOGRAPHIC)
    assert "not one of this run's" in handshake.reason(handshake.FAILED_AUTH, 400)
    assert "broke off the handshake (Broken pipe)" in handshake.reason(handshake.FAILED_NO_DETAIL, 32)


def test_a_retrying_peer_is_reported_at_once_then_at_most_every_few_seconds():
    t = handshake.Throttle(every=5.0)
    key = ("s", handshake.FAILED_AUTH, 400)
    assert t.count(key, 100.0) == 1
    assert [t.count(key, 100.0 + i / 10) for i in range(1, 10)] == [0] * 9
    assert t.count(key, 105.0) == 10  # nine held back, and this one
    assert t.count(("other", handshake.FAILED_AUTH, 400), 105.1) == 1  # each socket and kind on its own


def test_a_kubernetes_secret_volume_cannot_be_read_in_place_by_the_helper(tmp_path):
    """Why the export's key mapping must copy the mounted key into a private directory before the
    node starts (README, Encrypted edges, Across hosts): the kubelet's secret volume is a 1777
    directory whose entries are symlinks through `..data` to a timestamped directory, and a
    subPath mount lands in a directory the runtime makes 0755. The helper refuses both, and
    accepts the same key once copied 0600 into a 0700 directory of the container's own."""
    keys = Keyring(str(tmp_path / "run"))
    pair = keys.pair("sink.1")
    volume = tmp_path / "volume"
    stamped = volume / "..2026_11_25_23_00_00.000000001"
    stamped.mkdir(parents=True)
    (stamped / "sink.1.key").write_text(pair.secret + "\n")
    os.chmod(stamped / "sink.1.key", 0o400)  # defaultMode: 0400
    os.symlink(stamped.name, volume / "..data")
    os.symlink("..data/sink.1.key", volume / "sink.1.key")
    os.chmod(volume, 0o1777)
    with pytest.raises(SecurityError) as mounted:
        store.read_secret(str(volume / "sink.1.key"))
    assert "key directory" in str(mounted.value) and "1777" in str(mounted.value)
    os.chmod(volume, 0o700)  # even were the directory private, the entry is a symlink
    with pytest.raises(SecurityError) as linked:
        store.read_secret(str(volume / "sink.1.key"))
    assert "cannot read key file" in str(linked.value)
    sub = tmp_path / "subpath"  # subPath: the file itself, in a directory the runtime made
    sub.mkdir(mode=0o755)
    os.chmod(sub, 0o755)
    (sub / "key").write_text(pair.secret + "\n")
    os.chmod(sub / "key", 0o400)
    with pytest.raises(SecurityError) as subpath:
        store.read_secret(str(sub / "key"))
    assert "key directory" in str(subpath.value)
    for refused in (mounted, linked, subpath):
        assert pair.secret not in str(refused.value)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    fd = os.open(private / "key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(volume / "sink.1.key", "rb") as source:
        os.write(fd, source.read())
    os.close(fd)
    assert store.read_secret(str(private / "key")) == pair.secret.encode()
