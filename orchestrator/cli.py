"""The command line: `main(argv) -> int` alone decides what is printed and how zmqrun exits."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from orchestrator.errors import ExitStatus, TopologyError, ZmqrunError
from orchestrator.view.printer import to_devnull
from orchestrator.view.text import one_line

COMMANDS = ("run", "check", "test", "free", "graph", "schema", "config", "examples", "completion", "_complete",
            "export", "ls", "ps", "logs", "stop", "start", "restart", "web")


class _Formatter(argparse.HelpFormatter):
    """argparse's own formatter, told the width up front: left to find it, it imports shutil
    (and with it bz2, lzma and fnmatch) on every run, help or not."""

    def __init__(self, prog: str) -> None:
        try:
            columns = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            columns = 80
        super().__init__(prog, width=columns - 2)


class _Parser(argparse.ArgumentParser):
    """Every parser, subcommands' too (argparse makes those of the same class), uses _Formatter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="zmqrun",
        description="Run a ZeroMQ topology described in YAML: zmqrun FILE, or zmqrun COMMAND ...",
    )
    p.add_argument("--version", action="version", version=f"zmqrun {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run a topology (the default: `zmqrun FILE` is `zmqrun run FILE`)")
    run.add_argument("file")
    run.add_argument("nodes", nargs="*", metavar="NODE", help="start only these nodes (NODE or NODE.N) and what they need")
    run.add_argument("--with-peers", action="store_true", help="with NODE...: also start the binders they connect to")
    run.add_argument("--run-id", type=_run_id, help="use this run id (scripts and the Python API choose their own)")
    _env_flag(run)
    _output_flags(run)
    run.add_argument("--abort-on-failure", action="store_true", help="stop the run as soon as any node fails")
    run.add_argument("--exit-code-from", metavar="NODE", help="stop when NODE exits and exit with its status")
    run.add_argument("--timeout", metavar="DURATION", help="deadline for the run (overrides expect.timeout)")
    run.add_argument("--edge-interval", metavar="DURATION",
                     help="how often the kernel is asked about every edge (default 3s; 0 turns edge watching off)")
    run.add_argument("--strict", action="store_true",
                     help="a node listening where the topology does not declare fails the run")  # fmt: skip
    run.add_argument("--watch", nargs="*", metavar="PATH", help="restart nodes whose files change (after FILE; "
                     "PATHs: more to watch, shared by every node)")  # fmt: skip
    test = sub.add_parser("test", help="CI smoke runs: run each topology against its expect block")
    test.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    test.add_argument("--junit", metavar="PATH", help="write JUnit XML here")
    test.add_argument("--timeout", metavar="DURATION", help="deadline per topology (overrides expect.timeout)")
    test.add_argument("-v", "--verbose", action="store_true", help="stream every node's output")
    _env_flag(test)
    graph = sub.add_parser("graph", help="draw the topology; runs nothing")
    graph.add_argument("file")
    graph.add_argument("--format", choices=["tree", "mermaid", "dot"], default="tree")
    graph.add_argument("--no-color", action="store_true", help="never colour the tree")
    _env_flag(graph)
    sub.add_parser("schema", help="print the JSON Schema of topology files (for editors)")
    free = sub.add_parser("free", help="who holds these ports; stop only what zmqrun started")
    free.add_argument("ports", nargs="+", type=int, metavar="PORT")
    free.add_argument("--force", action="store_true", help="offer to stop other listeners too (asks at a terminal)")
    check = sub.add_parser("check", help="validate topologies and print the plan; runs nothing")
    check.add_argument("files", nargs="+")
    check.add_argument("--no-color", action="store_true")
    _env_flag(check)
    config = sub.add_parser("config", help="print the topology after variables and includes, secrets redacted")
    config.add_argument("file")
    _env_flag(config)
    examples = sub.add_parser("examples", help="the shipped topologies: list them, print one, or copy them out")
    examples.add_argument("name", nargs="?", help="print this example")
    examples.add_argument("--copy", metavar="DIR", help="write them all to DIR/topologies (never overwrites)")
    completion = sub.add_parser("completion", help="print a shell completion script: source <(zmqrun completion bash)")
    completion.add_argument("shell", choices=["bash", "zsh", "fish"])
    export = sub.add_parser("export", help="manifests for Kubernetes or Docker Compose; runs nothing")
    engines = export.add_subparsers(dest="engine", metavar="ENGINE", required=True)
    k8s = engines.add_parser("kubernetes", help="Deployments, StatefulSets, Jobs, Services, NetworkPolicies")
    k8s.add_argument("file")
    k8s.add_argument("-o", "--output", metavar="DIR|-", help="write one file per object into DIR (default: stdout)")
    k8s.add_argument("--image", help="image for nodes without their own (replaces the top-level image)")
    k8s.add_argument("--namespace", metavar="NS", help="put every object in namespace NS")
    _secrets_flag(k8s, "the nodes' CURVE key Secrets")
    _env_flag(k8s)
    comp = engines.add_parser("compose", help="a Compose file")
    comp.add_argument("file")
    comp.add_argument("-o", "--output", metavar="FILE|-", help="write to FILE (default: stdout)")
    comp.add_argument("--image", help="image for nodes without their own (replaces the top-level image)")
    _secrets_flag(comp, "the services' CURVE key files (the Compose file looks in ./TOPOLOGY-curve/ beside it)")
    _env_flag(comp)
    _control_commands(sub)
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("zmqrun")
    except PackageNotFoundError:
        return "(not installed)"


