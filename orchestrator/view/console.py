"""Rich consoles for the one-shot commands (check, graph): styled only when colour is wanted
(a terminal, no NO_COLOR, no --no-color), and never cut at 80 columns when piped."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console

from orchestrator.view.printer import use_color

PIPED_WIDTH = 1 << 16  # a CI log has no edge: print whole lines rather than wrap them


def console(flag: bool | None = None, file: TextIO | None = None) -> Console:
    out = file or sys.stdout
    color = use_color(out, flag)
    try:
        tty = out.isatty()
    except (AttributeError, ValueError):
        tty = False
    return Console(
        file=out,
        color_system="auto" if color else None,  # None: no SGR at all, bold included
        force_terminal=color,
        highlight=False,
        soft_wrap=False,
        width=None if tty else PIPED_WIDTH,
    )
