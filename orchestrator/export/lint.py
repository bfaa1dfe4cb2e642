"""zmqrun's own checks of exported manifests, for what schema validators pass: selectors that
match their pod labels, DNS-1123 names, ports in range, and every endpoint naming a Service or
pod that the same output defines with that port. Findings are strings; none means clean."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from orchestrator.export.kubernetes import WAITER

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
PORT_NAME = re.compile(r"^(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$")
SERVICE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
ENDPOINT = re.compile(r"^tcp://([^:/]+):(\d+)$")
WORKLOADS = {"Deployment", "StatefulSet", "Job"}


def _port_ok(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _twice(where: str, names: list[str]) -> list[str]:
    """Port names given to more than one port: the API server refuses them."""
    return [
        f"{where}: port name {n!r} is given to more than one port" for n in sorted(set(names)) if names.count(n) > 1
    ]


def _connects(env: Iterable[tuple[str, str]]) -> list[str]:
    """The endpoints a container connects to, from its ZMQRUN_SOCKETS."""
    for key, value in env:
        if key == "ZMQRUN_SOCKETS":
            return [e for s in json.loads(value).values() if not s["bind"] for e in s["endpoints"]]
    return []


def _reach(endpoint: str, names: dict[str, set[int]], external: set[str], where: str) -> list[str]:
    if endpoint in external:
        return []
    m = ENDPOINT.match(endpoint)
    if not m:
        return [f"{where}: endpoint {endpoint} is not tcp://NAME:PORT"]
    host, port = m.group(1), int(m.group(2))
    if host not in names:
        return [f"{where}: endpoint {endpoint}: no Service or pod named {host!r} in the output"]
    if port not in names[host]:
        return [f"{where}: endpoint {endpoint}: {host} has no port {port} (it has {sorted(names[host]) or 'none'})"]
    return []


def _waits(docs: list[dict[str, Any]]) -> list[str]:
    """Each waiting step (export/jobwait.py) names Jobs in the output, and the pod's service
    account is bound to a Role that may `get` each of them (else it waits for ever)."""
    found: list[str] = []
    jobs = {d["metadata"]["name"] for d in docs if d.get("kind") == "Job"}
    accounts = {d["metadata"]["name"] for d in docs if d.get("kind") == "ServiceAccount"}
    roles = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Role"}
    allowed: dict[str, set[str]] = {}  # service account -> Jobs it may get
    for b in (d for d in docs if d.get("kind") == "RoleBinding"):
        where = f"RoleBinding/{b['metadata']['name']}"
        role = roles.get(b.get("roleRef", {}).get("name", ""))
        if role is None:
            found.append(f"{where}: roleRef names no Role in the output")
            continue
        for subject in b.get("subjects", []):
            if subject.get("kind") == "ServiceAccount" and subject.get("name") not in accounts:
                found.append(f"{where}: subject {subject.get('name')!r} is no ServiceAccount in the output")
            for rule in role.get("rules", []):
                if (
                    "batch" in rule.get("apiGroups", [])
                    and "jobs" in rule.get("resources", [])
                    and ("get" in rule.get("verbs", []))
                ):
                    allowed.setdefault(subject.get("name", ""), set()).update(rule.get("resourceNames", []))
    for doc in docs:
        if doc.get("kind") not in WORKLOADS:
            continue
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        pod = doc["spec"]["template"]["spec"]
        account = pod.get("serviceAccountName")
        if account is not None and account not in accounts:
            found.append(f"{where}: serviceAccountName {account!r} is no ServiceAccount in the output")
        for c in pod.get("initContainers", []):
            if c.get("command", [])[: len(WAITER)] != WAITER:
                continue
            for job in c["command"][len(WAITER) :]:
                if job not in jobs:
                    found.append(f"{where}: waits for job {job!r}, which is no Job in the output")
                elif job not in allowed.get(account or "default", set()):
                    found.append(f"{where}: waits for job {job!r}, which its service account may not get")
    return found


def kubernetes(docs: list[dict[str, Any]], external: Iterable[str] = ()) -> list[str]:
    found: list[str] = _waits(docs)
    templates: list[tuple[str, dict[str, str], list[dict[str, Any]]]] = []  # (kind/name, labels, containers)
    names: dict[str, set[int]] = {}
    seen: set[tuple[str, str]] = set()
    for doc in docs:
        kind, name = doc.get("kind", "?"), doc.get("metadata", {}).get("name", "")
        where = f"{kind}/{name}"
        if (kind, name) in seen:
            found.append(f"{where}: defined twice")
        seen.add((kind, name))
        pattern = DNS_1035 if kind == "Service" else DNS_LABEL
        if not pattern.match(name):
            found.append(f"{where}: name {name!r} is not a DNS-{'1035' if kind == 'Service' else '1123'} label")
        spec = doc.get("spec", {})
        if kind in WORKLOADS:
            labels = spec["template"]["metadata"].get("labels", {})
            wanted = spec.get("selector", {}).get("matchLabels", {})
            if kind != "Job" and (not wanted or any(labels.get(k) != v for k, v in wanted.items())):
                found.append(f"{where}: selector {wanted} does not match the pod template's labels {labels}")
            pod = spec["template"]["spec"]
            templates.append((where, labels, pod["containers"]))
            for c in pod["containers"]:
                found += _twice(where, [p["name"] for p in c.get("ports", []) if "name" in p])
                for p in c.get("ports", []):
                    if not _port_ok(p.get("containerPort")):
                        found.append(f"{where}: containerPort {p.get('containerPort')!r} is not a port (1-65535)")
                    if "name" in p and not PORT_NAME.match(p["name"]):
                        found.append(f"{where}: port name {p['name']!r} is not an IANA service name")
                probe = c.get("readinessProbe", {}).get("tcpSocket", {}).get("port")
                if probe is not None and probe not in {p.get("containerPort") for p in c.get("ports", [])}:
                    found.append(f"{where}: readiness probe port {probe} is not a port of the container")
            replicas = spec.get("completions", spec.get("replicas", 1))
            service = spec.get("serviceName") or pod.get("subdomain")
            if service:
                ports = {p.get("containerPort") for c in pod["containers"] for p in c.get("ports", [])}
                for i in range(replicas):
                    names[f"{name}-{i}.{service}"] = ports
    for doc in docs:
        if doc.get("kind") != "Service":
            continue
        name, spec = doc["metadata"]["name"], doc["spec"]
        where = f"Service/{name}"
        selector = spec.get("selector", {})
        chosen = [t for t in templates if selector and all(t[1].get(k) == v for k, v in selector.items())]
        if not chosen:
            found.append(f"{where}: selector {selector} matches no pod template in the output")
        served = {p.get("containerPort") for t in chosen for c in t[2] for p in c.get("ports", [])}
        found += _twice(where, [p["name"] for p in spec.get("ports", []) if "name" in p])
        for p in spec.get("ports", []):
            if not _port_ok(p.get("port")) or not _port_ok(p.get("targetPort", p.get("port"))):
                found.append(f"{where}: port {p.get('port')!r} -> {p.get('targetPort')!r} is not a port (1-65535)")
            elif p.get("targetPort", p["port"]) not in served:
                found.append(f"{where}: targetPort {p.get('targetPort', p['port'])} is no container's port")
            if "name" in p and not PORT_NAME.match(p["name"]):
                found.append(f"{where}: port name {p['name']!r} is not an IANA service name")
        if spec.get("clusterIP") != "None":
            names[name] = {p.get("port") for p in spec.get("ports", [])}
        else:
            names.setdefault(name, {p.get("port") for p in spec.get("ports", [])})
    ext = set(external)
    for where, _, containers in templates:
        for c in containers:
            env = [(e["name"], e["value"].replace("$$", "$")) for e in c.get("env", []) if "value" in e]
            for endpoint in _connects(env):
                found += _reach(endpoint, names, ext, where)
    return found


def compose(doc: dict[str, Any], external: Iterable[str] = ()) -> list[str]:
    found: list[str] = []
    services = doc.get("services", {})
    names: dict[str, set[int]] = {}
    for name, s in services.items():
        if not SERVICE.match(name):
            found.append(f"service {name!r}: not a valid service name")
        ports = set()
        for p in s.get("expose", []):
            if not str(p).isdigit() or not _port_ok(int(p)):
                found.append(f"service {name}: expose {p!r} is not a port (1-65535)")
            else:
                ports.add(int(p))
        names[name] = ports
        for dep in s.get("depends_on", {}):
            if dep not in services:
                found.append(f"service {name}: depends on {dep!r}, which is not a service")
    ext = set(external)
    for name, s in services.items():
        env = [(k, v.replace("$$", "$")) for k, v in s.get("environment", {}).items()]
        for endpoint in _connects(env):
            found += _reach(endpoint, names, ext, f"service {name}")
    return found