def _secrets_flag(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--secrets-out", metavar="DIR",
                   help=f"with security: curve, write {what} into DIR (0600 files, new keys each time; never commit them)")  # fmt: skip


def _env_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env-file", metavar="PATH", action="append", default=[],
                   help="variables for ${VAR} (repeatable; replaces the .env beside the topology)")  # fmt: skip


def _control_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    ls = sub.add_parser("ls", help="the runs alive for this user")
    ps = sub.add_parser("ps", help="one row per instance of a live run")
    ps.add_argument("run", nargs="?", metavar="RUN", help="run id (or prefix), topology file or name")
    ps.add_argument("--edges", action="store_true", help="one row per edge instead: state and rate each way")
    web = sub.add_parser("web", help="a live read-only page of a run's topology, on 127.0.0.1 with a secret URL")
    web.add_argument("run", nargs="?", metavar="RUN", help="run id (or prefix), topology file or name")
    logs = sub.add_parser("logs", help="recent output of a live run's instances, from memory")
    logs.add_argument("words", nargs="*", metavar="[RUN] [NODE[.N]...]")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until the run ends")
    logs.add_argument("--tail", type=int, metavar="N", help="only the last N lines of each instance")
    logs.add_argument("--since", metavar="DURATION", help="only lines from the last DURATION (30s, 5m)")
    color = logs.add_mutually_exclusive_group()
    color.add_argument("--no-color", dest="color", action="store_false", default=None)
    color.add_argument("--color", dest="color", action="store_true")
    for name, what in (("stop", "stop instances with their stop sequence; no NODE: the whole run, as Ctrl-C"),
                       ("start", "start instances (and wait until they are ready)"),
                       ("restart", "stop then start instances (and wait until they are ready)")):  # fmt: skip
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("run", metavar="RUN", help="run id (or prefix), topology file or name")
        cmd.add_argument("targets", nargs="*" if name == "stop" else "+", metavar="NODE[.N]")
    for cmd in (ls, ps, logs, *(sub.choices[n] for n in ("stop", "start", "restart"))):
        cmd.add_argument("--json", action="store_true", help="JSON for scripts")


def _run_id(value: str) -> str:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", value):
        raise argparse.ArgumentTypeError("a run id is 1 to 40 of a-z, 0-9 and '-'")
    return value


def _output_flags(p: argparse.ArgumentParser) -> None:
    color = p.add_mutually_exclusive_group()
    color.add_argument("--no-color", dest="color", action="store_false", default=None, help="never colour")
    color.add_argument("--color", dest="color", action="store_true", help="colour even when not on a terminal")
    p.add_argument("--timestamps", action="store_true", help="prefix every line with the time")
    p.add_argument("--log-dir", metavar="DIR", help="also write each node's output to DIR/NODE.REPLICA.log")
    p.add_argument("--json", action="store_true", help="JSON lines (time, node, replica, stream, line) instead of text")
    p.add_argument("--status", action="store_true", help="a live status table above the logs (terminals only)")


