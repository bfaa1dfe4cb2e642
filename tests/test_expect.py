"""The expect block: each kind of expectation both met and failed, the deadline, JUnit XML."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET

from orchestrator.run.expect import Expectations
from orchestrator.topology.model import Capture, Expect


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def observer(expect: Expect, timeout=None, replicas=None):
    clock = Clock()
    obs = Expectations(expect, timeout, clock=clock)
    obs.set_replicas(replicas or {})
    return obs, clock


def test_exit_met_and_failed():
    obs, clock = observer(Expect(exit=(("sink", (0,)),)))
    assert obs.verdict(clock(), False) is None
    obs.exited("sink", 1, 0, stopped=False)
    assert obs.verdict(clock(), False) == (True, "sink exited 0")
    obs, clock = observer(Expect(exit=(("sink", (0,)),)))
    obs.exited("sink", 1, 2, stopped=False)
    assert obs.verdict(clock(), False) == (False, "sink.1 exited with 2, expected 0")


def test_exit_waits_for_every_replica_and_counts_the_status_of_a_stopped_node():
    obs, clock = observer(Expect(exit=(("w", (0,)),)), replicas={"w": 2})
    obs.exited("w", 1, 0, stopped=False)
    assert obs.verdict(clock(), False) is None
    obs.exited("w", 2, -2, stopped=True)
    assert obs.verdict(clock(), True) == (False, "w.2 exited with -2 when zmqrun stopped it, expected 0")
    # A clean shutdown when zmqrun stops the node can be asserted.
    obs, clock = observer(Expect(exit=(("server", (0,)),)))
    obs.exited("server", 1, 0, stopped=True)
    assert obs.verdict(clock(), True) == (True, "server exited 0")


def test_at_the_end_every_unmet_expectation_is_named_with_its_reason():
    exp = Expect(exit=(("server", (0,)), ("client", (0,))),
                 output=(Capture("client", "all done"), Capture("server", "served \\d+")),
                 absent=(Capture("client", "Traceback"),))  # fmt: skip
    obs, clock = observer(exp)
    obs.line("client", "Traceback (most recent call last):")
    obs.exited("client", 1, 1, stopped=False)
    ok, message = obs.verdict(clock(), True)
    assert not ok
    for part in ["client printed a line matching 'Traceback'", "client.1 exited with 1, expected 0",
                 "client ended without printing a line matching 'all done'",
                 "the run ended still waiting for server to exit with 0; server to print a line matching"]:  # fmt: skip
        assert part in message, message


def test_output_met_and_never_printed():
    exp = Expect(output=(Capture("sink", r"Total elapsed time: \d+ msec"),))
    obs, clock = observer(exp)
    obs.line("sink", "Total elapsed time: 12 msec")
    assert obs.verdict(clock(), False)[0] is True
    obs, clock = observer(exp)
    obs.line("sink", "something else")
    obs.exited("sink", 1, 0, stopped=False)
    assert obs.verdict(clock(), False) == (False, "sink ended without printing a line matching 'Total elapsed time: \\\\d+ msec'")


def test_output_of_another_node_does_not_count():
    obs, clock = observer(Expect(output=(Capture("sink", "done"),)))
    obs.line("worker", "done")
    assert obs.verdict(clock(), False) is None


def test_absent_passes_when_silent_and_fails_on_match():
    exp = Expect(exit=(("sub", (0,)),), absent=(Capture("sub", "Topic: (?!10001,)"),))
    obs, clock = observer(exp)
    obs.line("sub", "Topic: 10001, Message: 3")
    obs.exited("sub", 1, 0, stopped=False)
    assert obs.verdict(clock(), False)[0] is True
    obs, clock = observer(exp)
    obs.line("sub", "Topic: 10002, Message: 3")
    ok, message = obs.verdict(clock(), False)
    assert not ok and message.startswith("sub printed a line matching")


def test_equal_met_and_unequal():
    pair = (Capture("producer", r"Expected final total: (\d+)"), Capture("collector", r"Final total: (\d+)"))
    obs, clock = observer(Expect(equal=(pair,)))
    obs.line("producer", "Expected final total: 27")
    assert obs.verdict(clock(), False) is None
    obs.line("collector", "Final total: 27")
    assert obs.verdict(clock(), False) == (True, "producer = collector = 27")
    obs, clock = observer(Expect(equal=(pair,)))
    obs.line("producer", "Expected final total: 27")
    obs.line("collector", "Final total: 26")
    assert obs.verdict(clock(), False) == (False, "producer gave '27' but collector gave '26'")


def test_deadline():
    obs, clock = observer(Expect(timeout=5, output=(Capture("a", "x"),)))
    clock.now += 4.9
    assert obs.verdict(clock(), False) is None
    clock.now += 0.2
    ok, message = obs.verdict(clock(), False)
    assert not ok and message.startswith("timeout: the 5s deadline passed; still waiting for a to print")


def test_command_line_timeout_overrides_the_file():
    obs, _ = observer(Expect(timeout=60), timeout=2)
    assert obs.deadline == 102.0


PY = sys.executable


def test_zmqrun_test_reports_each_topology_and_writes_junit(zmqrun):
    zmqrun.write(f"""\
    nodes:
      a:
        run: [{PY}, -c, "print('Final total: 7')"]
    expect:
      timeout: 20s
      output: {{a: 'Final total: 7'}}
    """, "good.yaml")
    zmqrun.write(f"""\
    nodes:
      a:
        run: [{PY}, -c, "print('Final total: 8')"]
    expect:
      timeout: 20s
      output: {{a: 'Final total: 7'}}
    """, "bad.yaml")
    zmqrun.write(f"""\
    nodes:
      sleeper:
        run: [{PY}, -c, "import time; print('zzz', flush=True); time.sleep(600)"]
        stdin: []
    expect:
      timeout: 1s
      exit: {{sleeper: 0}}
    """, "hang.yaml")
    junit = zmqrun.tmp_path / "out.xml"
    result = zmqrun.run("test", ".", "--junit", str(junit), timeout=60)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert re.search(r"^PASS good \(\./good\.yaml|^PASS good ", out, re.MULTILINE)
    assert "FAIL bad" in out and "a ended without printing a line matching 'Final total: 7'" in out
    assert "  Final total: 8" in out  # the failing node's last lines are shown
    assert re.search(r"FAIL hang .* (\d+\.\d)s: exit status 3, ", out)
    hang_time = float(re.search(r"FAIL hang \S+ (\d+\.\d)s", out).group(1))
    assert hang_time < 1 + 3 + 2  # the deadline plus at most the stop grace (and start-up)
    assert out.rstrip().splitlines()[-1] == "1 passed, 2 failed"
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    failures = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    assert failures["good"] is None and failures["bad"] is not None
    assert "Final total: 7" in failures["bad"].get("message")
