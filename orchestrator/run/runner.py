"""One run of one topology: load, plan, supervise, report; returns the exit status."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from orchestrator.errors import Problem, TopologyError
from orchestrator.run.plan import Plan, make_plan
from orchestrator.run.ports import PortAllocator, listener_holders
from orchestrator.run.runs import CONTROL
from orchestrator.topology.model import Topology
from orchestrator.topology.validate import load_topology
from orchestrator.view.printer import Printer, use_color

if TYPE_CHECKING:
    from orchestrator.run.expect import Expectations
    from orchestrator.run.state import Options, Outcome


def new_run_id() -> str:
    return "zr-" + os.urandom(5).hex()


def remove_rundir(rundir: str) -> None:
    """The run directory holds only ipc socket files: no need for shutil here."""
    try:
        for name in os.listdir(rundir):
            os.unlink(os.path.join(rundir, name))
        os.rmdir(rundir)
    except OSError:
        pass


def plan_for(topology: Topology, run_id: str | None = None) -> tuple[Plan, str]:
    """Assign ports and render every instance; returns the plan and its private run directory."""
    from orchestrator.run.runs import rundir_of

    run_id = run_id or new_run_id()
    rundir = rundir_of(run_id)
    os.mkdir(rundir, 0o700)  # private: ipc sockets of this run live here
    fixed = {s.port for n in topology.nodes for s in n.sockets if s.port is not None}
    allocator = PortAllocator(*topology.port_range, reserved=fixed)
    return make_plan(topology, run_id, allocator, rundir), rundir


def execute(topology: Topology, printer_out: BinaryIO, color: bool, timestamps: bool = False,
            options: Options | None = None, timeout: float | None = None, log_dir: str | None = None,
            json_lines: bool = False, status: bool = False, watch: Any = None, run_id: str | None = None,
            only: Sequence[str] = (), with_peers: bool = False) -> tuple[Outcome, Expectations | None]:  # fmt: skip
    """Plan and supervise one run; the outcome, and the expectations observer if there was one.
    The run holds its lock and serves its control socket for as long as it lasts."""
    from orchestrator.run.expect import Expectations
    from orchestrator.run.runs import RunLock
    from orchestrator.run.state import Options
    from orchestrator.run.supervisor import Supervisor
    from orchestrator.view.report import print_outcome

    plan, rundir = plan_for(topology, run_id)
    lock = None
    try:
        lock = RunLock(rundir, plan.run_id, topology.name, topology.file)
        info = {"run_id": plan.run_id, "name": topology.name, "topology": os.path.abspath(topology.file),
                "pid": os.getpid()}  # fmt: skip
        chosen = frozenset(subset(plan, only, with_peers)) if only else None
        options = (options or Options())._replace(control=os.path.join(rundir, CONTROL), only=chosen)
        labels = [(i.label, idx) for idx, n in enumerate(topology.nodes) for i in plan.instances if i.node is n]
        if status:
            from orchestrator.view.status import LivePrinter

            printer: Printer = LivePrinter(labels, color, timestamps, log_dir)
        else:
            printer = Printer(printer_out, labels, color, timestamps, log_dir, json_lines)
        observer = None
        if topology.expect is not None or timeout is not None:
            observer = Expectations(topology.expect, timeout)
            observer.set_replicas({n.name: n.replicas for n in topology.nodes})
        printer.note(f"run {plan.run_id}: {topology.name}, {len(plan.instances)} processes")
        try:
            outcome = Supervisor(plan, printer, options, observer, view=printer.view, watch=watch, info=info).run()
            print_outcome(outcome, printer)
        finally:
            printer.close()
        return outcome, observer
    finally:
        remove_rundir(rundir)  # the lock file too: a run directory never outlives its run
        if lock is not None:
            lock.release()


def subset(plan: Plan, words: Sequence[str], with_peers: bool) -> list[str]:
    """The instances `zmqrun FILE NODE...` starts: those named, every instance of what they
    depend on (transitively), and with `with_peers` the nodes their sockets connect to."""
    from orchestrator.run.targets import select
    from orchestrator.topology.validate import peers

    labels = [i.label for i in plan.instances]
    chosen = select(labels, words)
    topology = plan.topology
    todo = list(dict.fromkeys(label.rpartition(".")[0] for label in chosen))
    needed: set[str] = set()
    while todo:
        name = todo.pop()
        node = topology.node(name)
        assert node is not None
        more = [dep for dep, _ in node.depends_on]
        if with_peers:
            more += [peer.name for s in node.sockets for peer, _ in peers(topology, node, s)]
        for dep in more:
            if dep not in needed:
                needed.add(dep)
                todo.append(dep)
    return [i.label for i in plan.instances if i.label in chosen or i.node.name in needed]


def cli_duration(value: str | None, flag: str) -> float | None:
    from orchestrator.topology.parse import parse_duration

    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is None:
        raise TopologyError([Problem(flag, 0, "", f"expected a duration such as 30s, got {value!r}")])
    return seconds


def run_file(args: argparse.Namespace) -> int:
    topology = load_topology(args.file, holder_of=listener_holders, env_files=args.env_file)
    if args.exit_code_from and topology.node(args.exit_code_from) is None:
        raise TopologyError([Problem(args.file, 0, "", f"--exit-code-from: no node named {args.exit_code_from!r}")])
    timeout = cli_duration(args.timeout, "--timeout")
    from orchestrator.run.state import Options

    options = Options(abort_on_failure=args.abort_on_failure, exit_code_from=args.exit_code_from)
    live = args.status and sys.stdout.isatty() and not args.json
    if args.status and not live:
        print("zmqrun: --status needs a terminal (and no --json); showing plain output", file=sys.stderr)
    color = use_color(flag=args.color)
    if args.watch is None:
        outcome, _ = execute(topology, sys.stdout.buffer, color, args.timestamps, options,
                             timeout, args.log_dir, args.json, live, None, args.run_id, args.nodes, args.with_peers)  # fmt: skip
        return outcome.status
    from orchestrator.run.watch import Session

    def note(text: str, style: str | None = None) -> None:
        print(f"zmqrun: {text}", file=sys.stderr, flush=True)

    while True:  # --watch: until Ctrl-C; a changed topology or a change after the run ended starts it again
        session = Session(args.file, args.env_file, topology, args.watch)
        try:
            outcome, _ = execute(topology, sys.stdout.buffer, color, args.timestamps, options,
                                 timeout, args.log_dir, args.json, live, watch=session, only=args.nodes,
                                 with_peers=args.with_peers)  # fmt: skip
            if outcome.status >= 128:
                return outcome.status
            if session.next is None:
                note(f"the run ended ({outcome.reason}); watching for changes, Ctrl-C to quit")
                reason, session.next = session.wait(note)
                note(f"{reason}: starting the run again")
            topology = session.next
        finally:
            session.close()
