"""The edges a plan declares: one per connecting instance and endpoint, with the binder
instance behind it when the endpoint is one of the run's own (a literal endpoint has none)."""

from __future__ import annotations

from typing import NamedTuple

from orchestrator.run.plan import Plan, connect_endpoint


class Edge(NamedTuple):
    connecter: str  # instance label, e.g. "worker.2"
    connecter_socket: str
    connecter_type: str
    endpoint: str  # as the connecter dials it
    binder: str | None  # instance label; None for a literal endpoint outside the topology
    binder_socket: str = ""
    binder_type: str = ""

    @property
    def transport(self) -> str:
        return self.endpoint.split("://", 1)[0]

    @property
    def port(self) -> int | None:
        tail = self.endpoint.rsplit(":", 1)[-1]
        return int(tail) if self.transport == "tcp" and tail.isdigit() else None

    @property
    def path(self) -> str:
        return self.endpoint[len("ipc://") :] if self.transport == "ipc" else ""

    def describe(self) -> str:
        far = f"{self.binder}'s {self.binder_socket} ({self.binder_type})" if self.binder else "(outside the topology)"
        return f"{self.connecter}'s {self.connecter_socket} ({self.connecter_type}) -> {far} at {self.endpoint}"


def declared_edges(plan: Plan) -> tuple[Edge, ...]:
    binders = {}
    for inst in plan.instances:
        for b in inst.sockets:
            if b.bind:
                for e in b.endpoints:
                    binders[connect_endpoint(e)] = (inst.label, b.name, b.type)
    edges = []
    for inst in plan.instances:
        for b in inst.sockets:
            if b.bind:
                continue
            for e in b.endpoints:
                if e.split("://", 1)[0] not in ("tcp", "ipc"):
                    continue  # inproc and the like never reach the kernel
                far = binders.get(e)
                edges.append(Edge(inst.label, b.name, b.type, e, *(far or (None,))))
    return tuple(edges)
