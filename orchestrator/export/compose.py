"""A Compose file for translated workloads: one service per node, or per replica when replicas
must be told apart; zmqrun's start order as depends_on conditions, readiness as healthchecks."""

from __future__ import annotations

import signal
from typing import Any

from orchestrator.export.command import command
from orchestrator.export.workloads import Naming, Workload, project_name

NAMING = Naming(service=lambda name: name, replica=lambda name, r: f"{name}-{r}")
CONDITION = {
    "process_started": "service_started",
    "process_ready": "service_healthy",
    "process_completed_successfully": "service_completed_successfully",
}


def service_names(w: Workload) -> list[str]:
    """Compose gives the replicas of one service neither a number nor a name of their own, so
    each replica of a node with several is its own service (ZMQRUN_REPLICA, `{replica}`, DNS)."""
    return [NAMING.replica(w.name, r) for r in range(1, w.replicas + 1)] if w.replicas > 1 else [w.name]


def render(workloads: tuple[Workload, ...], topology: str) -> dict[str, Any]:
    by_name = {w.name: w for w in workloads}
    services: dict[str, Any] = {}
    for w in workloads:
        for name, launch in zip(service_names(w), w.launches):
            s: dict[str, Any] = {"image": w.image, "init": True}  # an init as PID 1 forwards the stop signal
            s["command"] = [_escape(a) for a in command(launch, indexed=False)]
            if w.node.cwd:
                s["working_dir"] = w.node.cwd
            s["environment"] = {k: _escape(v) for k, v in launch.env}
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
    return {"name": project_name(topology), "services": services}


def _restart(w: Workload) -> str:
    policy = w.node.restart
    if policy.policy == "on-failure":
        return f"on-failure:{policy.limit}"
    return policy.policy


def _escape(text: str) -> str:
    """Compose interpolates $VAR and ${VAR} everywhere; `$$` keeps a dollar literal."""
    return text.replace("$", "$$")
