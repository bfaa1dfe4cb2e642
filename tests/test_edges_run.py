"""Edges in real runs: each diagnosis provoked by real processes that do not use the helper, in
text and in --json; and `ready: connected` holding a dependant back until the edge is up."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time

import pytest
from conftest import ROOT, wait_for

NODE = f"[{sys.executable}, {ROOT / 'tests' / 'programs' / 'edgenode.py'}"

MISTAKES = f"""
nodes:
  loud:  # publishes busily; its one declared subscriber never connects
    run: {NODE}, pub, out, news]
    sockets:
      out: {{type: PUB, bind: true}}
  absent:
    run: {NODE}, idle]
    sockets:
      in: {{type: SUB, connect: loud.out}}
  feed:  # publishes "alpha ..." to two subscribers; one subscribed to a prefix nobody sends
    run: {NODE}, pub, out, alpha]
    sockets:
      out: {{type: PUB, bind: true}}
  fan:
    run: {NODE}, sub, in, alpha]
    sockets:
      in: {{type: SUB, connect: feed.out}}
  deaf:
    run: {NODE}, sub, in, zzz]
    sockets:
      in: {{type: SUB, connect: feed.out}}
  vent:  # pushes a burst at once; one of its two workers joins 2 s late
    run: {NODE}, push, out, "2000"]
    sockets:
      out: {{type: PUSH, bind: true}}
  early:
    run: {NODE}, pull, in, "0"]
    sockets:
      in: {{type: PULL, connect: vent.out}}
  late:
    run: {NODE}, pull, in, "2"]
    sockets:
      in: {{type: PULL, connect: vent.out}}
  stray:  # listens on a port besides the one it declares
    run: {NODE}, listen]
    sockets:
      rep: {{type: REP, bind: true}}
"""

def collect(proc) -> list[str]:
    """zmqrun's output lines as they come, gathered by a thread: the test polls the list with a
    deadline and never blocks on a quiet pipe."""
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    return lines


def diagnoses(lines: list[str]) -> list[dict]:
    return [d for line in list(lines) if line.startswith("{") and (d := json.loads(line))["stream"] == "diagnosis"]


KINDS = {
    "not-connected": ("edge not connected: absent.1 (in, SUB) never connected to loud.1 (out, PUB) at tcp://127.0.0.1:",),
    "no-subscriber": ("loud.1 is busy", "no subscriber is connected to its PUB socket 'out'", "dropped", "absent.1"),
    "prefix": ("deaf.1 is connected to feed.1's PUB 'out', which is sending to fan.1", "prefix matches nothing"),
    "slow-joiner": ("vent.1's PUSH 'out' sent", "to early.1 (late.1 got almost nothing)", "wait_for_peers"),
    # The supervisor's listener audit (run/audit.py) reports this one, in the diagnosis stream too.
    "undeclared-listener": ("stray.1 listens on 127.0.0.1:", "does not declare"),
}


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory):
    """One run that makes every mistake at once, watched until each was diagnosed and then
    for a few more samples (so a repeat would show); its diagnosis objects, from --json."""
    from conftest import Zmqrun

    z = Zmqrun(tmp_path_factory.mktemp("mistakes"))
    try:
        path = z.write(MISTAKES)
        proc = z.start("--json", "--edge-interval", "0.5s", str(path))
        lines = collect(proc)

        def all_seen() -> bool:
            found = diagnoses(lines)
            return all(any(all(t in d["line"] for t in texts) for d in found) for texts in KINDS.values())

        wait_for(all_seen, 60, interval=0.1)
        settle = time.monotonic() + 3.0  # six more samples, so a repeat would show
        wait_for(lambda: time.monotonic() > settle, 10, interval=0.1)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        yield diagnoses(lines)
    finally:
        z.cleanup()


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_mistake_is_diagnosed_once(mistakes, kind):
    matching = [d for d in mistakes if all(t in d["line"] for t in KINDS[kind])]
    assert len(matching) == 1, mistakes
    assert matching[0]["node"] == "zmqrun"


def test_a_healthy_run_has_no_diagnosis(zmqrun):
    path = zmqrun.write(f"""
        nodes:
          feed:
            run: {NODE}, pub, out, alpha]
            sockets:
              out: {{type: PUB, bind: true}}
          fan:
            run: {NODE}, sub, in, alpha]
            sockets:
              in: {{type: SUB, connect: feed.out}}
        """)  # fmt: skip
    proc = zmqrun.start("--edge-interval", "0.2s", str(path))
    lines = collect(proc)
    wait_for(lambda: any(line.startswith("fan.1 ") and line.endswith("| received\n") for line in lines), 30)
    # Long enough for every diagnosis to have fired (they need at most ~5 s of evidence).
    settle = time.monotonic() + 7.0
    wait_for(lambda: time.monotonic() > settle, 10, interval=0.1)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert not [line for line in lines if "diagnosis" in line]


def test_ready_connected_waits_for_the_connection(zmqrun):
    """`late` connects 1.5 s after it starts; `after` depends on it, so starts only once the
    kernel shows late's edge established, not when late merely started."""
    path = zmqrun.write(f"""
        nodes:
          vent:
            run: {NODE}, wait]
            sockets:
              out: {{type: PUSH, bind: true}}
          late:
            run: {NODE}, pull, in, "1.5"]
            ready: connected
            sockets:
              in: {{type: PULL, connect: vent.out}}
          after:
            run: {NODE}, idle]
            depends_on: [late]
        """)  # fmt: skip
    proc = zmqrun.start("--json", str(path))
    lines = collect(proc)
    wait_for(lambda: any("started after.1" in line for line in lines), 30)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    said = [(r["time"], r["line"]) for r in map(json.loads, lines) if r["stream"] == "zmqrun"]

    def when(text: str) -> float:
        return next(t for t, line in said if text in line)

    # On zmqrun's own clock: late.1 connects no sooner than 1.5 s after it was started, so its
    # kernel-seen edge cannot make it ready sooner (load only makes the gap longer). Its own
    # "sockets open" line is no landmark: it races the kernel sample that sees the connection.
    assert when("late.1 is ready (its connections are established)") - when("started late.1") >= 1.4
    assert when("late.1 is ready") <= when("started after.1")


def test_a_diagnosis_is_a_zmqrun_line_in_text_output_once(zmqrun):
    """Without --json the diagnosis is one of zmqrun's own lines, marked `diagnosis:`, and is
    not repeated by the samples after it."""
    port = zmqrun_port()
    path = zmqrun.write(f"""
        nodes:
          lonely:
            run: {NODE}, idle]
            sockets:
              in: {{type: SUB, connect: "tcp://127.0.0.1:{port}"}}
        """)  # fmt: skip
    proc = zmqrun.start("--edge-interval", "0.3s", str(path))
    lines = collect(proc)
    wanted = f"diagnosis: edge not connected: lonely.1 (in, SUB) never connected to its peer at tcp://127.0.0.1:{port}"
    wait_for(lambda: any(wanted in line for line in lines), 30, interval=0.1)
    settle = time.monotonic() + 2.0  # six more samples, so a repeat would show
    wait_for(lambda: time.monotonic() > settle, 10, interval=0.1)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    [line] = [line for line in lines if "diagnosis" in line]
    assert line.startswith("zmqrun ") and wanted in line, line


def zmqrun_port() -> int:
    """A loopback port nobody listens on (taken from the range the tests use, then let go)."""
    from orchestrator.run.ports import PortAllocator

    return PortAllocator(20000, 29999).take()
