"""`--status`: a table of every node that refreshes in place (state, pid, restarts, CPU, memory,
ports), and under it one row per edge (from -> to along the data flow, socket types, state,
rate each way), while the logs scroll above. Terminals only; the plain printer serves the rest."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from orchestrator.view.printer import Printer

if TYPE_CHECKING:
    from orchestrator.edges.declared import Edge
    from orchestrator.edges.track import EdgeState
    from orchestrator.run.state import Proc

REFRESH = 0.5  # seconds between table updates: cheap enough, lively enough


def status_table(procs: list[Proc], usage: dict[int, tuple[float, float]], now: float) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("node", "state", "pid", "restarts", "cpu", "memory", "ports"):
        table.add_column(col, no_wrap=True, justify="right" if col in ("pid", "restarts", "cpu", "memory") else "left")
    colour = {"ready": "green", "running": "cyan", "backoff": "yellow", "failed": "red", "skipped": "dim"}
    for p in procs:
        state = p.state
        if p.state == "running" and p.inst.node.ready.when != "started":
            state = "starting"
        if p.state == "backoff":
            state = f"restarting in {max(0.0, p.backoff_until - now):.1f}s"
        if p.state == "exited":
            state = p.ended or "exited"
        if p.alive and p.stop_at is not None:
            state = "stopping"
        pid = str(p.spawned.pid) if p.alive and p.spawned else "-"
        cpu, rss = usage.get(p.spawned.pid if p.spawned else -1, (0.0, 0.0)) if p.alive else (0.0, 0.0)
        ports = ", ".join(str(x) for x in p.inst.listen_ports) or "-"
        table.add_row(
            Text(p.label),
            Text(state, style="red" if p.failed else colour.get(p.state, "")),
            Text(pid),
            Text(str(len(p.restarts))),
            Text(f"{cpu:.0f}%" if p.alive else "-"),
            Text(f"{rss / 1e6:.0f} MB" if p.alive else "-"),
            Text(ports),
        )
    return table


def edges_table(edges: tuple[Edge, ...], states: list[EdgeState | None], now: float, width: int = 80) -> Any:
    """One row per edge, drawn along the data flow: a sender's end on the left."""
    from rich.table import Table
    from rich.text import Text

    from orchestrator.edges.report import edge_row, rate, state_text, types_text

    rows = []
    for e, st in zip(edges, states, strict=True):
        r = edge_row(e, st, now, now)
        style = {"up": "green", "unknown": "dim"}.get(r["state"], "red")
        rows.append((f"{r['from']} -> {r['to']}", types_text(r), (state_text(r), style),
                     rate(r["rate_forward"]), rate(r["rate_back"])))  # fmt: skip
    # The edge names give way to a narrow terminal; below 12 characters for them, the types go,
    # then the rate back. Lines never wrap: a wrapped live table scrolls the logs away.
    heads = ["edge", "types", "state", "rate ->", "<-"]
    cells = [[r[0], r[1], r[2][0], r[3], r[4]] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]
    keep = [0, 1, 2, 3, 4]
    for drop in (1, 4, 3):
        if width - sum(widths[i] + 2 for i in keep[1:]) >= 12:
            break
        keep.remove(drop)
    room = max(4, width - sum(widths[i] + 2 for i in keep[1:]))
    widths[0] = min(widths[0], room)
    table = Table(box=None, pad_edge=False, header_style="bold", collapse_padding=False)
    for i in keep:
        table.add_column(heads[i], no_wrap=True, width=widths[i], overflow="ellipsis", justify="right" if i > 2 else "left")
    for row, cell in zip(rows, cells, strict=True):
        table.add_row(*[Text(cell[i], style=row[2][1] if i == 2 else "") for i in keep])
    return table


class LivePrinter(Printer):
    """The printer for `--status`: lines go through rich's live console, which keeps the table
    pinned below them. Node lines were sanitised already; only our own colours are ANSI."""

    def __init__(self, labels: list[tuple[str, int]], color: bool, timestamps: bool, log_dir: str | None):
        from rich.console import Console
        from rich.live import Live

        super().__init__(sys.stdout.buffer, labels, color, timestamps, log_dir)
        # No colour means no style at all (bold included); the live table still moves the cursor.
        self.console = Console(highlight=False, markup=False, emoji=False, color_system="auto" if color else None)
        self.live = Live(console=self.console, auto_refresh=False, transient=False)
        self.live.start()
        self.view = self
        self.interval = REFRESH
        self._procs: dict[int, Any] = {}

    def write(self, text: str) -> None:
        from rich.text import Text

        if self.broken:
            return
        try:
            self.console.print(Text.from_ansi(text.rstrip("\n")), soft_wrap=True)
        except (BrokenPipeError, OSError):
            self.broken = True

    def refresh(self, procs: list[Proc], now: float) -> None:
        import psutil

        usage: dict[int, tuple[float, float]] = {}
        for p in procs:
            if not (p.alive and p.spawned):
                continue
            pid = p.spawned.pid
            try:
                proc = self._procs.setdefault(pid, psutil.Process(pid))
                with proc.oneshot():
                    usage[pid] = (proc.cpu_percent(None), float(proc.memory_info().rss))
            except psutil.Error:
                pass
        table = status_table(procs, usage, now)
        if self.edges is not None and self.edges.edges:
            from rich.console import Group

            table = Group(table, edges_table(self.edges.edges, self.edges.states, now, self.console.width))
        self.live.update(table, refresh=True)

    def close(self) -> None:
        self.live.stop()
        super().close()
