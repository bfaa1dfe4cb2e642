"""What zmqrun says about a topology: the plan before a run, and how each node ended after it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.run.plan import Plan

if TYPE_CHECKING:
    from orchestrator.run.state import Outcome
    from orchestrator.view.printer import Printer


def print_plan(plan: Plan, color: bool | None = None) -> None:
    """A table per topology; every YAML value goes in as Text, never as markup."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(no_color=color is False, highlight=False, soft_wrap=False)
    t = plan.topology
    console.print(Text(f"{t.name}: {t.file}", style="bold"))
    if t.description:
        console.print(Text(t.description))
    table = Table(show_lines=False, box=None, pad_edge=False)
    for col in ("instance", "socket", "type", "mode", "endpoints", "command"):
        table.add_column(col)
    for inst in plan.instances:
        command = " ".join(inst.argv)
        rows = inst.sockets or (None,)
        for i, b in enumerate(rows):
            table.add_row(
                Text(inst.label if i == 0 else ""),
                Text(b.name if b else "-"),
                Text(b.type if b else ""),
                Text(("bind" if b.bind else "connect") if b else ""),
                Text(" ".join(b.endpoints) if b else ""),
                Text(command if i == 0 else ""),
            )
    console.print(table)
    order = " -> ".join("{" + ", ".join(w) + "}" if len(w) > 1 else w[0] for w in plan.waves)
    console.print(Text("start order: " + order))
    waits = [f"{n} after {', '.join(d for d, _ in deps)}" for n, deps in plan.after.items() if deps]
    if waits:
        console.print(Text("waits: " + "; ".join(waits)))
    for conflict in plan.conflicts:
        console.print(Text(conflict, style="yellow"))
    console.print(Text(f"ports: {', '.join(map(str, plan.ports)) or 'none'} (automatic ones are tentative)"))
    if plan.keys is not None:
        console.print(Text(security_summary(plan, "made anew when the run starts")))


def security_summary(plan: Plan, made: str = "made for this run") -> str:
    """How much of the plan CURVE covers; never a key."""
    links = sum(len(b.endpoints) for i in plan.instances for b in i.sockets if b.security == "curve" and not b.bind)
    pairs = len(plan.keys.pairs) if plan.keys is not None else 0
    return (f"security: CURVE on {links} connection{'s' if links != 1 else ''}, "
            f"{pairs} key pair{'s' if pairs != 1 else ''} {made}")  # fmt: skip


def print_outcome(outcome: Outcome, out: Printer) -> None:
    width = max(len(p.label) for p in outcome.procs)
    for p in outcome.procs:
        restarts = f", {len(p.restarts)} restart{'s' if len(p.restarts) != 1 else ''}" if p.restarts else ""
        out.note(f"  {p.label.ljust(width)}  {p.ended or p.state}{restarts}", "red" if p.failed else None)
    for item in outcome.leftovers:
        out.note(f"  leftover: {item}", "bold red")
    out.note(f"exit status {outcome.status}: {outcome.reason}", "bold green" if outcome.status == 0 else "bold red")
