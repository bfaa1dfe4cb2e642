"""`zmqrun test`: run topologies one after another against their expect blocks, one verdict
line each, a `N passed, N failed` summary, and JUnit XML for CI systems. Ctrl-C or SIGTERM stops
the current run cleanly, starts no further file, and still writes JUnit for what ran."""

from __future__ import annotations

import re
import signal
import sys
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

from orchestrator.errors import TopologyError
from orchestrator.run.ports import port_users_lookup
from orchestrator.run.runner import execute
from orchestrator.topology.validate import load_topology
from orchestrator.view.printer import to_devnull
from orchestrator.view.text import one_line, sanitize, xml_text
from orchestrator.writes import write_stream

TAIL_LINES = 15


SYSTEM_OUT_LINES = 200  # of a run's output, kept in each JUnit case
TOPOLOGY = re.compile(rb"^nodes[ \t]*:[ \t]*(#.*)?(\{.*)?$", re.MULTILINE)  # a top-level `nodes:` mapping


class Tail:
    """A bounded, write-only sink for a run's output: keeps the last lines, drops the rest; with
    `echo`, also passes everything on (-v)."""

    def __init__(self, lines: int = 400, echo: BinaryIO | None = None):
        self.lines: deque[str] = deque(maxlen=lines)
        self._partial = ""
        self.echo = echo

    def write(self, data: bytes | memoryview) -> int:
        if self.echo is not None:
            try:
                write_stream(self.echo, data)
            except OSError:  # a reader that went away (`| head`): keep the tail, stop echoing
                self.echo = None
        text = self._partial + str(data, "utf-8", "replace")  # bytes or a view of them, no copy
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
    error: bool = False  # not a topology that could run (invalid): a JUnit <error>, not a <failure>
    output: tuple[str, ...] = ()  # the tail of the run's output, for JUnit's <system-out>
    signal: int | None = None  # the run was stopped by this signal (Ctrl-C, SIGTERM)


def is_topology(path: Path) -> bool:
    """Whether a YAML file found in a folder is a topology (a top-level `nodes:` mapping); other
    YAML there (CI configs, data) is not ours to run. Named files are always run."""
    try:
        with open(path, "rb") as f:
            return TOPOLOGY.search(f.read(1 << 20)) is not None
    except OSError:
        return False


def collect(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file() and is_topology(p))
        else:
            files.append(path)
    return files


def run_one(file: Path, timeout: float | None, verbose: bool, env_files: Sequence[str] = ()) -> Result:
    start = time.monotonic()
    try:
        topology = load_topology(str(file), holder_of=port_users_lookup(), env_files=env_files)
    except TopologyError as exc:
        problems = [str(p) for p in exc.problems]
        return Result(str(file), file.stem, False, time.monotonic() - start, "invalid topology",
                      problems, 2, error=True, output=tuple(problems))  # fmt: skip
    tail = Tail(echo=sys.stdout.buffer if verbose else None)
    try:
        outcome, observer = execute(topology, tail, color=False, timeout=timeout)  # type: ignore[arg-type]
    except TopologyError as exc:  # a live run took a fixed port first
        problems = [str(p) for p in exc.problems]
        return Result(str(file), topology.name, False, time.monotonic() - start, "not started", problems, 2,
                      error=True, output=tuple(problems))  # fmt: skip
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
    return Result(str(file), topology.name, passed, seconds, outcome.reason, details, outcome.status,
                  output=tuple(tail.lines)[-SYSTEM_OUT_LINES:], signal=outcome.signal)  # fmt: skip


def say(line: str) -> None:
    """Print a line; a reader that went away (`| head`) must not abort the remaining runs."""
    try:
        print(one_line(line), flush=True)
    except BrokenPipeError:
        to_devnull(sys.stdout.fileno())


class Interrupted(Exception):
    """SIGTERM outside a run (while a file loads): handled like Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Interrupted()


def run_all(paths: list[str], timeout: float | None, junit: str | None, verbose: bool,
            env_files: Sequence[str] = ()) -> int:  # fmt: skip
    files = collect(paths)
    if not files:
        print("zmqrun test: no topology files found", file=sys.stderr)
        return 2
    results: list[Result] = []
    stopped_by: int | None = None
    old = signal.signal(signal.SIGTERM, _on_sigterm)  # during a run, the supervisor's own handling wins
    try:
        for file in files:
            result = run_one(file, timeout, verbose, env_files)
            results.append(result)
            verdict = "PASS" if result.passed else ("ERROR" if result.error else "FAIL")
            why = "" if result.passed else f": exit status {result.status}, {result.message}"
            say(f"{verdict} {result.name} ({result.file}) {result.seconds:.1f}s{why}")
            for line in result.details:
                say(f"    {line}")
            if result.signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                stopped_by = result.signal
                break
    except KeyboardInterrupt:
        stopped_by = signal.SIGINT
    except Interrupted:
        stopped_by = signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, old)
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    if junit:
        write_junit(results, junit)
    if stopped_by is not None:
        left = len(files) - len(results)
        say(f"{passed} passed, {failed} failed; stopped by {signal.Signals(stopped_by).name}, {left} not run")
        return 128 + stopped_by
    say(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def write_junit(results: list[Result], path: str) -> None:
    """Invalid topology: <error>; run that failed its expectations: <failure>; every case carries
    the tail of the run's output in <system-out>."""
    errors = sum(r.error for r in results)
    suite = ET.Element("testsuite", name="zmqrun", tests=str(len(results)),
                       failures=str(sum(not r.passed and not r.error for r in results)), errors=str(errors),
                       time=f"{sum(r.seconds for r in results):.3f}")  # fmt: skip
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=xml_text(one_line("zmqrun." + Path(r.file).stem)),
                             name=xml_text(one_line(r.name)), time=f"{r.seconds:.3f}")  # fmt: skip
        if not r.passed:
            kind = "error" if r.error else "failure"
            element = ET.SubElement(case, kind, message=xml_text(one_line(f"exit status {r.status}: {r.message}")))
            element.text = xml_text("\n".join(r.details))
        ET.SubElement(case, "system-out").text = xml_text("\n".join(sanitize(line) for line in r.output))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
