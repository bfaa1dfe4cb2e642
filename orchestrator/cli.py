"""The command line: `main(argv) -> int` alone decides what is printed and how zmqrun exits."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from orchestrator.commands.parser import COMMANDS, build_parser
from orchestrator.errors import ExitStatus, TopologyError, ZmqrunError
from orchestrator.view.printer import to_devnull
from orchestrator.view.text import count, one_line
from orchestrator.writes import write_stdout


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

        print("\n".join(candidates(build_parser(), args_list[2:], int(args_list[1]))))
        return ExitStatus.OK
    if args_list[:1] == ["help"] and not os.path.exists("help"):  # `zmqrun help [COMMAND]`, as git and docker have it
        args_list = [args_list[1], "--help"] if args_list[1:2] and args_list[1] in COMMANDS else ["--help"]
    first = next((a for a in args_list if not a.startswith("-")), None)
    if first is not None and first not in COMMANDS and args_list[0] not in ("-h", "--help", "--version"):
        args_list.insert(0, "run")  # `zmqrun [OPTIONS] FILE` is `zmqrun run [OPTIONS] FILE`
    parser = build_parser()
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
    except OSError as exc:
        # The environment said no (`--junit` or `-o` into a missing directory, a file where a
        # directory should be, a full disk): one line naming the path, never a traceback.
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"zmqrun: {one_line(where + (exc.strerror or str(exc)))}", file=sys.stderr)
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

        write_stdout(json.dumps(schema(), indent=2, ensure_ascii=False) + "\n")
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
        return control.ls(args.json, args.color)
    if args.command == "ps":
        return control.ps(args.run, args.json, args.edges, args.color)
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
    print(f"zmqrun: {count(n, 'problem')} found; nothing was {nothing_was}", file=sys.stderr)


def _check(args: argparse.Namespace) -> int:
    from orchestrator.run.ports import port_users_lookup
    from orchestrator.run.rundir import remove_rundir
    from orchestrator.run.runner import plan_for
    from orchestrator.topology.validate import load_topology
    from orchestrator.view.report import print_plan

    status = ExitStatus.OK
    if args.resolved:
        from orchestrator.commands.config import resolved

        for file in args.files:
            try:
                text = resolved(file, args.env_file)
            except TopologyError as exc:
                _report_problems(exc, "printed")
                status = ExitStatus.INVALID
                continue
            write_stdout(f"# {one_line(file)}\n{text}" if len(args.files) > 1 else text)
        return status
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
        write_stdout(graph.mermaid(topology))
    elif args.format == "dot":
        write_stdout(graph.dot(topology))
    else:
        from orchestrator.view.console import console

        console(False if args.no_color else None).print(graph.tree(topology))
    return ExitStatus.OK


def _comfort(args: argparse.Namespace) -> int:
    """config, examples and completion: each prints text and changes nothing (but `examples --copy`)."""
    if args.command == "config":
        from orchestrator.commands.config import resolved

        write_stdout(resolved(args.file, args.env_file))
    elif args.command == "completion":
        from orchestrator.commands.completion import SCRIPTS

        write_stdout(SCRIPTS[args.shell])
    elif args.copy:
        from orchestrator.commands.examples import copy

        written = copy(args.copy)
        print(f"wrote {count(len(written), 'file')} under {args.copy.rstrip('/')}/topologies; try: zmqrun {written[0]}")
    elif args.name:
        from orchestrator.commands.examples import text

        write_stdout(text(args.name))
    else:
        from orchestrator.commands.examples import listing

        rows = listing()
        width = max(len(name) for name, _ in rows)
        print("\n".join(f"{name:<{width}}  {line}" for name, line in rows))
    return ExitStatus.OK
