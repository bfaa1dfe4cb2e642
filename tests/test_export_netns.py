"""The proof across hosts: the Kubernetes and Compose exports of shipped topologies, every pod
(or service) in its own network namespace with its own address, names resolved as the engine's
DNS would, still meet the topology's expect block. Needs root (CI runs as root); skips with the
reason otherwise."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import ROOT, wait_for
from netns_cluster import Cluster, Pod, netns_unavailable
from netns_engines import compose_pods, kubernetes_pods

from orchestrator.commands.export import export, export_documents
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


def _topology_file(name: str, security: str, tmp_path: Path) -> str:
    if security == "none":
        return str(ROOT / "topologies" / f"{name}.yaml")
    file = tmp_path / f"{name}.yaml"
    file.write_text("security: curve\n" + (ROOT / "topologies" / f"{name}.yaml").read_text())
    return str(file)


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
    laid out as the kubelet lays a secret volume out and mounted read-only at its mountPath in
    the pod's own mount namespace; the manifests themselves hold no key."""
    file = _topology_file(name, security, tmp_path)
    topology = load_topology(file)
    secrets: dict[str, str] = {}
    docs, _ = export_documents(file, "kubernetes", image="zmqrun:test", secrets=secrets)
    assert len(secrets) == (len(topology.nodes) if security == "curve" else 0)
    _meets_expect(file, cluster, cluster.run(kubernetes_pods(docs, secrets, cluster.scratch)))


@pytest.mark.timeout(150)
@pytest.mark.parametrize("name", ["pipeline", "queue-broker", "broker"])
def test_compose_export_meets_expect_across_namespaces(name: str, cluster: Cluster, tmp_path: Path) -> None:
    """Compose services one per namespace; a node's interchangeable replicas are one service with
    `deploy.replicas`, whose containers each learn their ZMQRUN_REPLICA at start from the
    container names Compose's DNS answers (PROJECT-SERVICE-N)."""
    file = str(ROOT / "topologies" / f"{name}.yaml")
    out = tmp_path / "compose.yaml"
    assert export("compose", file, str(out), "zmqrun:test", None) == 0
    pods = compose_pods(out)
    grouped = [p for p in pods if p.name != p.names[0]]
    assert grouped or name == "broker"  # pipeline's workers, queue-broker's clients and workers
    _meets_expect(file, cluster, cluster.run(pods))


