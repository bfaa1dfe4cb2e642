"""Start-order rules that contradict each other are said out loud, in `check` and in a run's first
lines: which rule won for which pair, and how to pin the order with depends_on."""

from __future__ import annotations

import sys

from test_plan import PIPELINE, plan_of

PY = sys.executable
HUB = """\
nodes:
  hub:
    run: python -m hub
    sockets:
      ask: {type: REQ, connect: server.api}
      news: {type: SUB, connect: server.pub}
  server:
    run: python -m server
    sockets:
      api: {type: REP, bind: true}
      pub: {type: PUB, bind: true}
"""
EXPECTED = (
    "start-order conflict between hub and server: hub starts first although server.api (REP) receives "
    "before hub.ask (REQ) sends (the rule that won: server waits for hub, as hub.news (SUB) receives "
    "before server.pub (PUB) sends); to pin the order, add `depends_on: [hub]` to server or "
    "`depends_on: [server]` to hub"
)


def test_a_contradiction_names_the_pair_the_winning_rule_and_the_pin():
    plan = plan_of(HUB)
    assert plan.conflicts == (EXPECTED,)
    assert plan.after["server"] == (("hub", "process_ready"),)


def test_no_conflict_in_an_ordinary_pipeline_or_once_pinned():
    assert plan_of(PIPELINE).conflicts == ()
    pinned_one_way = HUB.replace("    run: python -m server\n", "    run: python -m server\n    depends_on: [hub]\n")
    pinned_other_way = HUB.replace("    run: python -m hub\n", "    run: python -m hub\n    depends_on: [server]\n")
    assert plan_of(pinned_one_way).conflicts == ()
    other = plan_of(pinned_other_way)
    assert other.conflicts == () and other.after["hub"] == (("server", "process_ready"),)


def test_check_and_the_run_say_it(zmqrun):
    path = zmqrun.write(HUB.replace("python -m hub", f"{PY} -c pass").replace("python -m server", f"{PY} -c pass"))
    check = zmqrun.run("check", "--no-color", str(path), env={"COLUMNS": "1000"})
    assert check.returncode == 0 and EXPECTED in check.stdout, check.stdout
    run = zmqrun.run(str(path), timeout=60)
    first_lines = run.stdout.splitlines()[:3]
    assert any(EXPECTED in line for line in first_lines), run.stdout
