"""`process_completed_successfully` on Kubernetes: the export's waiting step (an init container
asking the API whether the Job has completed, with a Role that may `get` only those Jobs), the
lint that keeps it consistent, and the waiter itself against a stand-in API server on loopback,
over TLS checked against the pod's CA file as in a pod."""

from __future__ import annotations

import copy
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_export import BIN, KUBERNETES_VERSIONS, k8s, offline, write

from orchestrator.commands.export import export_documents
from orchestrator.export import jobwait, lint

ORDERED = """
    image: zmqrun:1
    nodes:
      setup: {run: python -m s}
      migrate: {run: python -m m, replicas: 2}
      main:
        run: python -m m
        sockets: {rep: {type: REP, bind: true}}
        depends_on: {setup: process_completed_successfully, migrate: process_completed_successfully}
      other: {run: python -m o, depends_on: {main: process_ready}}
"""


def test_completion_order_becomes_an_init_step_with_its_own_narrow_role(tmp_path: Path) -> None:
    objs = k8s(write(tmp_path, ORDERED))
    assert objs[("Job", "setup")] and objs[("Job", "migrate")]["spec"]["completionMode"] == "Indexed"
    pod = objs[("Deployment", "main")]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["command"] == ["python", "-m", "orchestrator.export.jobwait", "setup", "migrate"]
    assert init["image"] == pod["containers"][0]["image"] and pod["serviceAccountName"] == "main"
    role = objs[("Role", "main")]
    assert role["rules"] == [{"apiGroups": ["batch"], "resources": ["jobs"], "resourceNames": ["setup", "migrate"],
                              "verbs": ["get"]}]  # fmt: skip
    binding = objs[("RoleBinding", "main")]
    assert binding["roleRef"]["name"] == "main" and binding["subjects"] == [{"kind": "ServiceAccount", "name": "main"}]
    assert ("ServiceAccount", "main") in objs
    # Only where the order needs it: readiness is a probe, not an init step.
    other = objs[("Deployment", "other")]["spec"]["template"]["spec"]
    assert "initContainers" not in other and "serviceAccountName" not in other
    assert ("Role", "other") not in objs