@pytest.mark.timeout(150)
@pytest.mark.parametrize("name", ["pipeline", "pubsub"])
def test_compose_export_with_curve_meets_expect_across_namespaces(
    name: str, cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `zmqrun export compose FILE -o deploy/compose.yaml --secrets-out deploy/NAME-curve`
    writes, run service by service: each secret is the host file the Compose file names,
    bind-mounted read-only at /run/secrets/TARGET in the service's own mount namespace (on a
    /run of its own: the machine's /run is never written), as plain `docker compose` mounts it."""
    file = _topology_file(name, "curve", tmp_path)
    out = tmp_path / "deploy" / "compose.yaml"
    out.parent.mkdir()
    keys = out.parent / f"{name}-curve"
    assert export("compose", file, str(out), "zmqrun:test", None, (), str(keys)) == 0
    assert capsys.readouterr().err == ""  # the keys are where the Compose file looks
    pods = compose_pods(out)
    mounted = sorted(Path(source).name for p in pods for source, _ in p.mounts)
    assert mounted == sorted(f.name for f in keys.iterdir()) and len(mounted) == 2 * len(pods)
    assert all(target.startswith("/run/secrets/") for p in pods for _, target in p.mounts)
    before = sorted(os.listdir("/run"))
    _meets_expect(file, cluster, cluster.run(pods))
    assert sorted(os.listdir("/run")) == before  # the machine's /run (and /run/secrets) untouched


@pytest.mark.timeout(60)
def test_mounts_are_read_only_and_private_to_the_pod(cluster: Cluster, tmp_path: Path) -> None:
    """The harness's own promise, on which the Compose proof rests: the file is at its target
    inside the pod, cannot be written there, and nothing appears under the machine's /run."""
    source = tmp_path / "k"
    source.write_text("in the pod\n")
    os.chmod(source, 0o600)
    target = "/run/secrets/zrtest-" + tmp_path.name
    probe = (
        "import errno, os, sys; t = sys.argv[1]; print(open(t).read().strip(), oct(os.stat(t).st_mode & 0o777))\n"
        "try: open(t, 'a').write('x'); print('written')\n"
        "except OSError as e: print(errno.errorcode[e.errno])"
    )
    (ns, _) = cluster.add(0)
    cluster.start(Pod("p", (), [sys.executable, "-c", probe, target], {}, ((str(source), target),)), ns)
    assert _lines(cluster, 2, 15).get("p") == ["in the pod 0o600", "EROFS"]
    assert not os.path.lexists(target)
    assert source.read_text() == "in the pod\n"


def _meets_expect(file: str, cluster: Cluster, all_pods: list[Pod]) -> None:
    """Every pod's lines and exit fed to the topology's expect block, until its verdict."""
    topology = load_topology(file)
    assert topology.expect is not None
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
    """The topology's node name (engine names may differ: `second_client` is `second-client`)."""
    return pod.env["ZMQRUN_NODE"]


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
    return Pod(name, (), [sys.executable, "-c", code, *args], {})


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


# ---- PID 1: the node as a container's first process ------------------------------------------


def _as_pid_1(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    """`argv` as PID 1 of new PID and network namespaces (its own port space), as in a
    container; returns the `unshare` process and the node's PID as seen from here, once the
    node handles SIGINT (Python's own handler is in place: the program has started)."""
    outer = subprocess.Popen(["unshare", "--pid", "--net", "--kill-child", *argv], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    pid = wait_for(lambda: outer.poll() is None and next(iter(psutil.Process(outer.pid).children()), None), 20)
    assert isinstance(pid, psutil.Process)
    # After the exec (not unshare's own child any more), once Python has set its SIGINT handler.
    wait_for(lambda: pid.cmdline()[0] != "unshare" and _caught(pid.pid) & (1 << (signal.SIGINT - 1)), 20)
    return outer, pid.pid


def _caught(pid: int) -> int:
    """The signals `pid` has a handler for (SigCgt, a bit mask), from /proc."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))


def _exits_within(outer: subprocess.Popen[str], seconds: float) -> bool:
    try:
        outer.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


@pytest.mark.timeout(90)
def test_an_exported_node_as_pid_1_stops_on_sigterm_and_on_its_stop_signal(tmp_path: Path) -> None:
    """What the README says of PID 1, shown: the kernel drops a signal PID 1 has no handler for,
    so plain Python as PID 1 ignores Kubernetes' SIGTERM, while a node on the helper module (here
    the broker's server, with the command and environment of its exported manifest) stops on
    SIGTERM and on SIGINT, the stop signal the preStop hook sends first. The 20 s bounds are
    slack for a loaded machine; the node stops in well under a second."""
    docs, _ = export_documents(str(ROOT / "topologies" / "broker.yaml"), "kubernetes", image="zmqrun:test")
    (server,) = [p for p in kubernetes_pods(docs, {}, tmp_path) if p.env["ZMQRUN_NODE"] == "server"]
    env = {**server.env, "PYTHONPATH": str(ROOT)}
    probe = "import time; time.sleep(60)"
    for sig in (signal.SIGTERM, signal.SIGINT):
        outer, pid = _as_pid_1(server.argv, env)
        try:
            wait_for(lambda p=pid: _caught(p) & (1 << (signal.SIGTERM - 1)), 20)  # the helper's handler
            os.kill(pid, sig)
            assert _exits_within(outer, 20), f"the server as PID 1 ignored {sig.name}"
        finally:
            _end(outer)
    outer, pid = _as_pid_1([sys.executable, "-c", probe], env)
    try:
        assert not _caught(pid) & (1 << (signal.SIGTERM - 1))
        os.kill(pid, signal.SIGTERM)
        assert not _exits_within(outer, 1.0), "plain Python as PID 1 stopped on SIGTERM: the README is wrong"
        os.kill(pid, signal.SIGINT)  # Python's own SIGINT handler: PID 1 or not, it stops
        assert _exits_within(outer, 20)
    finally:
        _end(outer)


def _end(outer: subprocess.Popen[str]) -> None:
    if outer.poll() is None:
        outer.kill()  # --kill-child: the node goes with it
        outer.wait(timeout=10)
    if outer.stdout:
        outer.stdout.close()


@pytest.mark.timeout(90)
def test_each_compose_replica_learns_its_own_number(cluster: Cluster, tmp_path: Path) -> None:
    """The start of a `deploy.replicas` service's command, as exported, with the node replaced
    by a line that says which replica the container found it is: each says its own N."""
    out = tmp_path / "compose.yaml"
    assert export("compose", str(ROOT / "topologies" / "queue-broker.yaml"), str(out), "zmqrun:test", None) == 0
    pods = []
    for pod in compose_pods(out):
        if pod.name == pod.names[0]:
            continue  # a service of one container: nothing to learn
        script = pod.argv[2].splitlines()
        assert script[-1].startswith("exec ")
        pods.append(pod._replace(argv=[*pod.argv[:2], "\n".join([*script[:-1], 'echo "$HOSTNAME $ZMQRUN_REPLICA"'])]))
    grouped = {p.name for p in pods}
    assert grouped == {"queue-broker-client-1", "queue-broker-client-2", "queue-broker-client-3",
                       "queue-broker-worker-1", "queue-broker-worker-2"}  # fmt: skip
    cluster.run(pods)
    said = [line for lines in _lines(cluster, len(pods), 60).values() for line in lines]
    expected = {f"{name} {name.rsplit('-', 1)[1]}" for name in grouped}
    assert expected <= set(said), said
