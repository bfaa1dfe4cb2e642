"""`zmqrun test` and the expect block tell the truth: every unmet expectation is named whatever
ended the run, a node zmqrun stopped counts with its real exit status, Ctrl-C and SIGTERM stop
cleanly with JUnit for what ran, JUnit tells errors from failures and carries output, and only
topology files in a folder are run."""

from __future__ import annotations

import signal
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import finish, run_marker_pids, wait_for

PY = sys.executable
# A server that shuts down cleanly (exit 0) on SIGINT, and says so.
SERVER = f"[{PY}, -c, \"import time\\ntry:\\n    print('serving', flush=True); time.sleep(600)\\nexcept KeyboardInterrupt:\\n    print('bye', flush=True)\"]"


def test_exit_on_end_still_names_every_unmet_expectation(zmqrun):
    path = zmqrun.write(f"""\
    nodes:
      server:
        run: {SERVER}
        ready: {{when: log, log: serving}}  # in its try block: a SIGINT now ends it cleanly
      client:
        run: [{PY}, -c, "print('request 1 ok'); print('all good')"]
        exit_on_end: true
        depends_on: [server]
    expect:
      timeout: 30s
      exit: {{client: 0, server: 0}}
      output:
        client: 'all done'
        server: 'served \\d+ requests'
    """)
    result = zmqrun.run("test", str(path), timeout=60)
    assert result.returncode == 1
    verdict = next(line for line in result.stdout.splitlines() if line.startswith("FAIL"))
    assert "client ended (exit_on_end)" in verdict
    assert "client ended without printing a line matching 'all done'" in verdict, verdict
    assert "server ended without printing a line matching 'served \\\\d+ requests'" in verdict, verdict
    assert "exited with" not in verdict  # both exited 0: the stopped server's clean exit counts


def test_a_clean_shutdown_of_a_stopped_node_can_be_asserted(zmqrun):
    path = zmqrun.write(f"""\
    nodes:
      server:
        run: {SERVER}
        ready: {{when: log, log: serving}}  # in its try block: a SIGINT now ends it cleanly
      client:
        run: [{PY}, -c, "print('done')"]
        exit_on_end: true
        depends_on: [server]
    expect:
      timeout: 30s
      exit: {{client: 0, server: 0}}
    """)
    result = zmqrun.run("test", str(path), timeout=60)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("PASS")


def test_exit_code_from_still_names_unmet_expectations(zmqrun):
    path = zmqrun.write(f"""\
    nodes:
      server:
        run: {SERVER}
        ready: {{when: log, log: serving}}  # in its try block: a SIGINT now ends it cleanly
      client:
        run: [{PY}, -c, "print('done')"]
        depends_on: [server]
    expect:
      timeout: 30s
      output: {{server: 'never printed'}}
    """)
    result = zmqrun.run(str(path), "--exit-code-from", "client", timeout=60)
    assert result.returncode == 1  # the client's 0 is not a success while an expectation failed
    assert "expectation failed: server ended without printing a line matching 'never printed'" in result.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_zmqrun_test_cleanly_and_writes_junit_for_what_ran(zmqrun, sig):
    zmqrun.write(
        f"""\
    nodes:
      long:
        run: [{PY}, -c, "import time; print('first is running', flush=True); time.sleep(600)"]
    expect:
      timeout: 120s
      exit: {{long: 0}}
    """,
        "a.yaml",
    )
    zmqrun.write(
        f"""\
    nodes:
      second:
        run: [{PY}, -c, "print('second ran')"]
    """,
        "b.yaml",
    )
    junit = zmqrun.tmp_path / "out.xml"
    proc = zmqrun.start("test", "-v", ".", "--junit", str(junit))
    seen: list[str] = []
    wait_for(lambda: seen.append(proc.stdout.readline()) or "first is running" in seen[-1], timeout=30)
    run_id = next(line.split("| run ", 1)[1].split(":")[0] for line in seen if "| run zr-" in line)
    proc.send_signal(sig)
    out, _ = finish(proc, 30)
    assert proc.returncode == 128 + sig, out
    assert "second ran" not in out and "b.yaml" not in out
    assert f"stopped by {signal.Signals(sig).name}, 1 not run" in out
    assert not run_marker_pids(run_id)
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert [c.get("name") for c in cases] == ["a"]
    assert "first is running" in cases[0].find("system-out").text


def test_junit_errors_failures_output_and_only_topologies_from_a_folder(zmqrun):
    zmqrun.write(
        f"""\
    nodes:
      a:
        run: [{PY}, -c, "print('hello from a')"]
    expect:
      output: {{a: 'hello from a'}}
    """,
        "good.yaml",
    )
    zmqrun.write(
        f"""\
    nodes:
      b:
        run: [{PY}, -c, "print('wrong answer')"]
    expect:
      output: {{b: 'right answer'}}
    """,
        "bad.yaml",
    )
    zmqrun.write(
        """\
    nodes:
      c:
        sockets: {s: {type: PUSHH, bind: true}}
    """,
        "invalid.yaml",
    )
    zmqrun.write("jobs:\n  build:\n    runs-on: ubuntu-latest\n", "ci.yml")  # not a topology
    zmqrun.write("- just\n- a list\n", "data.yaml")
    junit = zmqrun.tmp_path / "out.xml"
    result = zmqrun.run("test", ".", "--junit", str(junit), timeout=60)
    assert result.returncode == 1
    assert "ci.yml" not in result.stdout and "data.yaml" not in result.stdout
    assert result.stdout.rstrip().splitlines()[-1] == "1 passed, 2 failed"
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("classname"): c for c in suite.iter("testcase")}
    assert cases["zmqrun.invalid"].find("error") is not None and cases["zmqrun.invalid"].find("failure") is None
    assert "PUSHH" in cases["zmqrun.invalid"].find("error").text
    assert cases["zmqrun.bad"].find("failure") is not None and cases["zmqrun.bad"].find("error") is None
    assert "wrong answer" in cases["zmqrun.bad"].find("system-out").text
    assert "hello from a" in cases["zmqrun.good"].find("system-out").text