@pytest.mark.timeout(200)
def test_the_waiting_step_passes_the_kubernetes_schemas(tmp_path: Path) -> None:
    docs = tmp_path / "ordered.k8s.yaml"
    from orchestrator.commands.export import export_text

    docs.write_text(export_text(str(write(tmp_path, ORDERED)), "kubernetes", namespace="lab"))
    for version in KUBERNETES_VERSIONS:
        argv = [str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", version, str(docs)]
        result = subprocess.run(offline(argv), capture_output=True, text=True, timeout=90, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def _docs(tmp_path: Path) -> list[dict[str, Any]]:
    docs, _ = export_documents(str(write(tmp_path, ORDERED)), "kubernetes", image="z:1")
    assert lint.kubernetes(docs) == []
    return docs


def _drop(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] != kind]


def _rename_job(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    docs = copy.deepcopy(docs)
    next(d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == "setup")["metadata"]["name"] = "setup2"
    return docs


def _narrow_role(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    docs = copy.deepcopy(docs)
    next(d for d in docs if d["kind"] == "Role")["rules"][0]["resourceNames"] = ["setup"]
    return docs


@pytest.mark.parametrize("breaking,message", [
    (_rename_job, "waits for job 'setup', which is no Job in the output"),
    (_narrow_role, "waits for job 'migrate', which its service account may not get"),
    (lambda d: _drop(d, "RoleBinding"), "which its service account may not get"),
    (lambda d: _drop(d, "Role"), "roleRef names no Role"),
    (lambda d: _drop(d, "ServiceAccount"), "serviceAccountName 'main' is no ServiceAccount"),
])  # fmt: skip
def test_lint_finds_a_waiting_step_that_would_wait_for_ever(tmp_path: Path, breaking: Any, message: str) -> None:
    found = lint.kubernetes(breaking(_docs(tmp_path)))
    assert any(message in f for f in found), found


# ---- the waiter, against a stand-in API server ---------------------------------------------------


class _Api(ThreadingHTTPServer):
    answers: dict[str, list[tuple[int, dict[str, Any]]]]  # path -> answers in turn (the last repeats)
    seen: list[tuple[str, str]]  # (path, Authorization header)


class _Handler(BaseHTTPRequestHandler):
    server: _Api

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization", "")))
        queue = self.server.answers.get(self.path, [(404, {"kind": "Status", "reason": "NotFound"})])
        code, body = queue.pop(0) if len(queue) > 1 else queue[0]
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[_Api, Path]]:
    """An HTTPS server on 127.0.0.1 and a service-account directory as the kubelet mounts it."""
    if shutil.which("openssl") is None:
        why = "openssl is not installed (it makes the stand-in API server's certificate)"
        pytest.fail(why + "; .ci/run installs it") if os.environ.get("CI") else pytest.skip(why)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=api",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(account / "ca.crt")], capture_output=True, timeout=60, check=True)  # fmt: skip
    (account / "token").write_text("tok-123\n")
    (account / "namespace").write_text("lab\n")
    server = _Api(("127.0.0.1", 0), _Handler)
    server.answers, server.seen = {}, []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(account / "ca.crt", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server, account
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _job(*conditions: tuple[str, str]) -> tuple[int, dict[str, Any]]:
    return 200, {"kind": "Job", "status": {"conditions": [{"type": t, "status": s} for t, s in conditions]}}


PATH = "/apis/batch/v1/namespaces/lab/jobs/"


class _Stop(Exception):
    pass


@pytest.mark.timeout(60)
def test_waiter_waits_until_every_job_has_completed(api: tuple[_Api, Path]) -> None:
    server, account = api
    server.answers[PATH + "setup"] = [(404, {}), (403, {}), _job(), _job(("Complete", "True"))]
    server.answers[PATH + "migrate"] = [_job(("Complete", "False")), _job(("Complete", "True"))]
    said: list[str] = []
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(server.server_address[1])}
    assert jobwait.wait(["setup", "migrate"], env, str(account), poll=0.01, say=said.append) == 0
    asked = [p for p, _ in server.seen]
    assert asked.count(PATH + "setup") == 4 and asked.count(PATH + "migrate") == 2  # nothing after Complete
    assert {auth for _, auth in server.seen} == {"Bearer tok-123"}
    assert said[:2] == ["job setup: the API answers 404 Not Found", "job migrate: running"]
    assert "job setup: complete" in said and "job migrate: complete" in said


@pytest.mark.timeout(60)
def test_waiter_fails_as_soon_as_a_job_has_failed(api: tuple[_Api, Path]) -> None:
    server, account = api
    server.answers[PATH + "setup"] = [_job(), _job(("Failed", "True"))]
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(server.server_address[1])}
    said: list[str] = []
    assert jobwait.wait(["setup"], env, str(account), poll=0.01, say=said.append) == 1
    assert said == ["job setup: running", "job setup: failed"]


@pytest.mark.timeout(60)
def test_waiter_refuses_a_server_its_ca_did_not_sign(api: tuple[_Api, Path], tmp_path: Path) -> None:
    """TLS is checked against the pod's CA file: a server it does not vouch for is never trusted."""
    server, account = api
    server.answers[PATH + "setup"] = [_job(("Complete", "True"))]
    other = tmp_path / "other"
    other.mkdir()
    for name in ("token", "namespace"):
        (other / name).write_text((account / name).read_text())
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x",
                    "-keyout", str(tmp_path / "k2.pem"), "-out", str(other / "ca.crt")],
                   capture_output=True, timeout=60, check=True)  # fmt: skip
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(server.server_address[1])}
    said: list[str] = []

    def first(line: str) -> None:  # the waiter would go on waiting: stop it at its first word
        said.append(line)
        raise _Stop

    with pytest.raises(_Stop):
        jobwait.wait(["setup"], env, str(other), poll=0.01, say=first)
    assert "CERTIFICATE_VERIFY_FAILED" in said[0], said  # an unverified answer is no answer
    assert not server.seen  # the token was never sent to it


def test_waiter_runs_as_a_module_and_needs_a_job() -> None:
    result = subprocess.run([sys.executable, "-m", "orchestrator.export.jobwait"], capture_output=True, text=True,
                            timeout=30, check=False)  # fmt: skip
    assert result.returncode == 2 and "usage" in result.stderr
