"""Node output to the terminal: untrusted bytes in, whole sanitised lines out, each prefixed
with its node's label in a stable colour. Prefixes are styled once; lines go out in chunks."""

from __future__ import annotations

import codecs
import os
import sys
import time
from collections.abc import Callable
from typing import IO, Any, BinaryIO

from orchestrator.errors import ZmqrunError
from orchestrator.view.text import one_line, sanitize
from orchestrator.writes import write_stream

MAX_LINE = 8192  # characters; a longer line is split, so one node cannot exhaust memory

_COLOURS = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")
_SGR = {"bold": "1", "dim": "2", **{c: str(30 + i) for i, c in enumerate(_COLOURS)},
        **{f"bright_{c}": str(90 + i) for i, c in enumerate(_COLOURS)}}  # fmt: skip

PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta",
           "bright_green", "bright_yellow", "bright_blue", "bright_red")  # fmt: skip


# Control bytes other than tab and newline. An all-ASCII chunk without them needs no
# sanitising at all, and bytes.translate finds that out ~10x faster than any regex.
_C0 = bytes(range(9)) + bytes(range(11, 32)) + b"\x7f"


def _clean(data: bytes) -> bool:
    return data.isascii() and len(data.translate(None, _C0)) == len(data)


PARTIAL_AFTER = 0.15  # seconds a line without its newline (a prompt) waits before it is shown


class LineSplitter:
    """Splits one stream's bytes into sanitised lines; bounded memory, UTF-8 errors replaced.
    A partial line that sits (a prompt such as `input("> ")`) can be shown early with
    `partial()`; `display()` then drops what was shown from the completed line."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._pending_clean = True
        self._clock = clock
        self.shown = ""  # the start of the pending line, already shown by partial()
        self.waiting_since: float | None = None  # since the last bytes, while a line waits for its newline

    def feed(self, data: bytes) -> list[str]:
        clean = _clean(data)
        text = self._pending + self._decoder.decode(data)
        if "\n" in text:
            head, _, self._pending = text.rpartition("\n")
            lines = (head if clean and self._pending_clean else sanitize(head)).split("\n")
            self._pending_clean = clean
        else:
            self._pending, lines = text, []
            self._pending_clean = self._pending_clean and clean
        if len(self._pending) > MAX_LINE:
            cut = len(self._pending) - len(self._pending) % MAX_LINE
            lines += _pieces(sanitize(self._pending[:cut]))
            self._pending = self._pending[cut:]
        if lines and max(map(len, lines)) > MAX_LINE:
            lines = [p for line in lines for p in _pieces(line)]
        # A partial line counts as sitting only once its stream has been quiet for a while.
        self.waiting_since = self._clock() if self._pending else None
        return lines

    def flush(self) -> list[str]:
        """The last line, even without a newline."""
        text = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        self.waiting_since = None
        return _pieces(sanitize(text)) if text else []

    def partial(self) -> str:
        """The part of the pending line not shown yet (sanitised), now counted as shown."""
        self.waiting_since = None
        text = sanitize(self._pending)
        new = text.removeprefix(self.shown)
        self.shown = text
        return new

    def display(self, lines: list[str]) -> list[str]:
        """`lines` as they should be shown: the first without what partial() showed of it."""
        if not self.shown or not lines:
            return lines
        shown, self.shown = self.shown, ""
        if not lines[0].startswith(shown):
            return lines
        rest = lines[0][len(shown):]
        return ([rest] if rest else []) + lines[1:]


def _pieces(line: str) -> list[str]:
    if len(line) <= MAX_LINE:
        return [line]
    return [line[i : i + MAX_LINE] for i in range(0, len(line), MAX_LINE)]


def to_devnull(fd: int) -> None:
    """Point `fd` at /dev/null: its reader went away (`zmqrun ... | head`), and neither our
    later writes nor the interpreter's own flush at exit should fail on it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    if devnull != fd:  # with `fd` closed, the kernel may hand out that very number
        os.dup2(devnull, fd)
        os.close(devnull)


def use_color(stream: IO[Any] | None = None, flag: bool | None = None) -> bool:
    """Colour only on a terminal, never with NO_COLOR set, unless the user insists."""
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream or sys.stdout.buffer
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False


