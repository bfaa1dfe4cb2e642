"""Kubernetes objects for translated workloads: Deployment, StatefulSet or Job per node, a
Service and a NetworkPolicy per binding node; plain dicts in a fixed order, so output is stable."""

from __future__ import annotations

import math
import signal
from typing import Any

from orchestrator.export import curve
from orchestrator.export.command import INDEX_VAR, command
from orchestrator.export.workloads import Naming, Workload, project_name

WAITER = ["python", "-m", "orchestrator.export.jobwait"]  # the waiting step, from the node's own image
NAMING = Naming(service=lambda name: name, replica=lambda name, r: f"{name}-{r - 1}.{name}")
# Where each controller publishes a pod's 0-based index (StatefulSet: 1.28+, Indexed Job: 1.21+).
INDEX_FIELD = {
    "StatefulSet": "metadata.labels['apps.kubernetes.io/pod-index']",
    "Job": "metadata.annotations['batch.kubernetes.io/job-completion-index']",
}


def labels(workload: Workload, topology: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": workload.name, "app.kubernetes.io/part-of": project_name(topology)}


def kind_of(workload: Workload) -> str:
    if workload.one_shot:
        return "Job"
    return "StatefulSet" if workload.replicas > 1 else "Deployment"


def render(workloads: tuple[Workload, ...], topology: str, namespace: str | None = None) -> list[dict[str, Any]]:
    """The objects, in topology order (Service, NetworkPolicy, the waiting step's RBAC, then the
    workload per node)."""
    meta = {"namespace": namespace} if namespace else {}
    docs: list[dict[str, Any]] = []
    for w in workloads:
        tags = labels(w, topology)
        if w.ports:
            docs.append(_service(w, tags, meta))
            docs.append(_policy(w, tags, meta))
        if completed(w):
            docs.extend(_access(w, tags, meta))
        docs.append(_workload(w, tags, meta))
    return docs


def completed(w: Workload) -> list[str]:
    """The Jobs `w` starts after, once each has completed (`process_completed_successfully`)."""
    return [dep for dep, cond in w.after if cond == "process_completed_successfully"]


def _access(w: Workload, tags: dict[str, str], meta: dict[str, str]) -> list[dict[str, Any]]:
    """What the waiting step may ask the API: `get` on exactly the Jobs it waits for, no more."""
    head = {"name": w.name, **meta, "labels": dict(tags)}
    rbac = "rbac.authorization.k8s.io"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(head)},
        {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": dict(head),
         "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "resourceNames": completed(w), "verbs": ["get"]}]},
        {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": dict(head),
         "roleRef": {"apiGroup": rbac, "kind": "Role", "name": w.name},
         "subjects": [{"kind": "ServiceAccount", "name": w.name}]},
    ]  # fmt: skip


def _service(w: Workload, tags: dict[str, str], meta: dict[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if w.each:  # headless: one DNS name per pod, `name-0.name`, ... (a ClusterIP balances per connection)
        spec["clusterIP"] = "None"
    spec["selector"] = dict(tags)
    spec["ports"] = [{"name": p.name, "port": p.number, "targetPort": p.number, "protocol": "TCP"} for p in w.ports]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": w.name, **meta, "labels": dict(tags)},
        "spec": spec,
    }


def _policy(w: Workload, tags: dict[str, str], meta: dict[str, str]) -> dict[str, Any]:
    part_of = {"app.kubernetes.io/part-of": tags["app.kubernetes.io/part-of"]}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": w.name, **meta, "labels": dict(tags)},
        "spec": {
            "podSelector": {"matchLabels": dict(tags)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": part_of}}],
                         "ports": [{"protocol": "TCP", "port": p.number} for p in w.ports]}],
        },
    }  # fmt: skip


def _workload(w: Workload, tags: dict[str, str], meta: dict[str, str]) -> dict[str, Any]:
    kind = kind_of(w)
    indexed = w.replicas > 1
    pod: dict[str, Any] = {}
    if kind == "Job" and w.each:
        pod["subdomain"] = w.name  # with the headless Service: `name-0.name`, as for a StatefulSet
    pod["restartPolicy"] = _restart_policy(w)
    if completed(w):
        pod["serviceAccountName"] = w.name
        # Kubernetes starts every workload at once; this order a readiness probe cannot give.
        pod["initContainers"] = [{"name": "wait", "image": w.image, "command": [*WAITER, *completed(w)]}]
    pod["enableServiceLinks"] = False  # the ZMQRUN_* contract is the node's whole environment
    pod["terminationGracePeriodSeconds"] = 0 if w.node.stop_signal == signal.SIGKILL else math.ceil(w.node.grace)
    pod["containers"] = [_container(w, kind if indexed else None)]
    if w.curve:
        pod["volumes"] = [curve.volume(w)]
    template = {"metadata": {"labels": dict(tags)}, "spec": pod}
    spec: dict[str, Any]
    if kind == "Job":
        spec = {"backoffLimit": 0 if w.node.restart.policy == "no" else w.node.restart.limit}
        if indexed:
            spec.update(completionMode="Indexed", completions=w.replicas, parallelism=w.replicas)
        spec["template"] = template
        api = "batch/v1"
    else:
        spec = {"replicas": w.replicas}
        if kind == "StatefulSet":
            if w.each:
                spec["serviceName"] = w.name
            spec["podManagementPolicy"] = "Parallel"  # peers find each other; no need to start in turn
        spec["selector"] = {"matchLabels": dict(tags)}
        spec["template"] = template
        api = "apps/v1"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": w.name, **meta, "labels": dict(tags)}, "spec": spec}


def _restart_policy(w: Workload) -> str:
    if not w.one_shot:
        return "Always"  # the only policy a Deployment or StatefulSet allows
    return "Never" if w.node.restart.policy == "no" else "OnFailure"


def _container(w: Workload, index_from: str | None) -> dict[str, Any]:
    launch = w.template if index_from else w.launches[0]
    plain = curve.keyless(launch.env) if w.curve else launch.env
    env: list[dict[str, Any]] = [{"name": k, "value": _escape(v)} for k, v in plain]
    if index_from:
        env.append({"name": INDEX_VAR, "valueFrom": {"fieldRef": {"fieldPath": INDEX_FIELD[index_from]}}})
    c: dict[str, Any] = {
        "name": w.name,
        "image": w.image,
        "command": [_escape(a) for a in command(launch, bool(index_from), curve.prelude() if w.curve else ())],
    }
    if w.node.cwd:
        c["workingDir"] = w.node.cwd
    c["env"] = env
    if w.curve:
        c["volumeMounts"] = [curve.mount()]
    if w.ports:
        c["ports"] = [{"name": p.name, "containerPort": p.number, "protocol": "TCP"} for p in w.ports]
        c["readinessProbe"] = {"tcpSocket": {"port": w.ports[0].number}, "periodSeconds": 2}
    if w.node.stop_signal not in (signal.SIGTERM, signal.SIGKILL):
        # Kubernetes stops with SIGTERM; deliver the node's own stop signal first (it is PID 1).
        name = signal.Signals(w.node.stop_signal).name[3:]
        c["lifecycle"] = {"preStop": {"exec": {"command": ["/bin/sh", "-c", f"kill -{name} 1"]}}}
    return c


def _escape(text: str) -> str:
    """The kubelet expands $(VAR) in command and env values, and reads `$$` as one literal `$`."""
    return text.replace("$", "$$")
