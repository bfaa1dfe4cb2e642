"""The proof across hosts: the Kubernetes export of shipped topologies, every pod in its own
network namespace with its own address, names resolved as cluster DNS would, still meets the
topology's expect block. Needs root (CI runs as root); skips with the reason otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from netns_cluster import Cluster, Pod, netns_unavailable

from orchestrator.commands.export import export_documents
from orchestrator.run.expect import Expectations
from orchestrator.topology.validate import load_topology

REASON = netns_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        c.close()


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    "name,security",
    [("pipeline", "none"), ("pubsub", "none"), ("broker", "none"), ("queue-broker", "none"),
     ("pipeline", "curve"), ("pubsub", "curve")],
)  # fmt: skip
def test_kubernetes_export_meets_expect_across_namespaces(
    name: str, security: str, cluster: Cluster, tmp_path: Path
) -> None:
    """With curve, each pod's keys come from its node's Secret (written by --secrets-out),
    mounted as the kubelet lays a secret volume out; the manifests themselves hold no key."""
    file = str(ROOT / "topologies" / f"{name}.yaml")
    if security == "curve":
        file = str(tmp_path / f"{name}.yaml")
        Path(file).write_text("security: curve\n" + (ROOT / "topologies" / f"{name}.yaml").read_text())
    topology = load_topology(file)
    assert topology.expect is not None
    secrets: list[dict[str, Any]] = []
    docs, _ = export_documents(file, "kubernetes", image="zmqrun:test", secrets=secrets)
    assert len(secrets) == (len(topology.nodes) if security == "curve" else 0)
    all_pods = cluster.run(docs, secrets)
    # Every pod has an address of its own: nothing is on a shared loopback any more.
    assert len({ns for ns in cluster.namespaces}) == len(all_pods) >= len(topology.nodes)
    expectations = Expectations(topology.expect, timeout=(topology.expect.timeout or 30) * 2)
    counts = {n.name: n.replicas for n in topology.nodes}
    expectations.set_replicas(counts)
    replica_of = {pod.name: i + 1 for node in counts for i, pod in
                  enumerate(p for p in all_pods if _node(p) == node)}  # fmt: skip
    exited: set[int] = set()
    transcript: list[str] = []
    verdict = None
    while verdict is None:
        for pod, line in cluster.take_lines():
            transcript.append(f"{pod.name}: {line}")
            expectations.line(_node(pod), line)
        for pod, proc in zip(reversed(all_pods), cluster.procs):
            if proc.pid not in exited and proc.poll() is not None:
                exited.add(proc.pid)
                cluster.readers[proc.pid].join(timeout=10)  # its last lines come before its exit
                for p, line in cluster.take_lines():
                    transcript.append(f"{p.name}: {line}")
                    expectations.line(_node(p), line)
                expectations.exited(_node(pod), replica_of[pod.name], proc.returncode, stopped=False)
        verdict = expectations.verdict(time.monotonic(), finished=len(exited) == len(all_pods))
        time.sleep(0.05)
    ok, message = verdict
    assert ok, message + "\n" + "\n".join(transcript[-60:])


def _node(pod: Pod) -> str:
    """The topology's node name (Kubernetes names may differ: `second_client` is `second-client`)."""
    env = {e["name"]: e.get("value") for e in pod.container["env"]}
    return str(env["ZMQRUN_NODE"])


# ---- the libzmq facts the mapping rests on, re-checked across namespaces ---------------------

RECEIVER = """
import sys, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.PULL); s.bind("tcp://*:5555")
print("bound", flush=True)
got = 0
s.rcvtimeo = int(float(sys.argv[1]) * 1000)  # the whole wait for the first message
try:
    while True:
        s.recv(); got += 1; s.rcvtimeo = 1500  # then: the sender is done once it goes quiet
except zmq.Again:
    pass
print("received", got, flush=True)
"""
SENDER = """
import sys, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.PUSH); s.linger = 10000
s.connect(sys.argv[1])
print("connected", flush=True)
for i in range(int(sys.argv[2])):
    s.send(b"%d" % i)
s.close(); ctx.term()
"""


def _script(name: str, code: str, *args: str) -> Pod:
    return Pod(name, {}, {}, None, {"command": [sys.executable, "-c", code, *args], "env": []})


def _lines(cluster: Cluster, want: int, timeout: float) -> dict[str, list[str]]:
    """Output lines by pod name, once `want` lines in all have come (or the deadline passes)."""
    seen: dict[str, list[str]] = {}
    deadline = time.monotonic() + timeout
    while sum(map(len, seen.values())) < want and time.monotonic() < deadline:
        for pod, line in cluster.take_lines():
            seen.setdefault(pod.name, []).append(line)
        time.sleep(0.02)
    return seen


def _hosts(ns: str, text: str) -> None:
    etc = Path("/etc/netns") / ns
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hosts").write_text(text)


@pytest.mark.timeout(60)
def test_libzmq_sends_everything_to_the_first_address_of_a_name(cluster: Cluster) -> None:
    """Why a binder with replicas is reached pod by pod: one name with two addresses is one peer."""
    (ns_a, ip_a), (ns_b, ip_b), (ns_s, _) = cluster.add(0), cluster.add(1), cluster.add(2)
    for ns in (ns_a, ns_b, ns_s):
        _hosts(ns, f"127.0.0.1 localhost\n{ip_a} many\n{ip_b} many\n")
    cluster.start(_script("a", RECEIVER, "10"), ns_a)
    cluster.start(_script("b", RECEIVER, "10"), ns_b)
    assert len(_lines(cluster, 2, 15)) == 2  # both bound
    cluster.start(_script("s", SENDER, "tcp://many:5555", "30"), ns_s)
    seen = _lines(cluster, 3, 40)
    counts = sorted(int(lines[-1].split()[1]) for name, lines in seen.items() if name in ("a", "b"))
    assert counts == [0, 30], seen


@pytest.mark.timeout(60)
def test_libzmq_connects_to_a_name_that_resolves_only_later(cluster: Cluster) -> None:
    """Why no "wait for DNS" init step: the connect is accepted and the name is tried again."""
    (ns_r, ip_r), (ns_s, _) = cluster.add(0), cluster.add(1)
    _hosts(ns_r, "127.0.0.1 localhost\n")
    _hosts(ns_s, "127.0.0.1 localhost\n")
    cluster.start(_script("s", SENDER, "tcp://late:5555", "5"), ns_s)
    assert _lines(cluster, 1, 15).get("s") == ["connected"]  # `late` does not resolve, yet it connects
    cluster.start(_script("r", RECEIVER, "30"), ns_r)
    assert _lines(cluster, 1, 15).get("r") == ["bound"]
    (Path("/etc/netns") / ns_s / "hosts").write_text(f"127.0.0.1 localhost\n{ip_r} late\n")  # the name appears
    assert _lines(cluster, 1, 40).get("r") == ["received 5"]
