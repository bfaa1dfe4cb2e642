"""The control pieces that need no run: the log buffer's bounds, naming instances, finding runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestrator.control import logbuffer
from orchestrator.control.logbuffer import LogBuffer
from orchestrator.run import runs
from orchestrator.run.targets import UnknownTarget, select

LABELS = ["ventilator.1", "worker.1", "worker.2", "sink.1"]


@pytest.mark.parametrize(("words", "expected"), [
    (["worker"], ["worker.1", "worker.2"]),
    (["sink", "worker.2"], ["worker.2", "sink.1"]),
    (["worker.2", "worker"], ["worker.1", "worker.2"]),
])  # fmt: skip
def test_select_names_nodes_and_instances_in_run_order(words: list[str], expected: list[str]) -> None:
    assert select(LABELS, words) == expected


def test_select_reports_every_unknown_name_with_a_suggestion() -> None:
    with pytest.raises(UnknownTarget) as err:
        select(LABELS, ["wroker", "worker.3", "zzz"])
    message = str(err.value)
    assert "'wroker' (did you mean 'worker'?)" in message
    assert "'worker.3' (did you mean 'worker.1'?)" in message or "'worker.3' (did you mean 'worker.2'?)" in message
    assert "'zzz'" in message and "this run has: ventilator, worker, sink" in message


def test_log_buffer_keeps_the_newest_lines_within_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logbuffer, "LINES", 10)
    monkeypatch.setattr(logbuffer, "CHARS", 100)
    buf = LogBuffer()
    for i in range(30):
        buf.add("a.1", [f"line {i}"], now=float(i))
    got = [line for _, _, line in buf.lines(["a.1"])]
    assert got == [f"line {i}" for i in range(20, 30)]
    buf.add("b.1", ["x" * 30] * 5, now=100.0)  # one chunk over CHARS on its own: its tail is kept
    assert [line for _, _, line in buf.lines(["b.1"])] == ["x" * 30] * 3
    assert [line for _, _, line in buf.lines(["a.1"], tail=2)] == ["line 28", "line 29"]
    assert [line for _, _, line in buf.lines(["a.1"], since=27.0)] == ["line 27", "line 28", "line 29"]
    assert [label for _, label, _ in buf.lines(["a.1", "b.1"], tail=1)] == ["a.1", "b.1"]  # oldest first
    assert buf.lines(["a.1"], tail=0) == []


def fake_run(root: Path, run_id: str, name: str, started: float) -> runs.Claim:
    rundir = root / f"zmqrun-{run_id}"
    rundir.mkdir(mode=0o700)
    lock = runs.Claim(str(rundir), run_id, str(root / f"{name}.yaml"), name=name)
    info = json.loads((rundir / "run.json").read_text())
    (rundir / "run.json").write_text(json.dumps({**info, "started": started}))
    return lock


def test_runs_are_alive_while_their_lock_is_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    a = fake_run(tmp_path, "zr-aaaa01", "alpha", 1.0)
    b = fake_run(tmp_path, "zr-bbbb02", "beta", 2.0)
    assert [r.run_id for r in runs.alive_runs()] == ["zr-aaaa01", "zr-bbbb02"]
    assert runs.resolve("zr-aa").run_id == "zr-aaaa01"
    assert runs.resolve("bbbb").run_id == "zr-bbbb02"
    assert runs.resolve("beta").run_id == "zr-bbbb02"
    assert runs.resolve(os.path.join(tmp_path, "alpha.yaml")).run_id == "zr-aaaa01"
    with pytest.raises(runs.RunError, match="several runs are alive"):
        runs.resolve(None)
    with pytest.raises(runs.RunError, match="matches several runs"):
        runs.resolve("zr-")
    a.release()  # as if zmqrun had died: its directory stays, its lock does not
    assert [r.run_id for r in runs.alive_runs()] == ["zr-bbbb02"]
    assert runs.resolve(None).run_id == "zr-bbbb02"
    with pytest.raises(runs.RunError, match="no live run matches 'alpha'"):
        runs.resolve("alpha")
    b.release()
    with pytest.raises(runs.RunError, match="no run is alive"):
        runs.resolve(None)
