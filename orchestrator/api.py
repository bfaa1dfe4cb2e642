"""Drive zmqrun from Python (tests above all): start a topology in a background process group,
wait for what matters, poke it over its control socket, and always tear it down.

    with Run("topologies/pipeline.yaml") as run:
        run.wait_for("sink", r"Total elapsed time: \\d+", timeout=30)
        run.restart("worker.1")
        assert run.ps()["sink.1"].state == "running"

`launch()` and `close()` do what `with` does. The run is a `python -m orchestrator run` subprocess (in its own session, so it has its own
signal handling), never a thread of the caller."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import TracebackType

from orchestrator.control.client import ControlClient, ControlError, Instance, LogLine
from orchestrator.errors import ExitStatus, ZmqrunError
from orchestrator.run.runner import new_run_id
from orchestrator.run.runs import RunError, RunInfo, live_run

__all__ = ["Instance", "LogLine", "Run", "RunFailed"]


class RunFailed(ZmqrunError):
    """The run did not come up, ended early, or a wait ran out; the message quotes its output."""


class Run:
    """One background run of a topology; a context manager (or call start() and close())."""

    def __init__(self, topology: str | os.PathLike[str], nodes: Sequence[str] = (), args: Sequence[str] = (),
                 env: dict[str, str] | None = None, start_timeout: float = 30.0, stop_timeout: float = 30.0):  # fmt: skip
        """`nodes` starts only those (and what they need), as `zmqrun FILE NODE...`; `args` are more
        `zmqrun run` options (`--with-peers`, `--timeout 60s`); `env` is added to the environment."""
        self.topology = os.path.abspath(topology)
        self.nodes = tuple(nodes)
        self.args = tuple(args)
        self.env = env or {}
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.run_id = new_run_id()
        self.process: subprocess.Popen[bytes] | None = None
        self._out = tempfile.NamedTemporaryFile(prefix=f"zmqrun-{self.run_id}-", suffix=".out")  # noqa: SIM115
        self._client: ControlClient | None = None
        self._final: str | None = None  # the output, once the run is over and its file gone

    # ---- life -----------------------------------------------------------------------------

    def launch(self) -> Run:
        """Start the run and return once every instance it starts is up and ready (or has
        finished); RunFailed if zmqrun exits first or `start_timeout` passes."""
        argv = [sys.executable, "-m", "orchestrator", "run", self.topology, *self.nodes, "--run-id", self.run_id,
                "--no-color", *self.args]  # fmt: skip
        # Its own session: the caller's Ctrl-C is not the run's, and teardown can reach the group.
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
                                        env={**os.environ, **self.env}, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + self.start_timeout
        while True:
            info = live_run(self.run_id)
            if info is not None:
                try:
                    client = ControlClient(info)
                    states = {i.state for i in client.ps().instances.values()}
                    self._client = client
                    if not states & {"waiting", "starting", "backoff"}:
                        return self
                except (ControlError, RunError):
                    pass
            if self.process.poll() is not None:
                if self._client is not None:
                    return self  # it was up, and already ended by itself: its output says how
                raise RunFailed(f"zmqrun exited with status {self.process.returncode} before it was up:\n{self.output()}")
            if time.monotonic() > deadline:
                self.close()
                raise RunFailed(f"the run did not answer within {self.start_timeout:g}s:\n{self.output()}")
            time.sleep(0.02)

    def close(self) -> int | None:
        """Stop the run as Ctrl-C would and wait for it; past `stop_timeout`, SIGKILL its process
        group (the run's guardian then kills its nodes). Returns zmqrun's exit status."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                if self._client is not None:
                    self._client.stop()
                else:
                    proc.send_signal(signal.SIGTERM)
            except (ControlError, RunError):
                pass
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: the group is ours alone
                except ProcessLookupError:
                    pass
                proc.wait()
        if self._final is None:
            self._final = self.output()
            self._out.close()
        return proc.returncode

    def __enter__(self) -> Run:
        return self.launch()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ---- looking and poking ---------------------------------------------------------------

    @property
    def client(self) -> ControlClient:
        if self._client is None:
            raise RunFailed("the run is not started")
        return self._client

    @property
    def info(self) -> RunInfo:
        return self.client.run

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def ps(self) -> dict[str, Instance]:
        """Every instance by label (`worker.1`)."""
        return self.client.ps().instances

    def logs(self, *targets: str, tail: int | None = None) -> list[LogLine]:
        """What the run holds in memory of these instances' output (all instances by default)."""
        return list(self.client.logs(targets, tail=tail))

    def wait_for(self, target: str, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first match of `pattern` in the output of `target` (NODE or NODE.N), seen so far or
        to come; RunFailed if none within `timeout` seconds or the run ends first."""
        rx = re.compile(pattern)
        try:
            for item in self.client.logs([target], follow=True, until=time.monotonic() + timeout):
                m = rx.search(item.line)
                if m:
                    return m
        except ControlError as exc:
            if exc.status != ExitStatus.TIMEOUT:
                raise
            raise RunFailed(f"no line of {target} matched {pattern!r} within {timeout:g}s:\n{self._recent(target)}") from None
        raise RunFailed(f"the run ended before {target} printed a line matching {pattern!r}:\n{self.output()}")

    def restart(self, *targets: str) -> None:
        """Restart instances and wait until they are ready again."""
        self.client.restart(targets)

    def stop(self, *targets: str) -> None:
        """Stop instances with their stop sequence and wait until they are gone; no targets: the run."""
        self.client.stop(targets)

    def start(self, *targets: str) -> None:
        """Start instances (stopped, or left out of a subset run) and wait until they are ready."""
        self.client.start(targets)

    def output(self) -> str:
        """Everything zmqrun printed so far (its own lines and every node's)."""
        if self._final is not None:
            return self._final
        with open(self._out.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _recent(self, target: str) -> str:
        try:
            return "\n".join(f"{i.label} | {i.line}" for i in self.client.logs([target], tail=20))
        except ZmqrunError:
            return self.output()[-4000:]
