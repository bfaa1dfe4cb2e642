"""`zmqrun export kubernetes|compose`: the mapping, the reports, determinism, zmqrun's lint, and
the engines' own schemas (offline) on the export of every shipped topology."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from netns_engines import expand

from orchestrator.commands.export import export_documents, export_text
from orchestrator.errors import TopologyError
from orchestrator.export import lint, replica
from orchestrator.export.command import command
from orchestrator.export.workloads import REPLICA_MARK, Launch

SHIPPED = sorted((ROOT / "topologies").glob("*.yaml"))
BIN = Path(sys.executable).parent
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")  # two recent releases whose schemas the package bundles


def k8s(file: Path | str, **kw: Any) -> dict[tuple[str, str], dict[str, Any]]:
    docs, _ = export_documents(str(file), "kubernetes", image=kw.pop("image", "zmqrun:test"), **kw)
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def compose_services(file: Path | str) -> dict[str, Any]:
    docs, _ = export_documents(str(file), "compose", image="zmqrun:test")
    return dict(docs[0]["services"])


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def sockets_of(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(env_of(doc["spec"]["template"]["spec"]["containers"][0])["ZMQRUN_SOCKETS"]))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def offline(argv: list[str]) -> list[str]:
    """Run a validator with no network at all when this machine lets us (root: a fresh netns)."""
    if os.geteuid() == 0 and shutil.which("unshare"):
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10, check=False)
        if probe.returncode == 0:
            return ["unshare", "-n", *argv]
    return argv


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exported")
    for path in SHIPPED:
        (out / f"{path.stem}.k8s.yaml").write_text(export_text(str(path), "kubernetes", image="zmqrun:test"))
        (out / f"{path.stem}.compose.yaml").write_text(export_text(str(path), "compose", image="zmqrun:test"))
    return out


# ---- the engines' own schemas, offline -----------------------------------------------------


@pytest.mark.timeout(300)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_shipped_topology_passes_kubernetes_validate_strict(exported: Path, version: str) -> None:
    files = sorted(str(p) for p in exported.glob("*.k8s.yaml"))
    assert len(files) == len(SHIPPED) >= 14
    argv = [str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", version, *files]
    result = subprocess.run(offline(argv), capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(120)
def test_every_shipped_topology_passes_the_compose_spec(exported: Path) -> None:
    files = sorted(str(p) for p in exported.glob("*.compose.yaml"))
    assert len(files) == len(SHIPPED)
    argv = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *files]
    result = subprocess.run(offline(argv), capture_output=True, text=True, timeout=100, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(120)
def test_the_validators_do_reject_a_broken_manifest(exported: Path, tmp_path: Path) -> None:
    """The checks above can fail: one unknown key each is refused."""
    bad = tmp_path / "bad.k8s.yaml"
    bad.write_text((exported / "pipeline.k8s.yaml").read_text().replace("enableServiceLinks:", "enableServiceLink:"))
    argv = [str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", KUBERNETES_VERSIONS[0], str(bad)]
    assert subprocess.run(offline(argv), capture_output=True, timeout=100, check=False).returncode != 0
    badc = tmp_path / "bad.compose.yaml"
    badc.write_text((exported / "pipeline.compose.yaml").read_text().replace("stop_grace_period:", "stop_grace:"))
    argv = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(badc)]
    assert subprocess.run(offline(argv), capture_output=True, timeout=100, check=False).returncode != 0


# ---- zmqrun's own lint ----------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_lint_is_clean_on_every_shipped_export(path: Path) -> None:
    docs, _ = export_documents(str(path), "kubernetes", image="zmqrun:test")
    assert lint.kubernetes(docs) == []
    (doc,), _ = export_documents(str(path), "compose", image="zmqrun:test")
    assert lint.compose(doc) == []


def _break(docs: list[dict[str, Any]], kind: str, name: str, change: Any) -> list[dict[str, Any]]:
    docs = copy.deepcopy(docs)
    change(next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name))
    return docs


def _container(d: dict[str, Any]) -> dict[str, Any]:
    return dict(d["spec"]["template"]["spec"]["containers"][0])


def _set_env(d: dict[str, Any], key: str, value: str) -> None:
    for e in d["spec"]["template"]["spec"]["containers"][0]["env"]:
        if e["name"] == key:
            e["value"] = value


BREAKAGES = {
    "selector": ("StatefulSet", "worker", lambda d: d["spec"]["selector"]["matchLabels"].update(
        {"app.kubernetes.io/name": "other"}), "does not match the pod template"),
    "port range": ("Job", "sink", lambda d: _container(d)["ports"][0].update(containerPort=70000),
                   "containerPort 70000"),
    "dns name": ("Job", "ventilator", lambda d: d["metadata"].update(name="Ventilator_1"), "not a DNS-1123"),
    "port name": ("Service", "sink", lambda d: d["spec"]["ports"][0].update(name="a-very-long-port-name"), "IANA"),
    "port name twice": ("Service", "sink", lambda d: d["spec"]["ports"].append(
        dict(d["spec"]["ports"][0], port=20001, targetPort=20001)), "'results' is given to more than one port"),
    "container port name twice": ("Job", "sink", lambda d: _container(d)["ports"].append(
        dict(_container(d)["ports"][0], containerPort=20001)), "'results' is given to more than one port"),
    "service port": ("Service", "sink", lambda d: d["spec"]["ports"][0].update(port=0), "is not a port"),
    "service selector": ("Service", "sink", lambda d: d["spec"]["selector"].update({"x": "y"}), "matches no pod"),
    "endpoint name": ("StatefulSet", "worker", lambda d: _set_env(d, "ZMQRUN_SOCKETS", json.dumps(
        {"results": {"type": "PUSH", "bind": False, "endpoints": ["tcp://sinc:20000"]}})),
        "no Service or pod named 'sinc'"),
    "endpoint port": ("StatefulSet", "worker", lambda d: _set_env(d, "ZMQRUN_SOCKETS", json.dumps(
        {"results": {"type": "PUSH", "bind": False, "endpoints": ["tcp://sink:20001"]}})), "sink has no port 20001"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_lint_finds_what_schema_validators_pass(case: str) -> None:
    kind, name, change, message = BREAKAGES[case]
    docs, _ = export_documents(str(ROOT / "topologies" / "pipeline.yaml"), "kubernetes", image="zmqrun:test")
    found = lint.kubernetes(_break(docs, kind, name, change))
    assert any(message in f for f in found), found


def test_lint_checks_pod_names_behind_a_headless_service() -> None:
    docs, _ = export_documents(str(ROOT / "topologies" / "pubsub.yaml"), "kubernetes", image="zmqrun:test")
    broken = _break(docs, "Job", "subscriber", lambda d: _set_env(d, "ZMQRUN_SOCKETS", json.dumps(
        {"feed": {"type": "SUB", "bind": False, "endpoints": ["tcp://publisher-2.publisher:20000"]}})))  # fmt: skip
    assert any("publisher-2.publisher" in f for f in lint.kubernetes(broken))


def test_compose_lint_finds_a_dangling_endpoint_and_a_bad_port() -> None:
    (doc,), _ = export_documents(str(ROOT / "topologies" / "pipeline.yaml"), "compose", image="zmqrun:test")
    doc = copy.deepcopy(doc)
    doc["services"]["worker"]["environment"]["ZMQRUN_SOCKETS"] = json.dumps(
        {"results": {"type": "PUSH", "bind": False, "endpoints": ["tcp://sink-1:20000"]}}
    )
    doc["services"]["sink"]["expose"] = ["70000"]
    found = lint.compose(doc)
    assert any("'sink-1'" in f for f in found) and any("70000" in f for f in found), found


# ---- the mapping ----------------------------------------------------------------------------


def test_binder_gets_a_deployment_and_service_its_bind_opens_to_the_pod_network() -> None:
    objs = k8s(ROOT / "topologies" / "broker.yaml")
    server = objs[("Deployment", "server")]
    assert server["spec"]["replicas"] == 1
    service = objs[("Service", "server")]["spec"]
    assert "clusterIP" not in service and [p["name"] for p in service["ports"]] == [
        "client-inputs", "client-outputs", "worker-inputs", "worker-outputs"]  # fmt: skip
    ports = [p["port"] for p in service["ports"]]
    assert ports == [20000, 20001, 20002, 20003]  # automatic ports became fixed ones
    assert sockets_of(server)["client_inputs"]["endpoints"] == ["tcp://*:20000"]
    client = sockets_of(objs[("Job", "client")])
    assert client["inputs"]["endpoints"] == ["tcp://server:20000"]
    assert client["outputs"]["endpoints"] == ["tcp://server:20001"]
    probe = _container(server)["readinessProbe"]["tcpSocket"]["port"]
    assert probe == 20000


def test_binder_with_replicas_is_a_statefulset_reached_pod_by_pod() -> None:
    objs = k8s(ROOT / "topologies" / "pubsub.yaml")
    publisher = objs[("StatefulSet", "publisher")]
    assert publisher["spec"]["serviceName"] == "publisher" and publisher["spec"]["replicas"] == 2
    assert objs[("Service", "publisher")]["spec"]["clusterIP"] == "None"
    feed = sockets_of(objs[("Job", "subscriber")])["feed"]
    assert feed["endpoints"] == ["tcp://publisher-0.publisher:20000", "tcp://publisher-1.publisher:20000"]
    compose = compose_services(ROOT / "topologies" / "pubsub.yaml")
    feed = json.loads(compose["subscriber"]["environment"]["ZMQRUN_SOCKETS"])["feed"]
    assert feed["endpoints"] == ["tcp://publisher-1:20000", "tcp://publisher-2:20000"]
    assert {"publisher-1", "publisher-2"} <= set(compose)


def test_connecters_have_no_service_and_one_shot_nodes_are_jobs() -> None:
    objs = k8s(ROOT / "topologies" / "queue-broker.yaml")
    assert ("Service", "worker") not in objs and ("Service", "client") not in objs
    worker = objs[("StatefulSet", "worker")]
    assert "serviceName" not in worker["spec"] and worker["spec"]["replicas"] == 2
    client = objs[("Job", "client")]["spec"]
    assert (client["completionMode"], client["completions"], client["parallelism"]) == ("Indexed", 3, 3)
    assert client["template"]["spec"]["restartPolicy"] == "Never" and client["backoffLimit"] == 0
    index = [e for e in _container(objs[("Job", "client")])["env"] if e["name"] == "ZMQRUN_INDEX"]
    assert index[0]["valueFrom"]["fieldRef"]["fieldPath"].endswith("['batch.kubernetes.io/job-completion-index']")
    assert objs[("Deployment", "queue")]["spec"]["template"]["spec"]["restartPolicy"] == "Always"


def test_sockets_whose_names_fold_together_get_ports_of_their_own_names(tmp_path: Path) -> None:
    """`out_a` and `out__a` both fold to the port name `out-a`; the API server refuses a
    Service with two ports of one name (kubernetes-validate passes it), so the later one is
    named after its number, and a name that number would take is not taken twice either."""
    path = write(
        tmp_path,
        """
        image: z:1
        nodes:
          s:
            run: python -m x
            sockets:
              out_a: {type: PUB, bind: true}
              zmq_20001: {type: PUB, bind: 20005}
              out__a: {type: PUB, bind: true}
              z: {type: PUB, bind: 20002}
              z_: {type: PUB, bind: 20004}
    """,
    )
    objs = k8s(path)
    ports = objs[("Service", "s")]["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [
        ("out-a", 20000), ("zmq-20001", 20005), ("zmq-20001-3", 20001), ("z", 20002), ("zmq-20004", 20004)]  # fmt: skip
    assert [p["name"] for p in _container(objs[("Deployment", "s")])["ports"]] == [p["name"] for p in ports]


def test_network_policy_admits_only_the_topologys_own_pods() -> None:
    objs = k8s(ROOT / "topologies" / "pipeline.yaml")
    policy = objs[("NetworkPolicy", "sink")]["spec"]
    assert policy["podSelector"]["matchLabels"] == objs[("Service", "sink")]["spec"]["selector"]
    assert policy["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "pipeline"}}}],
                                  "ports": [{"protocol": "TCP", "port": 20000}]}]  # fmt: skip
    assert ("NetworkPolicy", "worker") not in objs


def test_grace_stop_signal_restart_and_depends_on_map_to_each_engine(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: Odd Name
        image: zmqrun:1
        nodes:
          server:
            run: python -m x
            grace: 2.5s
            stop_signal: SIGTERM
            restart: always
            sockets: {rep: {type: REP, bind: 5555}}
          client:
            run: python -m y
            stop_signal: SIGKILL
            restart: {policy: on-failure, limit: 4}
            depends_on: {server: process_started}
            sockets: {req: {type: REQ, connect: server.rep}}
          job:
            run: python -m z
            image: other:2
            exit_on_end: true
            restart: on-failure
            depends_on: {server: process_ready}
    """,
    )
    objs = k8s(path, image=None)
    server = objs[("Deployment", "server")]["spec"]["template"]["spec"]
    assert server["terminationGracePeriodSeconds"] == 3 and "lifecycle" not in server["containers"][0]
    assert objs[("Service", "server")]["spec"]["ports"][0]["port"] == 5555  # a fixed port is kept
    client = objs[("Deployment", "client")]["spec"]["template"]["spec"]
    assert client["terminationGracePeriodSeconds"] == 0
    job = objs[("Job", "job")]["spec"]
    assert job["backoffLimit"] == 5 and job["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert job["template"]["spec"]["containers"][0]["image"] == "other:2"
    assert server["containers"][0]["image"] == "zmqrun:1"
    assert objs[("Job", "job")]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "odd-name"
    services = compose_services(path)
    assert services["server"]["stop_signal"] == "SIGTERM" and services["server"]["stop_grace_period"] == "2.5s"
    assert services["server"]["restart"] == "always" and services["client"]["restart"] == "on-failure:4"
    assert services["client"]["depends_on"] == {"server": {"condition": "service_started"}}
    assert services["job"]["depends_on"] == {"server": {"condition": "service_healthy"}}
    assert services["server"]["init"] is True and services["client"]["stop_signal"] == "SIGKILL"
    # --image replaces the top-level default, never a node's own.
    objs = k8s(path, image="cli:3")
    assert _container(objs[("Deployment", "server")])["image"] == "cli:3"
    assert _container(objs[("Job", "job")])["image"] == "other:2"


def test_default_stop_signal_reaches_pid_1_before_kubernetes_sigterm() -> None:
    objs = k8s(ROOT / "topologies" / "pipeline.yaml")
    hook = _container(objs[("Job", "sink")])["lifecycle"]["preStop"]["exec"]["command"]
    assert hook == ["/bin/sh", "-c", "kill -INT 1"]
    assert compose_services(ROOT / "topologies" / "pipeline.yaml")["sink"]["stop_signal"] == "SIGINT"


def test_the_zmqrun_environment_contract_holds_in_the_pod() -> None:
    objs = k8s(ROOT / "topologies" / "pipeline.yaml")
    env = env_of(_container(objs[("Job", "ventilator")]))
    assert env["ZMQRUN_NODE"] == "ventilator" and env["ZMQRUN_REPLICA"] == "1" and env["ZMQRUN_REPLICAS"] == "1"
    assert env["ZMQRUN_SOCKET_TASKS_ENDPOINT"] == "tcp://*:20000" and env["ZMQRUN_SOCKET_TASKS_PORT"] == "20000"
    assert env["ZMQRUN_SOCKET_SINK_ENDPOINT"] == "tcp://sink:20000"
    assert sockets_of(objs[("Job", "ventilator")])["tasks"]["peers"] == 2  # for wait_for_peers
    assert not any(k.startswith(("PATH", "HOME")) for k in env)  # the image's own


# ---- the container command -------------------------------------------------------------------


def _sh(argv: list[str], env: dict[str, str]) -> str:
    return subprocess.run(argv, env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True,
                          timeout=30, check=True).stdout  # fmt: skip


def test_replica_number_comes_from_the_index_and_fills_placeholders() -> None:
    objs = k8s(ROOT / "topologies" / "request-reply.yaml")
    c = _container(objs[("Job", "client")])
    assert "--id" in c["command"][2]
    script = [expand(w, {}) for w in c["command"]]
    probe = Launch((sys.executable, "-c", "import os, sys; print(os.environ['ZMQRUN_REPLICA'], sys.argv[1:])",
                    "--id", str(REPLICA_MARK), f"c{REPLICA_MARK}x"), (), None)  # fmt: skip
    out = _sh(command(probe, indexed=True), {"ZMQRUN_INDEX": "2"})
    assert out == "3 ['--id', '3', 'c3x']\n"
    assert script[:2] == ["/bin/sh", "-c"] and "ZMQRUN_REPLICA=$((ZMQRUN_INDEX + 1))" in script[2]


def test_a_compose_replica_is_the_one_whose_container_name_has_its_address() -> None:
    """192.0.2.1 (TEST-NET) is nobody's here; 127.0.0.1 is this machine's own: only it binds."""
    names = {"p-s-1": ["192.0.2.1"], "p-s-2": ["127.0.0.1"], "p-s-3": ["192.0.2.3"]}
    assert replica.number("p", "s", 3, resolve=lambda n: names.get(n, []), wait=0) == 2
    assert replica.number("p", "s", 3, resolve=lambda n: ["192.0.2.9"], wait=0) is None
    assert replica.main(["p", "s"]) == 2


def test_on_swarm_a_compose_replica_takes_the_task_slot(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """`docker stack deploy` fills {{.Task.Slot}} in; plain Compose leaves the template text,
    and then the container names decide (here none answers: it says so and fails)."""
    monkeypatch.setattr(replica, "WAIT", 0.0)
    monkeypatch.setenv("ZMQRUN_SWARM_SLOT", "3")
    assert replica.main(["zr-none", "s", "3"]) == 0 and capsys.readouterr().out == "3\n"
    monkeypatch.setenv("ZMQRUN_SWARM_SLOT", "{{.Task.Slot}}")
    monkeypatch.setattr(replica, "_addresses", lambda name: [])
    assert replica.main(["zr-none", "s", "3"]) == 1 and "zr-none-s-1..3" in capsys.readouterr().err


def test_compose_groups_interchangeable_replicas_and_splits_the_rest(tmp_path: Path) -> None:
    """`deploy.replicas` where replicas differ only in ZMQRUN_REPLICA; a service per replica
    where peers reach each (a binder) or where the command itself holds `{replica}`."""
    path = write(
        tmp_path,
        """
        image: zmqrun:1
        nodes:
          pub: {run: python -m p, replicas: 2, sockets: {out: {type: PUB, bind: true}}}
          sub: {run: python -m s, replicas: 3, sockets: {feed: {type: SUB, connect: pub.out}}}
          tagged: {run: 'python -m t --id {replica}', replicas: 2, sockets: {feed: {type: SUB, connect: pub.out}}}
    """,
    )
    services = compose_services(path)
    assert sorted(services) == ["pub-1", "pub-2", "sub", "tagged-1", "tagged-2"]
    assert services["sub"]["deploy"] == {"replicas": 3} and "ZMQRUN_REPLICA" not in services["sub"]["environment"]
    assert "python -m orchestrator.export.replica t sub 3" in services["sub"]["command"][2]
    assert services["sub"]["environment"]["ZMQRUN_SWARM_SLOT"] == "{{.Task.Slot}}"
    assert "deploy" not in services["pub-1"] and services["tagged-2"]["environment"]["ZMQRUN_REPLICA"] == "2"


def test_stdin_lines_are_fed_as_they_are() -> None:
    lines = ("gcd 12 18", "$HOME `x` 'q'", "ZMQRUN_STDIN", "last")
    probe = Launch((sys.executable, "-c", "import sys; print(repr(sys.stdin.read()))"), (), lines)
    out = _sh(command(probe, indexed=False), {})
    assert out.strip() == repr("\n".join(lines) + "\n")


def test_dollars_survive_the_kubelet_and_compose_interpolation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        image: zmqrun:1
        nodes:
          a:
            run: ['python', '-c', 'print("$$(HOME) $$$$ $${{X}}")']    # the file's own $$ is one literal $
            env: {V: '$$(HOME)$$$$'}
    """,
    )
    c = _container(k8s(path)[("Deployment", "a")])
    assert expand(c["command"][2], {"HOME": "/root"}) == 'print("$(HOME) $$ ${X}")'
    assert expand(env_of(c)["V"], {"HOME": "/root"}) == "$(HOME)$$"
    s = compose_services(path)["a"]
    assert s["command"][2] == 'print("$$(HOME) $$$$ $${X}")' and s["environment"]["V"] == "$$(HOME)$$$$"


# ---- what cannot leave this machine, reported ------------------------------------------------


def test_local_only_nodes_are_reported_all_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        nodes:
          term:
            run: python -m x
            stdin: inherit
            sockets: {out: {type: PUSH, connect: 'tcp://127.0.0.1:5000'}}
          a_b:
            run: python -m y
            cwd: scripts
            sockets: {ipc: {type: PULL, bind: true, transport: ipc}}
          a-b:
            run: python -m z
            sockets: {in: {type: PUSH, connect: a_b.ipc}}
    """,
    )
    with pytest.raises(TopologyError) as info:
        export_documents(str(path), "kubernetes")
    text = str(info.value)
    for needle in ("nodes.term.stdin: stdin: inherit", "tcp://127.0.0.1:5000 is on this machine",
                   "ipc:// cannot cross hosts", "the same name as node 'a_b'", "nodes.a_b.cwd",
                   "nodes.term: no container image"):  # fmt: skip
        assert needle in text, text
    assert f"{path}:3 nodes.term.stdin" in text  # with the file and the line of the node


def _connecting_to(tmp_path: Path, endpoint: str) -> Path:
    return write(
        tmp_path,
        f"image: z:1\nnodes:\n  a: {{run: python -m x, sockets: {{o: {{type: PUSH, connect: '{endpoint}'}}}}}}",
    )


@pytest.mark.parametrize("endpoint", [
    "tcp://127.0.0.1:5000", "tcp://127.1:5000", "tcp://2130706433:5000", "tcp://0:5000", "tcp://0.0.0.0:5000",
    "tcp://[::1]:5000", "tcp://[0:0:0:0:0:0:0:1]:5000", "tcp://[::ffff:127.0.0.1]:5000", "tcp://[::]:5000",
    "tcp://localhost:5000", "tcp://LOCALHOST.:5000", "tcp://ip6-localhost:5000", "tcp://db.localhost:5000",
    "tcp://10.0.0.1;127.0.0.1:5000", "ipc:///tmp/x",
])  # fmt: skip
def test_every_spelling_of_this_machine_is_reported(tmp_path: Path, endpoint: str) -> None:
    """The class, not one spelling: any literal address libzmq would take to mean loopback (or
    any local address) is refused, the destination after a `source;` prefix included."""
    path = _connecting_to(tmp_path, endpoint)
    with pytest.raises(TopologyError, match="is on this machine"):
        export_documents(str(path), "kubernetes")


@pytest.mark.parametrize("endpoint", ["tcp://10.0.0.1:5000", "tcp://127.0.0.1;10.0.0.1:5000", "tcp://feed.example.org:5000",
                                      "tcp://[2001:db8::1]:5000", "tcp://localhost-feed:5000", "inproc://x"])  # fmt: skip
def test_literal_endpoints_on_other_hosts_are_not_reported(tmp_path: Path, endpoint: str) -> None:
    path = _connecting_to(tmp_path, endpoint)
    assert sockets_of(k8s(path)[("Deployment", "a")])["o"]["endpoints"] == [endpoint]


def test_a_node_named_like_a_compose_replica_service_is_reported(tmp_path: Path) -> None:
    """`a` binds with two replicas, so Compose has services `a-1` and `a-2`: a node `a_2` (DNS
    name `a-2`) would be overwritten silently. Kubernetes names those pods `a-0.a`, `a-1.a`."""
    path = write(
        tmp_path,
        """
        image: z:1
        nodes:
          a: {run: python -m x, replicas: 2, sockets: {out: {type: PUB, bind: true}}}
          a_2: {run: python -m y}
    """,
    )
    with pytest.raises(TopologyError, match=r":5 nodes.a_2: Compose names replica 2 of node 'a' 'a-2'"):
        export_documents(str(path), "compose", image="z:1")
    assert ("Deployment", "a-2") in k8s(path)


def test_completion_order_is_kept_for_compose(tmp_path: Path) -> None:
    """And for Kubernetes by a waiting step: tests/test_export_jobwait.py."""
    path = write(
        tmp_path,
        """
        image: zmqrun:1
        nodes:
          setup: {run: python -m s}
          main: {run: python -m m, depends_on: {setup: process_completed_successfully}}
    """,
    )
    assert compose_services(path)["main"]["depends_on"] == {"setup": {"condition": "service_completed_successfully"}}


# ---- output: deterministic, committed, CLI -----------------------------------------------------


def test_output_is_the_same_bytes_every_time(zmqrun: Any) -> None:
    file = str(ROOT / "topologies" / "queue-broker.yaml")
    for engine in ("kubernetes", "compose"):
        outs = {zmqrun.run("export", engine, file, "--image", "z:1", env={"PYTHONHASHSEED": seed}).stdout
                for seed in ("1", "2", "3")}  # fmt: skip
        assert len(outs) == 1
        (text,) = outs
        assert next(iter(yaml.safe_load_all(text)))  # a real document, not an empty output


@pytest.mark.parametrize("engine", ["kubernetes", "compose"])
def test_the_committed_pipeline_example_is_what_export_writes_today(engine: str) -> None:
    committed = (ROOT / "examples" / f"pipeline.{engine}.yaml").read_text()
    assert committed == export_text(str(ROOT / "topologies" / "pipeline.yaml"), engine, image="zmqrun:0.1"), (
        f"regenerate: zmqrun export {engine} topologies/pipeline.yaml --image zmqrun:0.1"
        f" > examples/pipeline.{engine}.yaml"
    )


def test_cli_writes_a_directory_a_file_or_stdout(zmqrun: Any, tmp_path: Path) -> None:
    file = str(ROOT / "topologies" / "pipeline.yaml")
    result = zmqrun.run("export", "kubernetes", file, "--image", "z:1", "--namespace", "lab", "-o", str(tmp_path / "k"))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "k").iterdir())
    assert names == ["job-sink.yaml", "job-ventilator.yaml", "networkpolicy-sink.yaml",
                     "networkpolicy-ventilator.yaml", "service-sink.yaml", "service-ventilator.yaml",
                     "statefulset-worker.yaml"]  # fmt: skip
    assert yaml.safe_load((tmp_path / "k" / "job-sink.yaml").read_text())["metadata"]["namespace"] == "lab"
    result = zmqrun.run("export", "compose", file, "--image", "z:1", "-o", str(tmp_path / "c.yaml"))
    assert result.returncode == 0 and yaml.safe_load((tmp_path / "c.yaml").read_text())["services"]["worker"]["deploy"]
    result = zmqrun.run("export", "compose", file)
    assert result.returncode == 2 and "no container image" in result.stderr and result.stdout == ""
    assert "nothing was written" in result.stderr


