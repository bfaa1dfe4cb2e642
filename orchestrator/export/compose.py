"""A Compose file for translated workloads: one service per node, or per replica when replicas
must be told apart; zmqrun's start order as depends_on conditions, readiness as healthchecks;
CURVE keys as file secrets, one key and one env file per service, never in the file itself."""

from __future__ import annotations

import signal
from typing import Any

from orchestrator.errors import Problem
from orchestrator.export import curve, replica
from orchestrator.export.command import command
from orchestrator.export.workloads import REPLICA_MARK, Naming, Workload, project_name
from orchestrator.security.keys import Keyring

REPLICA = ("python", "-m", "orchestrator.export.replica")  # a replica's number, from the image's zmqrun
NAMING = Naming(service=lambda name: name, replica=lambda name, r: f"{name}-{r}")
CONDITION = {
    "process_started": "service_started",
    "process_ready": "service_healthy",
    "process_completed_successfully": "service_completed_successfully",
}
# Where a service finds its CURVE files: Compose mounts a secret read-only at /run/secrets/TARGET.
KEY_TARGET, ENV_TARGET = "zmqrun-curve.key", "zmqrun-curve.env"
SECRETS = "/run/secrets"


def secrets_dir(project: str) -> str:
    """Where the Compose file looks for the key files, relative to its own directory (Compose's
    project directory): beside the file, named after the project, so two exports do not mix."""
    return f"{project}-curve"


def grouped(w: Workload) -> bool:
    """Whether a node's replicas are one service with `deploy.replicas`: they connect only (no
    peer must reach each one), hold no key of their own, and differ in nothing but
    ZMQRUN_REPLICA, which each container learns at start (export/replica.py)."""
    t = w.template
    mark = str(REPLICA_MARK)
    varies = any(mark in x for x in (*t.argv, *(v for _, v in t.env), *(t.stdin or ())))
    return w.replicas > 1 and not w.ports and not w.curve and not varies


def service_names(w: Workload) -> list[str]:
    """Compose gives the replicas of one service no name of their own, so each replica of a node
    that binds (peers reach each one, by DNS) or has its own keys or command is its own service."""
    if w.replicas == 1 or grouped(w):
        return [w.name]
    return [NAMING.replica(w.name, r) for r in range(1, w.replicas + 1)]


def clashes(workloads: tuple[Workload, ...], file: str) -> list[Problem]:
    """A service per replica is named `NODE-R`: a node of that very name would be overwritten."""
    owner = {w.name: w for w in workloads}
    problems = []
    for w in workloads:
        for r, name in enumerate(service_names(w), start=1):
            other = owner.get(name)
            if name != w.name and other is not None:
                problems.append(Problem(file, other.node.line, f"nodes.{other.node.name}",
                                        f"Compose names replica {r} of node {w.node.name!r} {name!r}, the name of "
                                        "this node; rename one of them"))  # fmt: skip
    return problems


def render(workloads: tuple[Workload, ...], topology: str) -> dict[str, Any]:
    by_name = {w.name: w for w in workloads}
    where = secrets_dir(project_name(topology))  # the key files' folder, beside the Compose file
    services: dict[str, Any] = {}
    files: dict[str, Any] = {}
    for w in workloads:
        project = project_name(topology)
        for name, launch in zip(service_names(w), (w.template,) if grouped(w) else w.launches):
            s: dict[str, Any] = {"image": w.image, "init": True}  # an init as PID 1 forwards the stop signal
            prelude: tuple[str, ...] = ()
            if w.curve:
                prelude = tuple(curve.prelude(f"{SECRETS}/{KEY_TARGET}", f"{SECRETS}/{ENV_TARGET}"))
            if grouped(w):
                s["deploy"] = {"replicas": w.replicas}
                prelude = (f"ZMQRUN_REPLICA=$({' '.join(REPLICA)} {project} {name} {w.replicas}) || exit 1",
                           "export ZMQRUN_REPLICA")  # fmt: skip
            s["command"] = [_escape(a) for a in command(launch, indexed=False, prelude=prelude)]
            if w.node.cwd:
                s["working_dir"] = w.node.cwd
            s["environment"] = {k: _escape(v) for k, v in (curve.keyless(launch.env) if w.curve else launch.env)}
            if grouped(w):
                s["environment"][replica.SLOT_VAR] = "{{.Task.Slot}}"  # Swarm's replica number; see replica.py
            if w.curve:
                # No mode/uid/gid: plain `docker compose` bind-mounts the file and ignores them
                # (Swarm copies it 0444); the command copies the key to a private file either way.
                s["secrets"] = [{"source": f"{name}-curve-key", "target": KEY_TARGET},
                                {"source": f"{name}-curve-env", "target": ENV_TARGET}]  # fmt: skip
                files[f"{name}-curve-key"] = {"file": f"./{where}/{name}.key"}
                files[f"{name}-curve-env"] = {"file": f"./{where}/{name}.env"}
            if w.ports:
                s["expose"] = [str(p.number) for p in w.ports]
                probe = f"import socket; socket.create_connection(('127.0.0.1', {w.ports[0].number}), 1).close()"
                s["healthcheck"] = {"test": ["CMD", "python", "-c", probe], "interval": "1s", "timeout": "1s",
                                    "retries": 60, "start_period": "1s"}  # fmt: skip
            depends = {}
            for dep, cond in w.after:
                target = by_name[dep]
                wanted = CONDITION[cond]
                if wanted == "service_healthy" and not target.ports:
                    wanted = "service_started"  # no port to probe: started is all that can be known
                for dep_name in service_names(target):
                    depends[dep_name] = {"condition": wanted}
            if depends:
                s["depends_on"] = depends
            s["restart"] = _restart(w)
            s["stop_signal"] = signal.Signals(w.node.stop_signal).name
            s["stop_grace_period"] = f"{w.node.grace:g}s"
            services[name] = s
    doc = {"name": project_name(topology), "services": services}
    if files:
        doc["secrets"] = files
    return doc


def secret_files(workloads: tuple[Workload, ...], keys: Keyring) -> dict[str, str]:
    """What `--secrets-out` writes for Compose: per CURVE service `NAME.key` (its secret key)
    and `NAME.env` (its public keys, as `export` lines), the names the Compose file gives."""
    out = {}
    for w in workloads:
        if w.curve:
            for name, (key, env) in zip(service_names(w), curve.replica_keys(w, keys)):
                out[f"{name}.key"], out[f"{name}.env"] = key, env
    return out


def _restart(w: Workload) -> str:
    policy = w.node.restart
    if policy.policy == "on-failure":
        return f"on-failure:{policy.limit}"
    return policy.policy


def _escape(text: str) -> str:
    """Compose interpolates $VAR and ${VAR} everywhere; `$$` keeps a dollar literal."""
    return text.replace("$", "$$")