class Printer:
    """Writes prefixed lines; never raises on a closed pipe (`zmqrun ... | head`)."""

    def __init__(self, out: BinaryIO, labels: list[tuple[str, int]], color: bool, timestamps: bool = False,
                 log_dir: str | None = None, json_lines: bool = False):  # fmt: skip
        self.out = out
        self.json = json_lines
        self.color = color and not json_lines
        self.timestamps = timestamps
        self.logs: dict[str, BinaryIO] = {}
        if log_dir:
            try:
                os.makedirs(log_dir, exist_ok=True)
                for label in [label for label, _ in labels] + ["zmqrun"]:
                    # Unbuffered: one write per chunk of lines, so `tail -f` sees them as they come.
                    self.logs[label] = open(os.path.join(log_dir, f"{label}.log"), "wb", buffering=0)  # noqa: SIM115
            except OSError as exc:
                self.close()
                raise ZmqrunError(f"--log-dir {log_dir}: {exc.strerror or exc}; nothing was started") from None
        self.width = max([len(label) for label, _ in labels] + [len("zmqrun")])
        self._prefix: dict[str, str] = {}
        for label, index in labels:
            self._prefix[label] = self._style(label.ljust(self.width) + " | ", PALETTE[index % len(PALETTE)])
        self._prefix["zmqrun"] = self._style("zmqrun".ljust(self.width) + " | ", "bold")
        self.broken = False
        self.view: object | None = None  # a live status view, for printers that have one
        self.edges: Any = None  # the run's edge watch, for views that draw edges

    def _style(self, text: str, style: str) -> str:
        """`text` wrapped in the SGR codes of a rich-style name ("bold red", "bright_cyan").
        Computed here rather than by rich: importing rich would cost every run start-up time."""
        if not self.color:
            return text
        codes = [_SGR[word] for word in style.split()]
        return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"

    def _stamp(self) -> str:
        return time.strftime("%H:%M:%S ") if self.timestamps else ""

    def lines(self, label: str, lines: list[str]) -> None:
        if not lines:
            return
        if label in self.logs:
            self._log(label, lines)
        if self.json:
            self.write(self._json(label, lines, "output"))
            return
        prefix = self._stamp() + self._prefix[label]
        self.write(prefix + ("\n" + prefix).join(lines) + "\n")

    def note(self, message: str, style: str | None = None, stream: str = "zmqrun") -> None:
        """zmqrun's own line. `message` is plain text (node names are already validated); a
        diagnosis (`stream`) says so in front of the text, and in its JSON stream field."""
        body = one_line(message)
        if stream != "zmqrun" and not self.json:
            body = f"{stream}: {body}"
        if "zmqrun" in self.logs:
            self._log("zmqrun", [body])
        if self.json:
            self.write(self._json("zmqrun", [body], stream))
            return
        if style and self.color:
            body = self._style(body, style)
        self.write(self._stamp() + self._prefix["zmqrun"] + body + "\n")

    def _json(self, label: str, lines: list[str], stream: str) -> str:
        import json

        node, _, replica = label.rpartition(".") if label != "zmqrun" else ("zmqrun", "", "0")
        stamp = time.time()
        head = {"time": round(stamp, 6), "node": node, "replica": int(replica or 0), "stream": stream}
        return "".join(json.dumps({**head, "line": line}, ensure_ascii=False) + "\n" for line in lines)

    def _log(self, label: str, lines: list[str]) -> None:
        stamp = self._stamp()
        try:
            write_stream(self.logs[label], "".join(stamp + line + "\n" for line in lines).encode("utf-8", "replace"))
        except OSError:
            pass  # a full disk must not stop the run; the terminal still shows everything

    def close(self) -> None:
        for f in self.logs.values():
            f.close()
        self.logs.clear()

    def write(self, text: str) -> None:
        if self.broken:
            return
        try:
            write_stream(self.out, text.encode("utf-8", "replace"))  # whole, even on a raw stdout (-u)
        except BrokenPipeError:
            self._close_broken()
        except OSError as exc:
            if exc.errno in (32, 5):  # EPIPE, EIO (terminal gone)
                self._close_broken()
            else:
                raise

    def _close_broken(self) -> None:
        # Keep tearing down; later writes go nowhere.
        self.broken = True
        try:
            to_devnull(self.out.fileno())
        except (OSError, AttributeError, ValueError):
            pass
