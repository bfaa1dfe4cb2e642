"""The proof across hosts: the Kubernetes export of shipped topologies, every pod in its own
network namespace with its own address, names resolved as cluster DNS would, still meets the
topology's expect block. Needs root (CI runs as root); skips with the reason otherwise."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from netns_cluster import Cluster, Pod, netns_unavailable
from orchestrator.commands.export import export_documents
from orchestrator.run.expect import Expectations
from orchestrator.topology.validate import load_topology

from conftest import ROOT

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
@pytest.mark.parametrize("name", ["pipeline", "pubsub", "broker", "queue-broker"])
def test_kubernetes_export_meets_expect_across_namespaces(name: str, cluster: Cluster) -> None:
    file = str(ROOT / "topologies" / f"{name}.yaml")
    topology = load_topology(file)
    assert topology.expect is not None
    docs, _ = export_documents(file, "kubernetes", image="zmqrun:test")
    all_pods = cluster.run(docs)
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
