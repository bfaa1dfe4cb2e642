"""The zmqrun_topology fixture, used the way a project outside this one uses it: a test file in
a temporary directory, run by its own pytest, the plugin loaded through its pytest11 entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from orchestrator.run.runs import alive_runs
from tests.conftest import ROOT, run_marker_pids

OUTSIDE_TEST = """\
import os

PIPELINE = {pipeline!r}


def test_pipeline(zmqrun_topology):
    run = zmqrun_topology(PIPELINE, nodes=["sink", "worker"])
    with open("run.txt", "w") as f:
        f.write(f"{{run.run_id}} {{run.process.pid}}")
    run.restart("worker.1")
    assert run.ps()["worker.1"].restarts == 1
    assert run.ps()["sink.1"].state == "running"
    assert run.ps()["ventilator.1"].state == "idle"
    run.start("ventilator")
    run.wait_for("sink", r"Total elapsed time: \\d+", timeout=60)


def test_a_failing_test_still_tears_down(zmqrun_topology):
    run = zmqrun_topology(PIPELINE, nodes=["sink"])
    with open("run2.txt", "w") as f:
        f.write(f"{{run.run_id}} {{run.process.pid}}")
    assert False, "on purpose"
"""


def pytest_in(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Autoload off: only `-p zmqrun` (the entry point's name, not a module) can bring the fixture.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "TMPDIR": str(directory)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=directory, env=env, capture_output=True, text=True, timeout=180)  # fmt: skip


def test_fixture_from_a_test_file_outside_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    directory = Path(tempfile.mkdtemp(prefix="zr"))  # short: run sockets live under it
    try:
        (directory / "test_outside.py").write_text(OUTSIDE_TEST.format(pipeline=str(ROOT / "topologies" / "pipeline.yaml")))
        missing = pytest_in(directory, "test_outside.py")
        assert "fixture 'zmqrun_topology' not found" in missing.stdout  # so the -p below is what loads it

        result = pytest_in(directory, "-p", "zmqrun", "test_outside.py")
        assert "1 failed, 1 passed" in result.stdout, result.stdout + result.stderr
        assert "on purpose" in result.stdout
        for name in ("run.txt", "run2.txt"):
            run_id, pid = (directory / name).read_text().split()
            assert not os.path.exists(f"/proc/{pid}"), f"zmqrun {pid} outlived the test"
            assert run_marker_pids(run_id) == []
        monkeypatch.setenv("TMPDIR", str(directory))
        assert alive_runs() == []
    finally:
        shutil.rmtree(directory, ignore_errors=True)
