"""What `zmqrun FILE` imports before its nodes run is start-up time every run pays: the heavy
packages that only other commands need stay out of the run path (BENCHMARKS.md, zmqrun's own
phases)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Packages some command needs, none of which a run needs: the status table and `check` (rich),
# `free` (psutil), `--version` (importlib.metadata, which brings the email package), the node
# helper (zmq), and the big standard ones nothing in a run uses.
NOT_ON_THE_RUN_PATH = ("rich", "psutil", "zmq", "importlib.metadata", "email", "asyncio", "logging")


def test_a_run_imports_none_of_what_only_other_commands_need(tmp_path: Path):
    topology = tmp_path / "t.yaml"
    topology.write_text('nodes:\n  a:\n    run: "true"\n')
    script = "import sys; from orchestrator.cli import console; sys.argv = ['zmqrun', sys.argv[1]]; console()"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", script, str(topology)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    imported = {line.split("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "orchestrator.run.supervisor" in imported  # it did run, and the listing is read right
    heavy = sorted(m for m in imported if m.split(".")[0] in NOT_ON_THE_RUN_PATH or m in NOT_ON_THE_RUN_PATH)
    assert heavy == []
