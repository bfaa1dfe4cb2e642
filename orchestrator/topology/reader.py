"""Reading one loaded document: typed look-ups that record a problem with its path and line
instead of raising, durations, and "did you mean" for a mistyped key."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from orchestrator.errors import Problem
from orchestrator.topology.loader import Document, Path_

DURATION_PATTERN = r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)\s*)+$|^\s*\d+(?:\.\d+)?\s*$"
DURATION = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

def type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "empty"}.get(type(value), type(value).__name__)  # fmt: skip


def parse_duration(value: Any) -> float | None:
    """'500ms', '2s', '1.5m', '1m30s', or a number of seconds; None when not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    if isinstance(value, str) and DURATION.match(value):
        return sum(float(n) * _UNITS[unit or None] for n, unit in _DURATION_PART.findall(value))
    return None


class Reader:
    """Collects every problem of one document; each look-up returns a usable value or None."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.problems: list[Problem] = []

    def bad(self, path: Path_, message: str) -> None:
        self.problems.append(self.doc.problem(path, message))

    def mapping(self, value: Any, path: Path_, keys: set[str], what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.bad(path, f"expected {what} (a mapping), got {type_name(value)}")
            return {}
        for key in value:
            if key not in keys and not (path == () and key.startswith("x-")):
                self.bad(path + (key,), f"unknown key {key!r}" + did_you_mean(key, keys) + f"; allowed: {', '.join(sorted(keys))}")
        return value

    def typed(self, value: Any, path: Path_, kind: type | tuple[type, ...], what: str) -> Any:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, (int, float)))
        if not ok:
            self.bad(path, f"expected {what}, got {type_name(value)}")
            return None
        return value

    def duration(self, value: Any, path: Path_) -> float | None:
        seconds = parse_duration(value)
        if seconds is None:
            self.bad(path, f"expected a duration such as 500ms, 3s or 2m, got {value!r}")
        return seconds

    def names(self, value: Any, path: Path_) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        self.bad(path, f"expected a string or a list of strings, got {type_name(value)}")
        return []


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """` (did you mean 'sink'?)` for a mistyped key, node or socket name, or nothing."""
    hint = closest(name, set(names))
    return f" (did you mean {hint!r}?)" if hint else ""


def closest(key: str, keys: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.7)
    return found[0] if found else None
