"""The control socket's protocol: one request per connection, one JSON object per line each way.

A request is `{"op": OP, ...}` with OP one of OPS. The first reply line is `{"ok": true, ...}` or
`{"ok": false, "error": MESSAGE, "status": EXIT_STATUS}`. `logs` then sends one
`{"time", "label", "line"}` object per line, then `{"end": true}`: at once, or with `follow` when
the run ends. `edges` answers `{"ok": true, "run", "watched", "interval", "edges": [ROW...]}` with
one row per declared edge (edges/report.py). A follower whose unsent output passes a bound is dropped (closed without `end`)."""

from __future__ import annotations

import json
from typing import Any

OPS = ("ps", "edges", "logs", "stop", "start", "restart")
MAX_REQUEST = 1 << 16  # bytes; a longer request line is refused


def encode(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    """One line as a JSON object; ValueError when it is not one."""
    obj = json.loads(line.decode("utf-8"))
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj
