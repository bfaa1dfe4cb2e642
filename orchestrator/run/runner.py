"""One run of one topology: load, plan, supervise, report; returns the exit status."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from orchestrator.errors import Problem, TopologyError
from orchestrator.run import runs
from orchestrator.run.plan import Plan, make_plan
from orchestrator.run.ports import PortAllocator, port_users_lookup
from orchestrator.run.rundir import make_rundir, remove_rundir
from orchestrator.topology.model import Topology
from orchestrator.topology.validate import load_topology
from orchestrator.view.printer import Printer, use_color
from orchestrator.view.text import count

if TYPE_CHECKING:
    from orchestrator.run.expect import Expectations
    from orchestrator.run.state import Options, Outcome


def new_run_id() -> str:
    return "zr-" + os.urandom(5).hex()


def fixed_ports(topology: Topology) -> tuple[int, ...]:
    return tuple(s.port for n in topology.nodes for s in n.sockets if s.port is not None)


def plan_for(topology: Topology, run_id: str | None = None) -> tuple[Plan, str]:
    """Assign ports and render every instance; returns the plan and its private run directory."""
    run_id = run_id or new_run_id()
    rundir = make_rundir(run_id)
    allocator = PortAllocator(*topology.port_range, reserved=fixed_ports(topology))
    try:
        return make_plan(topology, run_id, allocator, rundir), rundir
    except BaseException:
        remove_rundir(rundir)
        raise


def execute(topology: Topology, printer_out: BinaryIO, color: bool, timestamps: bool = False,
            options: Options | None = None, timeout: float | None = None, log_dir: str | None = None,
            json_lines: bool = False, status: bool = False, watch: Any = None, run_id: str | None = None,
            only: Sequence[str] = (), with_peers: bool = False) -> tuple[Outcome, Expectations | None]:  # fmt: skip
    """Plan and supervise one run; the outcome, and the expectations observer if there was one.
    The run holds its lock and serves its control socket for as long as it lasts."""
    from orchestrator.run.expect import Expectations
    from orchestrator.run.process import ensure_fd_limit
    from orchestrator.run.state import Options
    from orchestrator.run.supervisor import Supervisor
    from orchestrator.view.report import print_outcome, security_summary

    ensure_fd_limit(sum(n.replicas for n in topology.nodes))
    plan, rundir = plan_for(topology, run_id)
    claim = runs.Claim(rundir, plan.run_id, topology.file, fixed_ports(topology), topology.name)  # alive until released
    try:
        contested = claim.contested()  # a run started at the same moment, before either bound its ports
        if contested:
            raise TopologyError([Problem(topology.file, 0, "", f"fixed port {port} is claimed by the live {other.describe()}, "
                                         "started just before this one; nothing was started")
                                 for port, other in contested])  # fmt: skip
        info = {"run_id": plan.run_id, "name": topology.name, "topology": claim.info.topology, "pid": os.getpid()}
        chosen = frozenset(subset(plan, only, with_peers)) if only else None
        options = (options or Options())._replace(control=claim.info.control, only=chosen)
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
        n = len(plan.instances)
        printer.note(f"run {plan.run_id}: {topology.name}, {count(n, 'process', 'processes')}")
        for conflict in plan.conflicts:
            printer.note(conflict, "yellow")
        if plan.keys is not None:  # the supervisor writes the key files, once its guardian is up
            from orchestrator.security.policy import warnings

            for warning in warnings(topology):
                printer.note(warning, "bold yellow")
            printer.note(security_summary(plan))
        edges = None
        try:
            from orchestrator.edges.watch import watch_for
            from orchestrator.run.state import Options

            edges = watch_for(plan, printer, (options or Options()).edge_interval)
            printer.edges = edges  # the live view draws them
            outcome = Supervisor(plan, printer, options, observer, view=printer.view, watch=watch, edges=edges, info=info).run()
            print_outcome(outcome, printer)
        finally:
            if edges is not None:
                edges.close()
            printer.close()
        return outcome, observer
    finally:
        remove_rundir(rundir)
        claim.release()


def subset(plan: Plan, words: Sequence[str], with_peers: bool) -> list[str]:
    """The instances `zmqrun FILE NODE...` starts: those named, every instance of what they
    depend on (transitively), and with `with_peers` the nodes their sockets connect to."""
    from orchestrator.run.targets import select
    from orchestrator.topology.validate import peers

    chosen = select([i.label for i in plan.instances], words)
    topology = plan.topology
    todo = list(dict.fromkeys(label.rpartition(".")[0] for label in chosen))
    needed: set[str] = set()
    while todo:
        node = topology.node(todo.pop())
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
    from orchestrator.topology.reader import parse_duration

    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is None:
        raise TopologyError([Problem(flag, 0, "", f"expected a duration such as 30s, got {value!r}")])
    return seconds


def run_file(args: argparse.Namespace) -> int:
    topology = load_topology(args.file, holder_of=port_users_lookup(), env_files=args.env_file)
    if args.exit_code_from and topology.node(args.exit_code_from) is None:
        from orchestrator.topology.reader import did_you_mean

        hint = did_you_mean(args.exit_code_from, (n.name for n in topology.nodes))
        raise TopologyError([Problem(args.file, 0, "", f"--exit-code-from: no node named {args.exit_code_from!r}{hint}")])
    timeout = cli_duration(args.timeout, "--timeout")
    from orchestrator.run.state import Options

    interval = cli_duration(args.edge_interval, "--edge-interval")
    options = Options(abort_on_failure=args.abort_on_failure, exit_code_from=args.exit_code_from, strict=args.strict,
                      edge_interval=interval)  # fmt: skip
    live = args.status and sys.stdout.isatty() and not args.json
    if args.status and not live:
        print("zmqrun: --status needs a terminal (and no --json); showing plain output", file=sys.stderr)
    color = use_color(flag=args.color)
    if args.watch is None:
        outcome, _ = execute(topology, sys.stdout.buffer, color, args.timestamps, options, timeout, args.log_dir,
                             args.json, live, None, args.run_id, args.nodes, args.with_peers)  # fmt: skip
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