def _std_streams() -> None:
    """A closed stdout or stderr (`zmqrun ... >&-`) becomes /dev/null: output goes nowhere, and
    nothing fails on it."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            to_devnull(fd)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "w", closefd=False))  # noqa: SIM115


def main(argv: Sequence[str] | None = None) -> int:
    _std_streams()
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["_complete"] and len(args_list) > 2 and args_list[1].isdigit():
        from orchestrator.commands.completion import candidates  # hidden: what the shell scripts call

        print("\n".join(candidates(_parser(), args_list[2:], int(args_list[1]))))
        return ExitStatus.OK
    first = next((a for a in args_list if not a.startswith("-")), None)
    if first is not None and first not in COMMANDS and args_list[0] not in ("-h", "--help", "--version"):
        args_list.insert(0, "run")  # `zmqrun [OPTIONS] FILE` is `zmqrun run [OPTIONS] FILE`
    parser = _parser()
    if not args_list:
        parser.print_help(sys.stderr)
        return ExitStatus.INVALID
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return ExitStatus.INVALID if exc.code else ExitStatus.OK
    try:
        status = _dispatch(parser, args)
        sys.stdout.flush()  # here, so that a reader gone early is seen now, not at exit
        return status
    except TopologyError as exc:
        _report_problems(exc, "written" if args.command == "export" else "started")
        return exc.status
    except ZmqrunError as exc:
        print(f"zmqrun: {one_line(str(exc))}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`zmqrun schema | head -1`): nothing more to say, and the
        # interpreter's own flush at exit must not fail on the pipe either.
        to_devnull(sys.stdout.fileno())
        return ExitStatus.FAILED


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "run":
        from orchestrator.run.runner import run_file

        return run_file(args)
    if args.command == "check":
        return _check(args)
    if args.command == "schema":
        import json

        from orchestrator.topology.schema import schema

        print(json.dumps(schema(), indent=2, ensure_ascii=False))
        return ExitStatus.OK
    if args.command == "export":
        from orchestrator.commands.export import export

        return export(args.engine, args.file, args.output, args.image, getattr(args, "namespace", None),
                      args.env_file, getattr(args, "secrets_out", None))  # fmt: skip
    if args.command == "graph":
        return _graph(args)
    if args.command in ("config", "examples", "completion"):
        return _comfort(args)
    if args.command == "free":
        from orchestrator.commands.free import free

        return free(args.ports, args.force)
    if args.command in ("ls", "ps", "logs", "stop", "start", "restart", "web"):
        return _control(args)
    if args.command == "test":
        from orchestrator.commands.smoke import run_all
        from orchestrator.run.runner import cli_duration

        return run_all(args.paths, cli_duration(args.timeout, "--timeout"), args.junit, args.verbose, args.env_file)
    parser.error(f"unknown command {args.command}")
    return ExitStatus.INVALID


def _control(args: argparse.Namespace) -> int:
    from orchestrator.commands import control

    if args.command == "ls":
        return control.ls(args.json)
    if args.command == "ps":
        return control.ps(args.run, args.json, args.edges)
    if args.command == "web":
        from orchestrator.web.server import serve

        return serve(args.run)
    if args.command == "logs":
        from orchestrator.run.runner import cli_duration

        if args.tail is not None and args.tail < 0:
            raise ZmqrunError("--tail: expected 0 or more lines")
        since = cli_duration(args.since, "--since")
        return control.logs(args.words, args.follow, args.tail, since, args.json, args.color)
    return control.act(args.command, args.run, args.targets, args.json)


def console() -> NoReturn:
    """The `zmqrun` command: main(), then out at once. Tearing the interpreter down module by
    module took longer than zmqrun's whole stop of a few nodes (40-70 ms measured), and nothing is
    left to clean: nodes, pipes, log files and the run directory are all closed by then."""
    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a reader that went away; the status still tells how the run ended
    os._exit(status)


def _report_problems(exc: TopologyError, nothing_was: str = "started") -> None:
    n = len(exc.problems)
    for problem in exc.problems:
        print(f"error: {one_line(str(problem))}", file=sys.stderr)
    print(f"zmqrun: {n} problem{'s' if n != 1 else ''} found; nothing was {nothing_was}", file=sys.stderr)


def _check(args: argparse.Namespace) -> int:
    from orchestrator.run.ports import port_users_lookup
    from orchestrator.run.rundir import remove_rundir
    from orchestrator.run.runner import plan_for
    from orchestrator.topology.validate import load_topology
    from orchestrator.view.report import print_plan

    status = ExitStatus.OK
    for file in args.files:
        try:
            topology = load_topology(file, holder_of=port_users_lookup(), env_files=args.env_file)
        except TopologyError as exc:
            _report_problems(exc)
            status = ExitStatus.INVALID
            continue
        plan, rundir = plan_for(topology)
        try:
            print_plan(plan, color=False if args.no_color else None)
        finally:
            remove_rundir(rundir)
        if plan.keys is not None:
            from orchestrator.security.policy import warnings

            for warning in warnings(topology):
                print(f"zmqrun: {one_line(warning)}", file=sys.stderr)
    from orchestrator.run.cgroup import probe

    print(f"containment on this machine: {probe()[1]}")
    return status


def _graph(args: argparse.Namespace) -> int:
    from orchestrator.topology.validate import load_topology
    from orchestrator.view import graph

    topology = load_topology(args.file, env_files=args.env_file)
    if args.format == "mermaid":
        sys.stdout.write(graph.mermaid(topology))
    elif args.format == "dot":
        sys.stdout.write(graph.dot(topology))
    else:
        from orchestrator.view.console import console

        console(False if args.no_color else None).print(graph.tree(topology))
    return ExitStatus.OK


def _comfort(args: argparse.Namespace) -> int:
    """config, examples and completion: each prints text and changes nothing (but `examples --copy`)."""
    if args.command == "config":
        from orchestrator.commands.config import resolved

        sys.stdout.write(resolved(args.file, args.env_file))
    elif args.command == "completion":
        from orchestrator.commands.completion import SCRIPTS

        sys.stdout.write(SCRIPTS[args.shell])
    elif args.copy:
        from orchestrator.commands.examples import copy

        written = copy(args.copy)
        print(f"wrote {len(written)} files under {args.copy.rstrip('/')}/topologies; try: zmqrun {written[0]}")
    elif args.name:
        from orchestrator.commands.examples import text

        sys.stdout.write(text(args.name))
    else:
        from orchestrator.commands.examples import listing

        rows = listing()
        width = max(len(name) for name, _ in rows)
        print("\n".join(f"{name:<{width}}  {line}" for name, line in rows))
    return ExitStatus.OK
