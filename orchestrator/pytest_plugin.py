"""The `zmqrun_topology` pytest fixture, registered through the `pytest11` entry point: a factory
that starts runs (orchestrator.api.Run) and tears every one of them down after the test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import pytest

from orchestrator.api import Run


@pytest.fixture
def zmqrun_topology() -> Iterator[Callable[..., Run]]:
    """`zmqrun_topology(path, nodes=(), args=(), env=None)` starts a run and returns it, up and
    answering; every run started is stopped at the end of the test, whatever happened."""
    runs: list[Run] = []

    def start(topology: str | os.PathLike[str], nodes: Sequence[str] = (), args: Sequence[str] = (),
              env: dict[str, str] | None = None, start_timeout: float = 30.0) -> Run:  # fmt: skip
        run = Run(topology, nodes, args, env, start_timeout)
        runs.append(run)  # before launch: a run that fails half-way up is torn down too
        return run.launch()

    yield start
    for run in reversed(runs):
        run.close()
