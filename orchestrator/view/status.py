"""`--status`: a table of every node that refreshes in place (state, pid, restarts, CPU, memory,
ports) while the logs scroll above it. Terminals only; the plain printer serves everything else."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from orchestrator.view.printer import Printer

if TYPE_CHECKING:
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
        self.live.update(status_table(procs, usage, now), refresh=True)

    def close(self) -> None:
        self.live.stop()
        super().close()
