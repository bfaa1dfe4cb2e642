"""The one sanitiser for text from outside (node output, topology values, other processes'
command lines, file names): terminal control removed, and for one-line fields, line breaks shown
as `\\n` so nobody can forge a line. Every command and output mode goes through here."""

from __future__ import annotations

import re
from typing import Any

# Terminal control that must never pass through: CSI, OSC (title, clipboard), DCS/PM/APC
# strings, other escapes, C0/C1 controls except tab and newline, and bidi overrides.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b\n]*(?:\x1b\\)?"
    r"|\x1b.?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)

# Every sequence _CONTROL removes starts with one of these; one scan for them is far cheaper
# than the alternation, and most output contains none.
_ANY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def sanitize(text: str) -> str:
    """Terminal control removed; newlines and tabs kept (for text already split into lines)."""
    return _CONTROL.sub("", text) if _ANY_CONTROL.search(text) else text


def sanitize_data(obj: Any) -> Any:
    """JSON-ready data with sanitize() applied to every string in it, keys included: JSON escapes
    ESC but not a bidi override, and a script's `jq -r` prints a value raw."""
    if isinstance(obj, str):
        return sanitize(obj)
    if isinstance(obj, dict):
        return {sanitize_data(k): sanitize_data(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [sanitize_data(v) for v in obj]
    return obj


def has_control(text: str) -> bool:
    """Whether `text` holds anything sanitize() would remove (besides tab and newline)."""
    return _ANY_CONTROL.search(text.replace("\n", "").replace("\t", "")) is not None


def count(n: int, noun: str, nouns: str | None = None) -> str:
    """`1 process`, `2 processes`: a number with its noun in the right number."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def one_line(text: str) -> str:
    """For a field shown on one line: control removed, and a line break shown as `\\n` rather
    than starting a line that would look like zmqrun's own."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return sanitize(text.replace("\n", "\\n").replace("\t", " "))


def dot_quote(text: str) -> str:
    """A Graphviz quoted string: only `"` and `\\` are special inside one (a backslash would
    otherwise start an escape such as \\l, \\N or \\G in a label)."""
    return '"' + one_line(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}


def mermaid_quote(text: str) -> str:
    """A Mermaid quoted label: `"` cannot be escaped inside one, so it and the characters that
    would start an entity or HTML go in as Mermaid entity codes (`#quot;`, `#35;`, ...)."""
    return '"' + "".join(_MERMAID_ENTITIES.get(c, c) for c in one_line(text)) + '"'


# XML 1.0 cannot carry these at all, not even as character references.
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """Text for a JUnit report: sanitised like the terminal, and nothing XML 1.0 forbids."""
    return _NOT_XML.sub("", sanitize(text))
