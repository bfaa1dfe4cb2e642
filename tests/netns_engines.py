"""Exported manifests turned into the engine-neutral pods the netns harness runs
(tests/netns_cluster.py): each engine's adapter decides what a container's command, environment,
DNS names and mounted files are, as that engine would, with the local Python for the image."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from netns_cluster import SECRETS_ROOT, Pod

VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
COMPOSE_VAR = re.compile(r"\$\$|\$\{?[A-Za-z_]")
PATH = os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"])


# ---- Kubernetes ------------------------------------------------------------------------------


class KubePod(NamedTuple):
    """A pod as a controller would create it, before the kubelet runs its container."""

    name: str  # the pod's own name (and hostname)
    labels: dict[str, str]
    annotations: dict[str, str]
    subdomain: str | None  # the headless Service that gives it `name.subdomain`
    container: dict[str, Any]


def kubernetes_pods(docs: list[dict[str, Any]], secrets: dict[str, str], scratch: Path) -> list[Pod]:
    """The pods of `docs`; their Secret volumes (from the `--secrets-out` files `secrets`) laid
    out under `scratch` as the kubelet does, and mounted at their mountPath in the pod."""
    secret_docs = [next(d for d in yaml.safe_load_all(text) if d) for text in secrets.values()]
    kube = controller_pods(docs)
    names: dict[str, list[str]] = {p.name: [] for p in kube}
    for doc in docs:  # as cluster DNS answers: a Service's name gives its pods (one pod here
        if doc["kind"] != "Service":  # stands for a ClusterIP), `pod.service` each pod of a headless one
            continue
        service, selector = doc["metadata"]["name"], doc["spec"]["selector"]
        for p in kube:
            if all(p.labels.get(k) == v for k, v in selector.items()):
                names[p.name].append(service)
                if p.subdomain == service:
                    names[p.name].append(f"{p.name}.{service}")
    out = []
    for p in kube:
        env = environment(p)
        argv = [expand(w, env) for w in p.container["command"] + p.container.get("args", [])]
        out.append(Pod(p.name, tuple(names[p.name]), argv, env, _volumes(p, docs, secret_docs, scratch)))
    return out


def controller_pods(docs: list[dict[str, Any]]) -> list[KubePod]:
    """The pods each controller would create, with the labels and annotations it would add."""
    out = []
    for doc in docs:
        kind, name, spec = doc["kind"], doc["metadata"]["name"], doc.get("spec", {})
        if kind not in ("Deployment", "StatefulSet", "Job"):
            continue
        template = spec["template"]
        labels = dict(template["metadata"].get("labels", {}))
        container = template["spec"]["containers"][0]
        assert not template["spec"].get("initContainers"), f"{name}: this stand-in runs no init containers"
        count = spec.get("completions", spec.get("replicas", 1))
        for i in range(count):
            if kind == "StatefulSet":
                out.append(KubePod(f"{name}-{i}", {**labels, "apps.kubernetes.io/pod-index": str(i)}, {},
                                   spec.get("serviceName"), container))  # fmt: skip
            elif kind == "Job" and spec.get("completionMode") == "Indexed":
                out.append(KubePod(f"{name}-{i}", labels, {"batch.kubernetes.io/job-completion-index": str(i)},
                                   template["spec"].get("subdomain"), container))  # fmt: skip
            else:
                out.append(KubePod(f"{name}-{kind.lower()}-{i}", labels, {}, None, container))  # no DNS name
    return out


def environment(pod: KubePod) -> dict[str, str]:
    """The container's environment as the kubelet builds it (values, downward API, $(VAR))."""
    env = {"PATH": PATH, "HOSTNAME": pod.name}
    for item in pod.container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
        else:
            path = item["valueFrom"]["fieldRef"]["fieldPath"]
            m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
            assert m, f"this stand-in does not know fieldPath {path}"
            env[item["name"]] = (pod.labels if m.group(1) == "labels" else pod.annotations)[m.group(2)]
    return env


def expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's $(VAR) expansion: defined variables are replaced, `$$` is one `$`."""
    return VAR.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def _volumes(pod: KubePod, docs: list[dict[str, Any]], secrets: list[dict[str, Any]],
             scratch: Path) -> tuple[tuple[str, str], ...]:  # fmt: skip
    """The kubelet's secret volume, imitated: a 1777 directory whose entries are symlinks
    through `..data` to files of the volume's defaultMode; (host directory, mountPath) each."""
    mounts = pod.container.get("volumeMounts", [])
    if not mounts:
        return ()
    spec = next(d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")
                and d["metadata"]["name"] == pod.labels["app.kubernetes.io/name"])["spec"]["template"]["spec"]  # fmt: skip
    volumes = {v["name"]: v for v in spec["volumes"]}
    out = []
    for m in mounts:
        assert m.get("readOnly"), "the stand-in mounts secret volumes read-only, as they must be"
        source = volumes[m["name"]]["secret"]
        secret = next(d for d in secrets if d["metadata"]["name"] == source["secretName"])
        root = scratch / pod.name / m["name"]
        stamped = root / "..2026_01_01_00_00_00.000000001"
        stamped.mkdir(parents=True)
        for key, value in secret["stringData"].items():
            (stamped / key).write_text(value)
            os.chmod(stamped / key, source["defaultMode"])
            os.symlink(f"..data/{key}", root / key)
        os.symlink(stamped.name, root / "..data")
        os.chmod(root, 0o1777)
        out.append((str(root), m["mountPath"]))
    return tuple(out)


# ---- Compose ---------------------------------------------------------------------------------


def compose_pods(file: Path) -> list[Pod]:
    """The services of the Compose file at `file`, one container each (or `deploy.replicas`,
    named PROJECT-SERVICE-N), reached by the service's name, and each replica by its container
    name, as Compose's network DNS answers. A file secret is what plain `docker compose` makes of
    it: the host file (relative to the Compose file's directory), bind-mounted read-only at
    /run/secrets/TARGET, keeping the host file's mode and owner. Every service starts at once
    (no depends_on order), which only a `service_completed_successfully` wait could need."""
    doc = next(d for d in yaml.safe_load_all(file.read_text()) if d)
    files = doc.get("secrets", {})
    out = []
    for name, s in doc["services"].items():
        waits = [d for d, c in s.get("depends_on", {}).items() if c["condition"] == "service_completed_successfully"]
        assert not waits, f"{name} waits for {waits} to complete, an order this stand-in does not keep"
        env = {"PATH": PATH, "HOSTNAME": name, **{k: interpolate(v) for k, v in s.get("environment", {}).items()}}
        mounts = []
        for ref in s.get("secrets", []):
            target = ref.get("target", ref["source"])
            target = target if target.startswith("/") else f"{SECRETS_ROOT}/secrets/{target}"
            mounts.append((str((file.parent / files[ref["source"]]["file"]).resolve()), target))
        argv = [interpolate(w) for w in s["command"]]
        count = s.get("deploy", {}).get("replicas")
        if count is None:
            out.append(Pod(name, (name,), argv, env, tuple(mounts)))
            continue
        for n in range(1, count + 1):  # Compose's containers: PROJECT-SERVICE-N, each reached by that name
            container = f"{doc['name']}-{name}-{n}"
            out.append(Pod(container, (name, container), argv, {**env, "HOSTNAME": container}, tuple(mounts)))
    return out


def interpolate(text: str) -> str:
    """Compose's interpolation of what zmqrun writes: `$$` is one `$`; a ${VAR} or $VAR would
    take the value from the shell running compose, which an export must never leave to chance."""

    def one(m: re.Match[str]) -> str:
        assert m.group(0) == "$$", f"unescaped {m.group(0)!r} in {text!r}: Compose would interpolate it"
        return "$"

    return COMPOSE_VAR.sub(one, text)
