"""The command line's grammar: every command, argument and flag of `zmqrun`, with its help text
(also what shell completion offers). Parsing only; cli.py decides what each command does."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

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


def build_parser() -> argparse.ArgumentParser:
    """Every command and flag of `zmqrun`, with its help text."""
    p = _Parser(
        prog="zmqrun",
        description="Run a ZeroMQ topology described in YAML: zmqrun FILE, or zmqrun COMMAND ...",
    )
    p.add_argument("--version", action=_Version, nargs=0, help="show zmqrun's version and exit")
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
    free.add_argument("ports", nargs="+", type=_port, metavar="PORT")
    free.add_argument("--force", action="store_true", help="offer to stop other listeners too (asks at a terminal)")
    check = sub.add_parser("check", help="validate topologies and print the plan; runs nothing")
    check.add_argument("files", nargs="+")
    check.add_argument("--no-color", action="store_true")
    check.add_argument("--resolved", action="store_true",
                       help="print each topology as zmqrun reads it instead of the plan (as `zmqrun config`)")  # fmt: skip
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
    _no_color_everywhere(sub)
    return p


def _no_color_everywhere(sub: argparse._SubParsersAction[_Parser]) -> None:
    """`--no-color` is accepted by every command, so a habit or an alias never meets a usage
    error; commands that never colour (schema, config, export, ...) just take it."""
    for parser in sub.choices.values():
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            _no_color_everywhere(nested[0])
        elif "--no-color" not in parser._option_string_actions:
            parser.add_argument("--no-color", dest="color", action="store_false", default=None,
                                help="accepted for every command; this one never colours")  # fmt: skip


class _Version(argparse.Action):
    """--version looks the version up only when asked: importlib.metadata costs every run's
    start-up 15-60 ms (it imports the email package) for a line almost no run prints."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("zmqrun")
        except PackageNotFoundError:
            number = "(not installed)"
        parser._print_message(f"zmqrun {number}\n", sys.stdout)  # where argparse's own puts it
        parser.exit()


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
    for table in (ls, ps):
        table.add_argument("--no-color", dest="color", action="store_false", default=None, help="no bold headers")
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


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number 1-65535, got {value!r}")
    return int(value)


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
