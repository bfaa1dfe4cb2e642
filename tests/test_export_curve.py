"""`zmqrun export kubernetes|compose` of a `security: curve` topology: the manifests name a
Secret per node (Kubernetes) or two secret files per service (Compose) and hold no key
(deterministic, fit to commit); `--secrets-out` writes the keys, 0600 in a 0700 directory, never
over an earlier set; everything passes the engine's schema and zmqrun's lint. (The namespace
proof runs the result: tests/test_export_netns.py.)"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from test_export import KUBERNETES_VERSIONS, offline

from orchestrator.commands.export import SecretsError, export
from orchestrator.export import lint
from orchestrator.export.compose import ENV_TARGET, KEY_TARGET
from orchestrator.export.curve import MOUNT

BIN = Path(sys.executable).parent


def curve_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text("security: curve\n" + (ROOT / "topologies" / f"{name}.yaml").read_text())
    return path


def run_export(capsys: pytest.CaptureFixture[str], file: Path, secrets_out: Path | None,
               engine: str = "kubernetes") -> str:  # fmt: skip
    assert export(engine, str(file), None, "zmqrun:test", None, (),
                  str(secrets_out) if secrets_out else None) == 0  # fmt: skip
    return capsys.readouterr().out


def written_keys(directory: Path) -> set[str]:
    """Every key, secret or public, in the files `--secrets-out` wrote (either engine)."""
    keys = set()
    for path in directory.iterdir():
        if path.suffix == ".yaml":  # a Kubernetes Secret
            items = next(d for d in yaml.safe_load_all(path.read_text()) if d)["stringData"].items()
        else:
            items = [(path.name, path.read_text())]
        for item, value in items:
            if item.endswith(".key"):
                keys.add(value.strip())
            else:  # the env file: public keys, which are new per export too
                keys.update(k for line in value.splitlines() for k in _z85(line))
    return keys


@pytest.mark.parametrize("name", ["pipeline", "pubsub"])
def test_manifests_hold_no_key_and_are_the_same_bytes_every_time(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = curve_file(tmp_path, name)
    first = run_export(capsys, file, tmp_path / "s1")
    second = run_export(capsys, file, tmp_path / "s2")
    assert first == second == run_export(capsys, file, None)  # new keys each time, same manifests
    secrets = [d for p in sorted((tmp_path / "s1").iterdir()) for d in yaml.safe_load_all(p.read_text()) if d]
    keys = written_keys(tmp_path / "s1")
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


SECRET_FILES = {
    "kubernetes": ["secret-sink-curve.yaml", "secret-ventilator-curve.yaml", "secret-worker-curve.yaml"],
    "compose": ["sink.env", "sink.key", "ventilator.env", "ventilator.key",
                "worker-1.env", "worker-1.key", "worker-2.env", "worker-2.key"],
}  # fmt: skip


@pytest.mark.parametrize("engine", ["kubernetes", "compose"])
def test_secrets_out_is_private_and_never_overwritten(
    engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = curve_file(tmp_path, "pipeline")
    out = tmp_path / "secrets"
    run_export(capsys, file, out, engine)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    files = sorted(out.iterdir())
    assert [p.name for p in files] == SECRET_FILES[engine]
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in files)
    if engine == "kubernetes":
        worker = yaml.safe_load(files[2].read_text().split("---", 1)[1])
        assert sorted(worker["stringData"]) == ["1.env", "1.key", "2.env", "2.key"]  # per replica, by ZMQRUN_REPLICA
    before = {p.name: p.read_text() for p in files}
    with pytest.raises(SecretsError) as refused:
        run_export(capsys, file, out, engine)  # a second set would not match the first
    assert "already holds" in str(refused.value)
    assert {p.name: p.read_text() for p in out.iterdir()} == before


@pytest.mark.parametrize("engine", ["kubernetes", "compose"])
def test_one_file_in_the_way_refuses_the_whole_set(
    engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a half-written set: the last file of the set being there already stops every file."""
    out = tmp_path / "secrets"
    out.mkdir()
    last = out / SECRET_FILES[engine][-1]
    last.write_text("an earlier export's\n")
    with pytest.raises(SecretsError) as refused:
        run_export(capsys, curve_file(tmp_path, "pipeline"), out, engine)
    assert last.name in str(refused.value)
    assert [p.name for p in out.iterdir()] == [last.name] and last.read_text() == "an earlier export's\n"


