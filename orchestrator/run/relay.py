"""What a node says, on its way out: each line redacted of the run's CURVE keys before anything
sees it, then printed, kept for `zmqrun logs`, searched for the node's ready line, and handed to the
expect block. The helper's side channel (`ready`, refused handshakes) is read here too. The
relay tells the supervisor when a node became ready and otherwise changes no run state."""

from __future__ import annotations

import selectors
from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.run.pipes import Pipes
from orchestrator.run.state import Observer, Proc
from orchestrator.security import handshake
from orchestrator.security.keys import Keyring
from orchestrator.view.printer import Printer

if TYPE_CHECKING:
    from orchestrator.control.server import ControlServer


class Relay:
    def __init__(self, sel: selectors.BaseSelector, out: Printer, keys: Keyring | None, observer: Observer | None,
                 on_ready: Callable[[Proc, str], None], clock: Callable[[], float]):  # fmt: skip
        self.out = out
        self.keys = keys
        self.observer = observer
        self.on_ready = on_ready
        self.control: ControlServer | None = None  # set once the control socket serves
        self.pipes = Pipes(sel, self.lines, clock)

    def lines(self, p: Proc, lines: list[str]) -> None:
        shown = p.splitter.display(lines)
        if self.keys is not None:  # before any output or the expect block sees them
            lines, shown = self.keys.redact(p.label, lines), self.keys.redact(p.label, shown)
        self.out.lines(p.label, shown)
        if self.control is not None:
            self.control.lines(p.label, shown)
        if p.ready_rx is not None and p.state == "running" and any(p.ready_rx.search(line) for line in lines):
            self.on_ready(p, "its ready line appeared")
        if self.observer:
            for line in lines:
                self.observer.line(p.inst.node.name, line)

    def partial(self, p: Proc, text: str) -> None:
        """A line without its newline yet, shown after a while (a prompt, say)."""
        self.out.lines(p.label, self.keys.redact(p.label, [text]) if self.keys is not None else [text])

    def side_channel(self, p: Proc) -> None:
        """The helper's lines: `ready`, and reports of refused handshakes (untrusted: checked)."""
        for line in self.pipes.read_ready(p):
            if line == "ready":
                if p.state == "running" and p.inst.node.ready.when == "helper":
                    self.pipes.read(p)  # what it printed before saying so comes first, then its dependents
                    self.on_ready(p, "the helper said so")
            elif (failure := handshake.decode(line)) and failure.socket in {b.name for b in p.inst.sockets}:
                self.out.note(handshake.describe(p.label, failure), "bold red")
