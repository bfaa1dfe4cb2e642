"""CURVE across hosts: the manifests name a secret per node (Kubernetes) or per replica service
(Compose) and never hold a key; the keys, made fresh at each export, go only into the files
written by `--secrets-out`.

In the container, the node's command first copies its secret key from the read-only mount into a
0700 directory of its own (the kubelet's volume is a 1777 directory of symlinks, a Swarm secret
is 0444 and a Compose bind mount keeps the host file's owner: the helper rightly refuses or
cannot rely on each) and sources its public keys (an env file, quoted)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from orchestrator.export.workloads import Launch, Workload
from orchestrator.security.keys import Keyring

MOUNT = "/var/run/zmqrun/curve"  # where the node's Secret is mounted, read-only
SECRET_FILE_VAR = "ZMQRUN_CURVE_SECRETKEY_FILE"


def secret_name(w: Workload) -> str:
    return f"{w.name}-curve"


def _keyed(name: str) -> bool:
    """Variables whose values are keys (public ones, or where the secret one is)."""
    return name in ("ZMQRUN_CURVE_PUBLICKEY", SECRET_FILE_VAR) or (
        name.startswith("ZMQRUN_SOCKET_") and name.endswith(("_CLIENTKEYS", "_SERVERKEYS", "_SERVERKEY"))
    )


def keyless(env: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The environment for a manifest: no key, so every export of one file gives the same bytes.
    ZMQRUN_SOCKETS keeps `security: curve` without the keys, so a node whose env file is missing
    fails closed (the helper refuses a CURVE socket without its keys) rather than run plain."""
    out = []
    for k, v in env:
        if _keyed(k):
            continue
        if k == "ZMQRUN_SOCKETS":
            specs = json.loads(v)
            for spec in specs.values():
                spec.pop("clientkeys", None)
                spec.pop("serverkeys", None)
            v = json.dumps(specs, separators=(",", ":"))
        out.append((k, v))
    return tuple(out)


def env_file(launch: Launch) -> str:
    """What the pod sources before exec: the key-bearing variables, shell-quoted."""
    keep = [(k, v) for k, v in launch.env if (_keyed(k) and k != SECRET_FILE_VAR) or k == "ZMQRUN_SOCKETS"]
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in keep)


def prelude(key: str = f"{MOUNT}/$ZMQRUN_REPLICA.key", env: str = f"{MOUNT}/$ZMQRUN_REPLICA.env") -> list[str]:
    """Shell lines run before the node: its secret key (at `key`, read-only) copied 0600 into a
    new 0700 directory, its key variables (`env`) sourced; any failure ends the container before
    the node. The defaults are the Kubernetes Secret volume, where ZMQRUN_REPLICA picks the file."""
    copy = f'{SECRET_FILE_VAR}=$(mktemp -d)/key && (umask 077 && cat "{key}" > "${SECRET_FILE_VAR}")'
    return [f'{copy} && . "{env}" || exit 1', f"export {SECRET_FILE_VAR}"]


def replica_keys(w: Workload, keys: Keyring) -> list[tuple[str, str]]:
    """Per replica, in order: its secret key file's text and its env file's text."""
    return [(keys.pairs[f"{w.node.name}.{r}"].secret + "\n", env_file(launch))
            for r, launch in enumerate(w.launches, start=1)]  # fmt: skip


def volume(w: Workload) -> dict[str, Any]:
    return {"name": "curve", "secret": {"secretName": secret_name(w), "defaultMode": 0o400}}


def mount() -> dict[str, Any]:
    return {"name": "curve", "mountPath": MOUNT, "readOnly": True}


def secrets(workloads: tuple[Workload, ...], keys: Keyring, tags: Any, namespace: str | None) -> list[dict[str, Any]]:
    """One Secret per CURVE node: `R.key` (replica R's secret key) and `R.env` (its key variables)."""
    meta = {"namespace": namespace} if namespace else {}
    docs = []
    for w in workloads:
        if not w.curve:
            continue
        data: dict[str, str] = {}
        for r, (key, env) in enumerate(replica_keys(w, keys), start=1):
            data[f"{r}.key"] = key
            data[f"{r}.env"] = env
        docs.append({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret_name(w), **meta, "labels": tags(w)},
            "type": "Opaque", "stringData": data,
        })  # fmt: skip
    return docs
