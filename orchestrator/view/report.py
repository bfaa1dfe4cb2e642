"""What zmqrun says about a topology: the plan before a run, and how each node ended after it."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from orchestrator.run.plan import Plan
from orchestrator.view.text import count, one_line

if TYPE_CHECKING:
    from orchestrator.run.state import Outcome
    from orchestrator.view.printer import Printer


def print_plan(plan: Plan, color: bool | None = None, file: TextIO | None = None) -> None:
    """A table per topology; every value from the file goes in sanitised, as Text, never as
    markup. Piped, the table is as wide as its longest command: nothing is cut."""
    from rich.table import Table
    from rich.text import Text

    from orchestrator.view.console import console as make_console

    console = make_console(color, file)

    def text(value: str, style: str = "") -> Text:
        return Text(one_line(value), style=style)

    t = plan.topology
    console.print(text(f"{t.name}: {t.file}", "bold"))
    if t.description:
        console.print(text(t.description))
    table = Table(show_lines=False, box=None, pad_edge=False)
    for col in ("instance", "socket", "type", "mode", "endpoints", "command"):
        table.add_column(col, overflow="fold")
    for inst in plan.instances:
        command = " ".join(inst.argv)
        rows = inst.sockets or (None,)
        for i, b in enumerate(rows):
            table.add_row(
                text(inst.label if i == 0 else ""),
                text(b.name if b else "-"),
                text(b.type if b else ""),
                text(("bind" if b.bind else "connect") if b else ""),
                text(" ".join(b.endpoints) if b else ""),
                text(command if i == 0 else ""),
            )
    console.print(table)
    order = " -> ".join("{" + ", ".join(w) + "}" if len(w) > 1 else w[0] for w in plan.waves)
    console.print(text("start order: " + order))
    waits = [f"{n} after {', '.join(d for d, _ in deps)}" for n, deps in plan.after.items() if deps]
    if waits:
        console.print(text("waits: " + "; ".join(waits)))
    for conflict in plan.conflicts:
        console.print(text(conflict, "yellow"))
    console.print(text(f"ports: {', '.join(map(str, plan.ports)) or 'none'} (automatic ones are tentative)"))
    if plan.keys is not None:
        console.print(text(security_summary(plan, "made anew when the run starts")))


def security_summary(plan: Plan, made: str = "made for this run") -> str:
    """How much of the plan CURVE covers; never a key."""
    links = sum(len(b.endpoints) for i in plan.instances for b in i.sockets if b.security == "curve" and not b.bind)
    pairs = len(plan.keys.pairs) if plan.keys is not None else 0
    return (f"security: CURVE on {count(links, 'connection')}, "
            f"{count(pairs, 'key pair')} {made}")  # fmt: skip


def print_outcome(outcome: Outcome, out: Printer) -> None:
    width = max(len(p.label) for p in outcome.procs)
    for p in outcome.procs:
        restarts = f", {count(len(p.restarts), 'restart')}" if p.restarts else ""
        out.note(f"  {p.label.ljust(width)}  {p.ended or p.state}{restarts}", "red" if p.failed else None)
    for item in outcome.leftovers:
        out.note(f"  leftover: {item}", "bold red")
    out.note(f"exit status {outcome.status}: {outcome.reason}", "bold green" if outcome.status == 0 else "bold red")
