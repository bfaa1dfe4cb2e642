"""`zmqrun ls / ps / logs / stop / start / restart`: the control client's answers, as tables,
prefixed log lines or JSON. Each returns the exit status; errors are raised as ZmqrunError."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from orchestrator.control.client import ControlClient, ControlError, Instance
from orchestrator.errors import ExitStatus
from orchestrator.run.runs import RunError, RunInfo, alive_runs, resolve
from orchestrator.view.printer import Printer, use_color
from orchestrator.view.text import count, one_line, sanitize_data
from orchestrator.writes import write_stdout


def _dump(obj: Any) -> None:
    write_stdout(json.dumps(sanitize_data(obj), ensure_ascii=False, indent=2) + "\n")


def _table(headers: Sequence[str], rows: list[list[str]], color: bool | None) -> None:
    from rich.table import Table
    from rich.text import Text

    from orchestrator.view.console import console

    table = Table(box=None, pad_edge=False, show_edge=False)
    for h in headers:
        table.add_column(h)
    for row in rows:
        table.add_row(*(Text(one_line(cell)) for cell in row))  # run and node names come from files
    # On a terminal, columns fold to its width; into a pipe or file, every row stays one line
    # (a script's grep or cut must not see a cell folded onto the next line). Bold headers only
    # when colour is wanted: NO_COLOR and --no-color hold here as for every command.
    console(color).print(table)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{seconds:.1f}s"


def ls(as_json: bool, color: bool | None = None) -> int:
    found = []
    for run in alive_runs():
        try:
            status = ControlClient(run, timeout=2.0).ps().run
            running, total = status["running"], status["total"]
        except (ControlError, RunError):
            running = total = None  # alive but not answering (busy, or just starting)
        found.append({"run_id": run.run_id, "name": run.name, "topology": run.topology, "pid": run.pid,
                      "uptime": round(time.time() - run.started, 3), "running": running, "total": total})  # fmt: skip
    if as_json:
        _dump(found)
    elif not found:
        print("no run is alive", file=sys.stderr)
    else:
        _table(["RUN", "TOPOLOGY", "PID", "UPTIME", "INSTANCES", "FILE"],
               [[r["run_id"], r["name"], str(r["pid"]), duration(r["uptime"]),
                 "?" if r["total"] is None else f"{r['running']}/{r['total']}", r["topology"]] for r in found], color)  # fmt: skip
    return ExitStatus.OK


def _memory(rss: int | None) -> str:
    return "-" if rss is None else f"{rss / (1 << 20):.1f} MiB"


def ps(ref: str | None, as_json: bool, edges: bool = False, color: bool | None = None) -> int:
    if edges:
        return ps_edges(ref, as_json, color)
    status = ControlClient(resolve(ref)).ps()
    if as_json:
        _dump({"run": status.run, "instances": [i._asdict() for i in status.instances.values()]})
        return ExitStatus.OK
    print(f"run {status.run['run_id']}: {one_line(status.run['name'])} ({status.run['running']}/{status.run['total']} running)")
    _table(["INSTANCE", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "CPU", "MEMORY", "PORTS"],
           [[i.label, i.state, str(i.pid or "-"), duration(i.uptime), str(i.restarts), i.last_exit or "-",
             "-" if i.cpu_seconds is None else f"{i.cpu_seconds:.2f}s", _memory(i.memory_rss),
             " ".join(i.ports) or "-"] for i in status.instances.values()], color)  # fmt: skip
    return ExitStatus.OK


def ps_edges(ref: str | None, as_json: bool, color: bool | None = None) -> int:
    from orchestrator.edges.report import rate, state_text, types_text

    found = ControlClient(resolve(ref)).edges()
    rows = [e.as_dict() for e in found.edges]
    if as_json:
        _dump({"run": found.run, "watched": found.watched, "interval": found.interval, "edges": rows})
        return ExitStatus.OK
    watched = f"sampled every {found.interval:g}s" if found.watched else "edges not watched (--edge-interval 0)"
    print(f"run {found.run['run_id']}: {one_line(found.run['name'])} ({count(len(rows), 'edge')}, {watched})")
    now = time.time()
    _table(["EDGE", "TYPES", "ENDPOINT", "STATE", "RATE ->", "<-"],
           [[f"{r['from']} -> {r['to']}", types_text(r), r["endpoint"],
             state_text({**r, "for": None if r["since"] is None else max(0.0, now - r["since"])}),
             rate(r["rate_forward"]), rate(r["rate_back"])] for r in rows], color)  # fmt: skip
    return ExitStatus.OK


def run_and_targets(words: Sequence[str]) -> tuple[RunInfo, list[str]]:
    """`[RUN] [NODE...]`: the first word is the run when it names one; otherwise the one live run."""
    if words:
        try:
            return resolve(words[0]), list(words[1:])
        except RunError:
            if len(alive_runs()) != 1:
                raise
    return resolve(None), list(words)


def logs(words: Sequence[str], follow: bool, tail: int | None, since: float | None, as_json: bool,
         color: bool | None) -> int:  # fmt: skip
    run, targets = run_and_targets(words)
    client = ControlClient(run)
    stream = client.logs(targets, tail, None if since is None else time.time() - since, follow)
    printer: Printer | None = None
    try:
        for item in stream:
            if as_json:
                node, _, replica = item.label.rpartition(".")
                sys.stdout.write(json.dumps({"time": round(item.time, 6), "node": node, "replica": int(replica),
                                             "stream": "output", "line": item.line}, ensure_ascii=False) + "\n")  # fmt: skip
                sys.stdout.flush()
                continue
            if printer is None:
                printer = _printer(client, color)
            printer.lines(item.label, [item.line])
            if printer.broken:
                return ExitStatus.OK  # `logs -f | head -1`: the reader is gone, so is the point of following
    except KeyboardInterrupt:
        return ExitStatus.OK  # Ctrl-C ends `logs -f`, not the run
    except BrokenPipeError:
        return ExitStatus.OK
    return ExitStatus.OK


def _printer(client: ControlClient, color: bool | None) -> Printer:
    labels = client.labels()
    nodes = list(dict.fromkeys(label.rpartition(".")[0] for label in labels))
    return Printer(sys.stdout.buffer, [(label, nodes.index(label.rpartition(".")[0])) for label in labels],
                   use_color(flag=color))  # fmt: skip


def act(op: str, ref: str, targets: Sequence[str], as_json: bool) -> int:
    """stop, start or restart by hand; waits until stopped, or ready, and says so."""
    client = ControlClient(resolve(ref))
    reply = getattr(client, op)(targets)
    touched = list(reply.get("starts") or reply.get("done") or {})
    final = client.ps().instances if touched else {}
    if as_json:
        _dump({"op": op, "run": client.run.run_id, "instances": [final[label]._asdict() for label in touched]})
        return ExitStatus.OK
    if not targets:
        print(f"run {client.run.run_id} is stopping (as on Ctrl-C)")
    for label in touched:
        i: Instance = final[label]
        print(f"{label}: {i.state}" + (f" (pid {i.pid})" if i.pid else f" ({i.ended})" if i.ended else ""))
    return ExitStatus.OK
