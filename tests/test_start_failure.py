"""A node that dies before it is ready ends the run at once, naming both nodes: nothing waits
for ever on a dependency that can no longer be met, whatever kind of wait it was."""

from __future__ import annotations

import re
import sys
import time

from conftest import finish, wait_for

from orchestrator.run.readiness import condition_met, never_met
from orchestrator.run.state import Proc

PY = sys.executable
BAD = f"[{PY}, -c, \"print('bad config', flush=True); raise SystemExit(1)\"]"
SLEEPER = f"[{PY}, -c, \"import time; print('up', flush=True); time.sleep(60)\"]"
# Receivers first: worker (PUSH) waits for sink (PULL) to listen; sink never does.
SINK_FAILS = f"""\
    nodes:
      sink:
        run: {BAD}
        sockets:
          results: {{type: PULL, bind: true}}
      worker:
        run: {SLEEPER}
        sockets:
          out: {{type: PUSH, connect: sink.results}}
"""


def test_a_binder_that_exits_1_at_start_ends_the_run_at_once(zmqrun):
    path = zmqrun.write(SINK_FAILS)
    proc = zmqrun.start(str(path))
    wait_for(lambda: "sink.1 exit 1" in proc.stdout.readline(), timeout=30)
    exited_at = time.monotonic()
    rest, _ = finish(proc, 30)
    elapsed = time.monotonic() - exited_at
    assert proc.returncode == 1, rest
    assert "worker.1 cannot start: sink.1 exited 1 before it was ready" in rest
    assert "worker.1 | up" not in rest
    # The promise is 1 s; 2 s more is slack for a loaded 2-core machine. Before the fix this run never ended.
    assert elapsed < 3.0, elapsed


def test_depends_on_each_condition_that_can_no_longer_be_met(zmqrun):
    for cond, dep_run, words in [
        ("process_ready", BAD, "dep.1 exited 1 before it was ready"),
        ("process_completed_successfully", f"[{PY}, -c, 'raise SystemExit(2)']",
         "dep.1 exited 2 instead of completing successfully"),
        ("process_started", "[/nonexistent/program]", "dep.1 could not start"),
        ("process_ready", f"[{PY}, -c, 'import os; os.kill(os.getpid(), 9)']",
         "dep.1 was killed by SIGKILL (not sent by zmqrun) before it was ready"),
    ]:  # fmt: skip
        path = zmqrun.write(
            f"""\
        nodes:
          dep:
            run: {dep_run}
            ready: {{when: log, log: never-printed}}
          waiter:
            run: {SLEEPER}
            depends_on: {{dep: {cond}}}
        """,
            name=f"{cond}.yaml",
        )
        result = zmqrun.run(str(path), timeout=30)
        assert result.returncode == 1, (cond, result.stdout)
        assert f"waiter.1 cannot start: {words}" in result.stdout, (cond, result.stdout)


def test_a_node_that_will_restart_is_still_waited_for(zmqrun):
    path = zmqrun.write(f"""\
    nodes:
      dep:
        run: [{PY}, -c, "import os; print('try', os.environ['ZMQRUN_RESTARTS'], flush=True); raise SystemExit(1)"]
        restart: {{policy: on-failure, limit: 2, backoff: 0.1s}}
        ready: {{when: log, log: never-printed}}
      waiter:
        run: {SLEEPER}
        depends_on: [dep]
    """)
    result = zmqrun.run(str(path), timeout=30)
    assert result.returncode == 1
    tried = re.search(r"dep\.1 +\| try 2", result.stdout)  # both restarts happened before anyone gave up
    assert tried, result.stdout
    assert "waiter.1 cannot start: dep.1 exited 1 before it was ready (gave up after 2 restarts)" in result.stdout
    assert tried.start() < result.stdout.index("cannot start")


def test_zmqrun_test_reports_the_cause_not_the_waiting_node(zmqrun):
    path = zmqrun.write(SINK_FAILS + """\
    expect:
      timeout: 60s
      exit: {worker: 0}
    """)
    result = zmqrun.run("test", str(path), timeout=40)
    assert result.returncode == 1
    verdict = next(line for line in result.stdout.splitlines() if line.startswith("FAIL"))
    assert "exit status 1" in verdict and "worker.1 cannot start: sink.1 exited 1 before it was ready" in verdict
    assert "last lines of sink:" in result.stdout and "bad config" in result.stdout


def _proc(state: str, code: int | None = None, restarts: int = 0, ready: bool = False) -> Proc:
    from orchestrator.run.plan import Instance
    from orchestrator.topology.model import Node

    p = Proc(Instance(Node(name="dep", run=("x",)), 1, ("x",), (), "/", ()))
    p.state, p.code, p.restarts, p.was_ready = state, code, [0.0] * restarts, ready
    p.spawned = object() if state != "waiting" else None  # type: ignore[assignment]
    return p


def test_never_met_is_a_table_of_states():
    rows = [
        # state, code, ready once, condition, expected met
        ("running", None, False, "process_ready", None),
        ("backoff", 1, False, "process_ready", None),  # it will restart: still waited for
        ("exited", 1, False, "process_ready", False),
        ("exited", 0, False, "process_ready", True),
        ("exited", 1, True, "process_ready", True),  # it was ready: the condition was met
        ("exited", 1, False, "process_started", True),
        ("exited", 3, False, "process_completed_successfully", False),
        ("exited", -9, True, "process_completed_successfully", False),
        ("ready", None, True, "process_completed_successfully", None),
    ]
    for state, code, ready, cond, want in rows:
        p = _proc(state, code, ready=ready)
        p.ended = "killed by SIGKILL" if code == -9 else ""
        assert condition_met([p], cond) is want, (state, code, ready, cond)
        assert (never_met([p], cond) is not None) == (want is False), (state, code, cond)
    killed = _proc("exited", -9)
    killed.ended = "killed by SIGKILL, not sent by zmqrun"
    assert never_met([killed], "process_ready") == "dep.1 was killed by SIGKILL (not sent by zmqrun) before it was ready"
