"""`zmqrun export kubernetes|compose`: load a topology, translate, render, lint, write."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from orchestrator.errors import TopologyError, ZmqrunError
from orchestrator.export import compose, curve, kubernetes, lint
from orchestrator.export.output import dump
from orchestrator.export.workloads import Workload, translate
from orchestrator.security.keys import Keyring
from orchestrator.topology.model import Topology
from orchestrator.topology.validate import load_topology
from orchestrator.writes import write_stdout


class ExportError(ZmqrunError):
    """The exporter produced manifests that fail its own lint: a bug in zmqrun, not the file."""


class SecretsError(ZmqrunError):
    """`--secrets-out` cannot write there (a file of an earlier export is in the way)."""


def _header(topology: Topology, workloads: tuple[Workload, ...], engine: str, naming: Any) -> list[str]:
    lines = [
        f"Exported by `zmqrun export {engine}` from {os.path.basename(topology.file)} (topology {topology.name}).",
        "Bound sockets, with the fixed ports chosen for them (each pod/container has its own address):",
    ]
    for w in workloads:
        for p in w.ports:
            hosts = (
                [naming.replica(w.name, r) for r in range(1, w.replicas + 1)] if w.each else [naming.service(w.name)]
            )
            lines.append(f"  {w.node.name}.{p.socket}: " + " ".join(f"tcp://{h}:{p.number}" for h in hosts))
    return lines


def external(topology: Topology) -> set[str]:
    """Literal endpoints the file gives; they are kept as they are and not the exporter's to resolve."""
    return {t for n in topology.nodes for s in n.sockets for t in s.connect if "://" in t}


def export_documents(file: str, engine: str, image: str | None = None, namespace: str | None = None,
                     env_files: Sequence[str] = (), secrets: dict[str, str] | None = None,
                     ) -> tuple[list[dict[str, Any]], list[str]]:  # fmt: skip
    """The documents for `engine` and the header lines; raises TopologyError with every problem.
    `secrets`, when given, receives the CURVE key files `--secrets-out` writes, by file name
    (keys made now, never in the documents)."""
    topology = load_topology(file, env_files=env_files)
    naming = kubernetes.NAMING if engine == "kubernetes" else compose.NAMING
    keys = Keyring("/nonexistent")
    workloads, problems = translate(topology, naming, image, keys)
    if engine == "kubernetes":
        docs = kubernetes.render(workloads, topology.name, namespace)
        findings = lint.kubernetes(docs, external(topology))
        if secrets is not None:
            note = ["CURVE keys made by `zmqrun export kubernetes --secrets-out`: secret; do not commit."]
            for doc in curve.secrets(workloads, keys, lambda w: kubernetes.labels(w, topology.name), namespace):
                secrets[f"secret-{doc['metadata']['name']}.yaml"] = dump([doc], note)
    else:
        problems += compose.clashes(workloads, topology.file)
        docs = [compose.render(workloads, topology.name)]
        findings = lint.compose(docs[0], external(topology))
        if secrets is not None:
            secrets.update(compose.secret_files(workloads, keys))
    if problems:
        raise TopologyError(problems)
    if findings:
        raise ExportError("the export fails zmqrun's own lint (a bug in zmqrun): " + "; ".join(findings))
    return docs, _header(topology, workloads, engine, naming)


def export_text(file: str, engine: str, image: str | None = None, namespace: str | None = None) -> str:
    docs, header = export_documents(file, engine, image, namespace)
    return dump(docs, header)


def export(engine: str, file: str, out: str | None, image: str | None, namespace: str | None,
           env_files: Sequence[str] = (), secrets_out: str | None = None) -> int:  # fmt: skip
    secrets: dict[str, str] = {}
    docs, header = export_documents(file, engine, image, namespace, env_files, secrets)
    if secrets_out is not None:
        write_secrets(secrets_out, secrets)
    if secrets:
        note = _secrets_note(engine, docs, out, secrets_out)
        if note:
            print(f"zmqrun export: {note}", file=sys.stderr)
    if out is None or out == "-":
        write_stdout(dump(docs, header))
    elif engine == "kubernetes":
        os.makedirs(out, exist_ok=True)
        for doc in docs:
            path = os.path.join(out, f"{doc['kind'].lower()}-{doc['metadata']['name']}.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(dump([doc], header[:1]))
    else:
        with open(out, "w", encoding="utf-8") as f:
            f.write(dump(docs, header))
    return 0


def _secrets_note(engine: str, docs: list[dict[str, Any]], out: str | None, secrets_out: str | None) -> str:
    """What the user must still do for the keys: write them, or put them where Compose looks."""
    if secrets_out is None:
        held = "Secrets" if engine == "kubernetes" else "key files"
        return (
            f"security: curve: the output names CURVE {held} it does not hold; write them with "
            "--secrets-out DIR (new keys each export; keep them out of version control)"
        )
    if engine == "kubernetes":
        return ""
    where = compose.secrets_dir(docs[0]["name"])
    if out is not None and out != "-":
        if os.path.realpath(secrets_out) == os.path.realpath(os.path.join(os.path.dirname(out), where)):
            return ""
        return f"the Compose file looks for its CURVE keys in ./{where}/ beside it; move {secrets_out} there"
    return f"the Compose file looks for its CURVE keys in ./{where}/ beside it; put {secrets_out} there"


def write_secrets(directory: str, secrets: dict[str, str]) -> None:
    """Each file 0600 in a 0700 directory; every file checked free before any is written, and
    never one over an existing file (each export makes new keys, and a half-replaced set would
    not match itself)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    taken = [name for name in secrets if os.path.lexists(os.path.join(directory, name))]
    if taken:
        raise SecretsError(f"--secrets-out: {directory} already holds {', '.join(sorted(taken))} (each export "
                           "makes new keys; remove the old set or choose a new directory)")  # fmt: skip
    for name, text in secrets.items():
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise SecretsError(f"--secrets-out: cannot write {path}: {exc.strerror} (each export makes new keys; "
                               "remove the old set or choose a new directory)") from None  # fmt: skip
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
