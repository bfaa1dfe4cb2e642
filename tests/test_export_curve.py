"""`zmqrun export kubernetes` of a `security: curve` topology: the manifests name a Secret per
node and hold no key (deterministic, fit to commit); `--secrets-out` writes the Secrets, 0600;
both pass the Kubernetes schemas and zmqrun's lint. Compose still refuses CURVE, naming every
socket. (The namespace proof runs the result: tests/test_export_netns.py.)"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from test_export import KUBERNETES_VERSIONS, offline

from orchestrator.commands.export import SecretsError, export, export_documents
from orchestrator.errors import TopologyError
from orchestrator.export.curve import MOUNT

BIN = Path(sys.executable).parent


def curve_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text("security: curve\n" + (ROOT / "topologies" / f"{name}.yaml").read_text())
    return path


def run_export(capsys: pytest.CaptureFixture[str], file: Path, secrets_out: Path | None) -> str:
    assert export("kubernetes", str(file), None, "zmqrun:test", None, (),
                  str(secrets_out) if secrets_out else None) == 0  # fmt: skip
    return capsys.readouterr().out


@pytest.mark.parametrize("name", ["pipeline", "pubsub"])
def test_manifests_hold_no_key_and_are_the_same_bytes_every_time(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = curve_file(tmp_path, name)
    first = run_export(capsys, file, tmp_path / "s1")
    second = run_export(capsys, file, tmp_path / "s2")
    assert first == second == run_export(capsys, file, None)  # new keys each time, same manifests
    secrets = [d for p in sorted((tmp_path / "s1").iterdir()) for d in yaml.safe_load_all(p.read_text())]
    keys = set()
    for doc in secrets:
        for item, value in doc["stringData"].items():
            if item.endswith(".key"):
                keys.add(value.strip())
            else:  # the env file: public keys, which are new per export too
                keys.update(k for line in value.splitlines() for k in _z85(line))
    assert len(keys) >= 6
    leaked = [k for k in keys if k in first]
    assert not leaked, f"{len(leaked)} keys in the manifests"
    docs = list(yaml.safe_load_all(first))
    workloads = [d for d in docs if d and d["kind"] in ("Deployment", "StatefulSet", "Job")]
    assert workloads and {d["metadata"]["name"] + "-curve" for d in workloads} == {
        s["metadata"]["name"] for s in secrets
    }
    for d in workloads:
        pod = d["spec"]["template"]["spec"]
        c = pod["containers"][0]
        assert pod["volumes"] == [{"name": "curve", "secret": {"secretName": d["metadata"]["name"] + "-curve",
                                                              "defaultMode": 0o400}}]  # fmt: skip
        assert c["volumeMounts"] == [{"name": "curve", "mountPath": MOUNT, "readOnly": True}]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert "ZMQRUN_CURVE_PUBLICKEY" not in env and "ZMQRUN_CURVE_SECRETKEY_FILE" not in env
        for spec in json.loads(env["ZMQRUN_SOCKETS"].replace("$$", "$")).values():
            assert spec["security"] == "curve" and "clientkeys" not in spec and "serverkeys" not in spec
        assert f"{MOUNT}/$$ZMQRUN_REPLICA.key" in c["command"][-1]


def _z85(line: str) -> list[str]:
    """The keys on one `NAME='value'` line of an env file. Chosen by NAME, never by the value's
    first character: a z85 key may itself begin with `{`."""
    name, _, value = line.removeprefix("export ").partition("=")
    value = value.strip("'")
    if name == "ZMQRUN_SOCKETS":
        specs = json.loads(value.replace("'\"'\"'", "'"))
        return [k for s in specs.values() for k in s.get("clientkeys", []) + s.get("serverkeys", [])]
    return [k for k in value.split() if len(k) == 40]


def test_secrets_out_is_private_and_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = curve_file(tmp_path, "pipeline")
    out = tmp_path / "secrets"
    run_export(capsys, file, out)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    files = sorted(out.iterdir())
    assert [p.name for p in files] == ["secret-sink-curve.yaml", "secret-ventilator-curve.yaml",
                                       "secret-worker-curve.yaml"]  # fmt: skip
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in files)
    worker = yaml.safe_load(files[2].read_text().split("---", 1)[1])
    assert sorted(worker["stringData"]) == ["1.env", "1.key", "2.env", "2.key"]  # per replica, by ZMQRUN_REPLICA
    before = files[0].read_text()
    with pytest.raises(SecretsError) as refused:
        run_export(capsys, file, out)  # a second set would not match the first
    assert "File exists" in str(refused.value)
    assert files[0].read_text() == before


@pytest.mark.timeout(200)
def test_curve_export_and_its_secrets_pass_kubernetes_validate_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = []
    for name in ("pipeline", "pubsub"):
        manifests = tmp_path / f"{name}.k8s.yaml"
        manifests.write_text(run_export(capsys, curve_file(tmp_path, name), tmp_path / f"{name}-secrets"))
        files += [str(manifests), *sorted(str(p) for p in (tmp_path / f"{name}-secrets").iterdir())]
    for version in KUBERNETES_VERSIONS:
        argv = [str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", version, *files]
        result = subprocess.run(offline(argv), capture_output=True, text=True, timeout=90, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_compose_still_refuses_curve_naming_every_socket(tmp_path: Path) -> None:
    path = curve_file(tmp_path, "pipeline")
    with pytest.raises(TopologyError) as refused:
        export_documents(str(path), "compose", image="zmqrun:test")
    text = str(refused.value)
    assert "nodes.sink.sockets.results: uses security: curve, which the compose export does not carry yet" in text
    assert "nodes.worker.sockets.tasks" in text
    assert export_documents(str(ROOT / "topologies" / "pipeline.yaml"), "compose", image="zmqrun:test")[0]