def test_literal_endpoints_elsewhere_are_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        image: zmqrun:1
        nodes:
          a: {run: python -m x, sockets: {out: {type: PUSH, connect: 'tcp://feed.example.org:5555'}}}
    """,
    )
    assert sockets_of(k8s(path)[("Deployment", "a")])["out"]["endpoints"] == ["tcp://feed.example.org:5555"]


def test_readme_shows_the_header_of_the_committed_example() -> None:
    header = [line for line in (ROOT / "examples" / "pipeline.kubernetes.yaml").read_text().splitlines()
              if line.startswith("#")]  # fmt: skip
    assert "\n".join(header) in (ROOT / "README.md").read_text()


def test_export_writes_nothing_when_its_own_lint_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lint runs before anything is written: a naming slip (here injected) is caught."""
    from orchestrator.commands.export import ExportError
    from orchestrator.export import kubernetes
    from orchestrator.export.workloads import Naming

    monkeypatch.setattr(kubernetes, "NAMING", Naming(service=lambda n: f"{n}-svc", replica=lambda n, r: f"{n}-{r}"))
    with pytest.raises(ExportError, match="no Service or pod named 'sink-svc'"):
        export_documents(str(ROOT / "topologies" / "pipeline.yaml"), "kubernetes", image="z:1")