@pytest.mark.parametrize("name", ["pipeline", "pubsub"])
def test_compose_names_secret_files_holds_no_key_and_is_the_same_bytes_every_time(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = curve_file(tmp_path, name)
    first = run_export(capsys, file, tmp_path / "s1", "compose")
    second = run_export(capsys, file, tmp_path / "s2", "compose")
    assert first == second == run_export(capsys, file, None, "compose")  # new keys each time, same file
    keys = written_keys(tmp_path / "s1")
    assert len(keys) >= 6 and not keys & written_keys(tmp_path / "s2")  # really made anew
    leaked = [k for k in keys if k in first or k.replace("$", "$$") in first]
    assert not leaked, f"{len(leaked)} keys in the Compose file"
    doc = next(d for d in yaml.safe_load_all(first) if d)
    assert lint.compose(doc) == []
    project = doc["name"]
    written = sorted(p.name for p in (tmp_path / "s1").iterdir())
    named = sorted(s["file"] for s in doc["secrets"].values())
    assert named == sorted(f"./{project}-curve/{f}" for f in written)  # every file named, nothing else
    assert len(written) == 2 * len(doc["services"])
    for service, s in doc["services"].items():
        refs = {r["target"]: doc["secrets"][r["source"]]["file"] for r in s["secrets"]}
        assert refs == {KEY_TARGET: f"./{project}-curve/{service}.key", ENV_TARGET: f"./{project}-curve/{service}.env"}
        assert not {"mode", "uid", "gid"} & {k for r in s["secrets"] for k in r}  # plain Compose ignores them
        env = s["environment"]
        assert "ZMQRUN_CURVE_PUBLICKEY" not in env and "ZMQRUN_CURVE_SECRETKEY_FILE" not in env
        for spec in json.loads(env["ZMQRUN_SOCKETS"].replace("$$", "$")).values():
            assert spec["security"] == "curve" and "clientkeys" not in spec and "serverkeys" not in spec
        script = s["command"][-1]
        assert f'cat "/run/secrets/{KEY_TARGET}"' in script and f'. "/run/secrets/{ENV_TARGET}"' in script
        assert script.index("/run/secrets/") < script.index("\nexec ")  # the keys before the node


def test_compose_curve_export_passes_the_compose_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = []
    for name in ("pipeline", "pubsub"):
        out = tmp_path / f"{name}.compose.yaml"
        out.write_text(run_export(capsys, curve_file(tmp_path, name), None, "compose"))
        files.append(str(out))
    argv = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *files]
    result = subprocess.run(offline(argv), capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("engine", ["kubernetes", "compose"])
def test_without_secrets_out_the_export_says_the_keys_are_still_to_write(
    engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export(engine, str(curve_file(tmp_path, "pipeline")), None, "zmqrun:test", None) == 0
    said = capsys.readouterr()
    assert "write them with --secrets-out DIR" in said.err and said.out  # the manifests are still written
    assert export(engine, str(ROOT / "topologies" / "pipeline.yaml"), None, "zmqrun:test", None) == 0
    assert capsys.readouterr().err == ""  # no CURVE, nothing to say


def test_compose_says_where_its_keys_belong_unless_they_are_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = str(curve_file(tmp_path, "pipeline"))
    out = tmp_path / "deploy" / "compose.yaml"
    out.parent.mkdir()
    assert export("compose", file, str(out), "zmqrun:test", None, (), str(out.parent / "pipeline-curve")) == 0
    assert capsys.readouterr().err == ""
    assert export("compose", file, str(out), "zmqrun:test", None, (), str(tmp_path / "elsewhere")) == 0
    assert "looks for its CURVE keys in ./pipeline-curve/ beside it" in capsys.readouterr().err


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


def test_cli_writes_the_compose_file_and_its_keys_beside_it(zmqrun: Any, tmp_path: Path) -> None:
    deploy = tmp_path / "deploy"
    file = str(curve_file(tmp_path, "pubsub"))
    result = zmqrun.run("export", "compose", file, "--image", "z:1", "-o", str(deploy / "compose.yaml"),
                        "--secrets-out", str(deploy / "pubsub-curve"))  # fmt: skip
    assert result.returncode == 0 and result.stderr == "", result.stderr
    doc = yaml.safe_load((deploy / "compose.yaml").read_text())
    for ref in doc["secrets"].values():
        assert (deploy / ref["file"]).is_file()  # every file the Compose file names, where it looks
    result = zmqrun.run("export", "compose", file, "--image", "z:1", "--secrets-out", str(deploy / "pubsub-curve"))
    assert result.returncode != 0 and "already holds" in result.stderr and result.stdout == ""
