"""Supervision promises: restart decisions, backoff, stop during backoff, stopped and stubborn
nodes, readiness ordering, the start barrier, and a reader that goes away."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import psutil
import pytest
from conftest import finish, run_marker_pids, wait_for

from orchestrator.run.restart import decide
from orchestrator.topology.model import Restart

PY = sys.executable


def test_restart_policy_and_backoff_is_pure_and_capped():
    on_failure = Restart("on-failure", limit=3, window=60, backoff=0.5, max_backoff=1.5)
    assert decide(on_failure, 0, [], 100.0).restart is False
    assert decide(on_failure, 1, [], 100.0).delay == 0.5
    assert decide(on_failure, 1, [99.0], 100.0).delay == 1.0
    assert decide(on_failure, 1, [98.0, 99.0], 100.0).delay == 1.5  # capped
    gave_up = decide(on_failure, 1, [97.0, 98.0, 99.0], 100.0)
    assert (gave_up.restart, gave_up.gave_up) == (False, True)
    assert decide(on_failure, 1, [10.0, 20.0, 30.0], 100.0).restart is True  # old ones left the window
    assert decide(Restart("always"), 0, [], 0.0).restart is True
    assert decide(Restart("no"), 1, [], 0.0).restart is False


def test_a_crashing_node_backs_off_and_gives_up(zmqrun):
    path = zmqrun.write(f"""\
    nodes:
      crasher:
        run: [{PY}, -c, "print('crash', flush=True); raise SystemExit(4)"]
        restart: {{policy: on-failure, limit: 3, backoff: 0.2s, max_backoff: 0.4s}}
    """)
    start = time.monotonic()
    result = zmqrun.run(str(path), timeout=30)
    elapsed = time.monotonic() - start
    assert result.returncode == 1
    assert result.stdout.count("crasher.1 | crash") == 4
    delays = [float(x) for x in re.findall(r"restarting in (\d+\.\d)s", result.stdout)]
    assert delays == [0.2, 0.4, 0.4]
    assert "exit 4, gave up after 3 restarts" in result.stdout
    assert elapsed >= 1.0  # the backoff really waited: no spinning


def test_stop_during_backoff_is_never_followed_by_a_restart(zmqrun):
    path = zmqrun.write(f"""\
    nodes:
      crasher:
        run: [{PY}, -c, "print('crash', flush=True); raise SystemExit(1)"]
        restart: {{policy: always, backoff: 5s}}
    """)
    proc = zmqrun.start(str(path))
    wait_for(lambda: "restarting in 5.0s" in proc.stdout.readline(), timeout=20)
    proc.send_signal(signal.SIGINT)
    out, _ = finish(proc, 20)
    assert proc.returncode == 130
    assert "restart cancelled by the stop" in out
    assert "crasher.1 | crash" not in out  # no second incarnation after the stop


def test_a_stopped_node_and_twenty_stubborn_ones_take_one_grace(zmqrun):
    stubborn = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"
    path = zmqrun.write(f"""\
    nodes:
      stubborn:
        replicas: 20
        grace: 1s
        run: [{PY}, -c, "{stubborn}"]
      frozen:
        grace: 1s
        run: [{PY}, -c, "import os, signal; print('up', flush=True); os.kill(os.getpid(), signal.SIGSTOP)"]
    """)
    proc = zmqrun.start(str(path))
    seen = set()

    def all_up() -> bool:
        line = proc.stdout.readline()
        if "| up" in line:
            seen.add(line.split()[0])
        return len(seen) == 21

    wait_for(all_up, timeout=60)
    run_id = re.search(r"zr-[0-9a-f]+", " ".join(p.environ().get("ZMQRUN_RUN_ID", "") for p in psutil.Process(proc.pid).children())).group(0)
    frozen = [p for p in psutil.Process(proc.pid).children() if "SIGSTOP" in " ".join(p.cmdline())][0]
    wait_for(lambda: frozen.status() == psutil.STATUS_STOPPED, timeout=10)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = finish(proc, 30)
    elapsed = time.monotonic() - start
    assert proc.returncode == 130
    assert "frozen.1" in out and re.search(r"frozen\.1 +stopped", out)
    assert out.count("sending SIGKILL") == 20
    assert elapsed < 1 + 3  # one grace period (and a sweep), not twenty
    assert run_marker_pids(run_id) == []


def test_dependents_start_after_readiness_by_log_line(zmqrun):
    path = zmqrun.write(f"""\
    nodes:
      slow:
        run: [{PY}, -c, "import time; time.sleep(0.5); print('warmed up', flush=True); time.sleep(600)"]
        ready: {{log: 'warmed up'}}
      after:
        run: [{PY}, -c, "print('after runs')"]
        depends_on: [slow]
        exit_on_end: true
    """)
    result = zmqrun.run(str(path), timeout=30)
    out = result.stdout
    assert result.returncode == 0, out
    assert out.index("slow.1  | warmed up") < out.index("started after.1") < out.index("after.1 | after runs")


def test_a_node_never_ready_fails_the_run_with_a_clear_message(zmqrun):
    path = zmqrun.write(f"""\
    nodes:
      mute:
        run: [{PY}, -c, "import time; time.sleep(600)"]
        ready: {{log: 'never', timeout: 1s}}
    """)
    result = zmqrun.run(str(path), timeout=30)
    assert result.returncode == 1
    assert "mute.1 did not become ready within 1s (waiting for a line matching 'never')" in result.stdout


def test_start_barrier_spreads_the_first_messages_evenly(zmqrun):
    # Four pullers; the pusher sends 40 messages as soon as the barrier lets it: each gets 10.
    path = zmqrun.write(f"""\
    nodes:
      pusher:
        run: [{PY}, -c, "from orchestrator.node import Node\\nwith Node() as n:\\n  s = n.socket('out')\\n  print('peers', n.wait_for_peers('out'), flush=True)\\n  [s.send(b'x') for _ in range(40)]"]
        sockets:
          out: {{type: PUSH, bind: true}}
      puller:
        replicas: 4
        run: [{PY}, -c, "from orchestrator.node import Node\\nwith Node() as n:\\n  s = n.socket('in')\\n  got = 0\\n  while n.recv(s, timeout=1.0) is not None: got += 1\\n  print('got', got)"]
        sockets:
          in: {{type: PULL, connect: pusher.out}}
    expect:
      timeout: 30s
      exit: {{puller: 0}}
    """)
    result = zmqrun.run(str(path), timeout=60)
    assert result.returncode == 0, result.stdout
    assert "peers 4" in result.stdout
    assert sorted(re.findall(r"puller\.\d \| got (\d+)", result.stdout)) == ["10"] * 4


def test_a_reader_that_goes_away_does_not_abort_the_teardown(zmqrun):
    path = zmqrun.write(f"""\
    nodes:
      chatty:
        run: [{PY}, -c, "import time\\nfor i in range(100000): print('line', i)\\ntime.sleep(600)"]
    """)
    zmq_run = subprocess.Popen([PY, "-m", "orchestrator", str(path)], stdout=subprocess.PIPE, cwd=zmqrun.tmp_path,
                               start_new_session=True)
    zmqrun.procs.append(zmq_run)  # cleaned up by PID if anything below fails
    head = zmq_run.stdout.readline()
    zmq_run.stdout.close()  # like `| head -1`
    assert head
    def marker() -> str | None:  # the guardian is a child too, without the marker: wait for the node
        return next((r for c in psutil.Process(zmq_run.pid).children() if (r := c.environ().get("ZMQRUN_RUN_ID"))), None)

    run_id = wait_for(marker, timeout=10)
    zmq_run.send_signal(signal.SIGINT)
    assert zmq_run.wait(timeout=20) == 130
    assert run_marker_pids(run_id) == []


def test_start_barrier_lets_no_first_message_go_to_a_slow_joiner(zmqrun):
    # The publisher sends 20 messages right after its barrier; both subscribers get all 20.
    path = zmqrun.write(f"""\
    nodes:
      pub:
        run: [{PY}, -c, "from orchestrator.node import Node\\nwith Node() as n:\\n  s = n.socket('out')\\n  print('peers', n.wait_for_peers('out'), flush=True)\\n  [s.send(b'm%d' % i) for i in range(20)]\\n  n.sleep(0.5)"]
        sockets:
          out: {{type: PUB, bind: true}}
      sub:
        replicas: 2
        run: [{PY}, -c, "from orchestrator.node import Node\\nwith Node() as n:\\n  s = n.socket('in')\\n  got = []\\n  while (m := n.recv(s, timeout=2.0)) is not None: got.append(m)\\n  print('got', len(got), 'first', got[0].decode())"]
        sockets:
          in: {{type: SUB, connect: pub.out}}
    expect:
      timeout: 30s
      exit: {{sub: 0}}
    """)
    result = zmqrun.run(str(path), timeout=60)
    assert result.returncode == 0, result.stdout
    assert "peers 2" in result.stdout
    assert sorted(re.findall(r"sub\.\d +\| (got \d+ first \w+)", result.stdout)) == ["got 20 first m0"] * 2


def test_second_ctrl_c_forces(zmqrun):
    stubborn = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"
    path = zmqrun.write(f"nodes:\n  stubborn:\n    grace: 60s\n    run: [{PY}, -c, \"{stubborn}\"]\n")
    proc = zmqrun.start(str(path))
    wait_for(lambda: "| up" in proc.stdout.readline(), timeout=20)
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: "stopping: received SIGINT (press Ctrl+C again to force)" in proc.stdout.readline(), timeout=10)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = finish(proc, 20)
    assert "SIGINT again: forcing, killing every node now" in out
    assert time.monotonic() - start < 10  # far less than the 60 s grace
    assert proc.returncode == 130


@pytest.mark.parametrize("buffering, flush", [("line", "True"), ("full", "False")])
def test_ready_through_the_helper_orders_dependents(zmqrun, buffering, flush):
    # What a node printed before ready() is shown before its dependents start, even a line it
    # left in its own buffer (buffering: full, no flush): ready() flushes, zmqrun drains first.
    path = zmqrun.write(f"""\
    nodes:
      warm:
        buffering: {buffering}
        run: [{PY}, -c, "import time\\nfrom orchestrator.node import Node\\nwith Node() as n:\\n  time.sleep(0.5)\\n  print('warmed', flush={flush})\\n  n.ready()\\n  n.sleep(600)"]
        ready: helper
      after:
        run: [{PY}, -c, "print('after runs')"]
        depends_on: [warm]
        exit_on_end: true
    """)
    result = zmqrun.run(str(path), timeout=30)
    out = result.stdout
    assert result.returncode == 0, out
    assert "warm.1 is ready (the helper said so)" in out
    assert out.index("warm.1  | warmed") < out.index("started after.1")


def test_the_exit_report_says_which_signal_was_sent_when(zmqrun):
    stubborn = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"
    path = zmqrun.write(f"""\
    nodes:
      w:
        grace: 1s
        run: [{PY}, -c, "{stubborn}"]
    """)
    proc = zmqrun.start(str(path))
    wait_for(lambda: "| up" in proc.stdout.readline(), timeout=30)
    proc.send_signal(signal.SIGINT)
    out, _ = finish(proc, 30)
    m = re.search(r"w\.1 +stopped \(killed by SIGKILL; sent SIGINT, SIGTERM at ([\d.]+)s, SIGKILL at ([\d.]+)s; ended at ([\d.]+)s\)", out)
    assert m, out
    term, kill, ended = map(float, m.groups())
    assert 0.5 <= term < kill and 1.0 <= kill <= ended  # counted from the first signal, not the last


def test_a_node_killed_from_outside_is_reported_as_such(zmqrun):
    path = zmqrun.write(f"""\
    nodes:
      victim:
        run: [{PY}, -c, "import time; print('up', flush=True); time.sleep(600)"]
    """)
    proc = zmqrun.start(str(path))
    wait_for(lambda: "| up" in proc.stdout.readline(), timeout=30)
    (victim,) = [p for p in psutil.Process(proc.pid).children() if p.environ().get("ZMQRUN_NODE") == "victim"]
    victim.kill()
    out, _ = finish(proc, 30)
    assert "victim.1  killed by SIGKILL, not sent by zmqrun" in out, out


def test_end_descriptions_are_a_pure_function_of_code_and_signals():
    from orchestrator.run.state import describe_end

    assert describe_end(0, [(signal.SIGINT, 0.0)], 0.05) == "exit 0, 0.05s after SIGINT"
    assert describe_end(-9, [(signal.SIGINT, 0.0), (signal.SIGTERM, 1.5), (signal.SIGKILL, 3.0)], 3.01) == (
        "killed by SIGKILL; sent SIGINT, SIGTERM at 1.5s, SIGKILL at 3.0s; ended at 3.01s")
    assert describe_end(-9, [], 0.0) == "killed by SIGKILL, not sent by zmqrun"
    assert describe_end(-9, [(signal.SIGINT, 0.0)], 0.2) == "killed by SIGKILL, not sent by zmqrun, 0.20s after SIGINT"
    assert describe_end(-2, [(signal.SIGINT, 0.0)], 0.2) == "killed by SIGINT, 0.20s after SIGINT"
