"""`zmqrun test`: run topologies one after another against their expect blocks, one verdict
line each, a `N passed, N failed` summary, and JUnit XML for CI systems."""

from __future__ import annotations

import sys
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from orchestrator.errors import TopologyError
from orchestrator.run.ports import listener_lookup
from orchestrator.run.runner import execute
from orchestrator.topology.validate import load_topology
from orchestrator.view.printer import sanitize, to_devnull

TAIL_LINES = 15


class Tail:
    """A bounded, write-only sink for a run's output: keeps the last lines, drops the rest."""

    def __init__(self, lines: int = 400):
        self.lines: deque[str] = deque(maxlen=lines)
        self._partial = ""

    def write(self, data: bytes) -> int:
        text = self._partial + data.decode("utf-8", "replace")
        *done, self._partial = text.split("\n")
        self.lines.extend(done)
        return len(data)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        raise OSError("no file descriptor")


class Result(NamedTuple):
    file: str
    name: str
    passed: bool
    seconds: float
    message: str = ""
    details: tuple[str, ...] | list[str] = ()
    status: int = 0


def collect(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            files.append(path)
    return files


def run_one(file: Path, timeout: float | None, verbose: bool, env_files: Sequence[str] = ()) -> Result:
    start = time.monotonic()
    try:
        topology = load_topology(str(file), holder_of=listener_lookup(), env_files=env_files)
    except TopologyError as exc:
        return Result(str(file), file.stem, False, time.monotonic() - start, "invalid topology",
                      [str(p) for p in exc.problems], 2)  # fmt: skip
    tail = Tail()
    out = sys.stdout.buffer if verbose else tail
    outcome, observer = execute(topology, out, color=False, timeout=timeout)  # type: ignore[arg-type]
    seconds = time.monotonic() - start
    passed = outcome.status == 0
    details: list[str] = []
    if not passed:
        names = [p.inst.node.name for p in outcome.procs]
        mentioned = [n for n in names if n in outcome.reason] or [p.inst.node.name for p in outcome.procs if p.failed]
        tails = observer.tails if observer else {}
        for name in dict.fromkeys(mentioned):
            lines = list(tails.get(name, []))[-TAIL_LINES:]
            if not lines:  # no observer: fall back to the captured stream
                lines = [line for line in tail.lines if line.startswith(name + ".")][-TAIL_LINES:]
            details.append(f"last lines of {name}:")
            details += [f"  {sanitize(line)}" for line in lines]
        details += [line for line in tail.lines if "expectation failed" in line]
    return Result(str(file), topology.name, passed, seconds, outcome.reason, details, outcome.status)


def say(line: str) -> None:
    """Print a line; a reader that went away (`| head`) must not abort the remaining runs."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        to_devnull(sys.stdout.fileno())


def run_all(paths: list[str], timeout: float | None, junit: str | None, verbose: bool,
            env_files: Sequence[str] = ()) -> int:  # fmt: skip
    files = collect(paths)
    if not files:
        print("zmqrun test: no topology files found", file=sys.stderr)
        return 2
    results = []
    for file in files:
        result = run_one(file, timeout, verbose, env_files)
        results.append(result)
        verdict = "PASS" if result.passed else "FAIL"
        why = "" if result.passed else f": exit status {result.status}, {result.message}"
        say(f"{verdict} {result.name} ({result.file}) {result.seconds:.1f}s{why}")
        for line in result.details:
            say(f"    {line}")
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    if junit:
        write_junit(results, junit)
    say(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def write_junit(results: list[Result], path: str) -> None:
    suite = ET.Element("testsuite", name="zmqrun", tests=str(len(results)),
                       failures=str(sum(not r.passed for r in results)), errors="0",
                       time=f"{sum(r.seconds for r in results):.3f}")  # fmt: skip
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="zmqrun." + Path(r.file).stem, name=r.name, time=f"{r.seconds:.3f}")
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=f"exit status {r.status}: {r.message}")
            failure.text = "\n".join(r.details)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
