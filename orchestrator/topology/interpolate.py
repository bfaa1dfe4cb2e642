"""Compose-style variables in a loaded document: `${VAR}`, defaults, required values, `$$`; never a shell."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from orchestrator.errors import Problem
from orchestrator.topology.loader import Document, Path_, format_path, plain_scalar

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
OPERATORS = (":-", ":?", ":+", "-", "?", "+")
# Names whose values are secrets: `zmqrun config` redacts them wherever they were substituted.
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSW(?:OR)?D|CREDENTIAL|PRIVATE", re.IGNORECASE)
REDACTED = "<redacted>"
MAX_NESTING = 32  # `${A:-${B:-...}}`: a few levels in practice; far fewer than Python's recursion limit


def hide(text: str, secrets: frozenset[str]) -> str:
    """`text` with every secret value in it replaced by <redacted> (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class Unset(Exception):
    """A required variable has no value; the message says which and why."""


class Result(NamedTuple):
    problems: list[Problem]
    secrets: frozenset[str]  # values substituted from variables whose names look secret
    hints: dict[tuple[str, str], str]  # (file, path) -> how to get another type, for a value later refused


TYPED = (" (a variable's value is read as YAML reads an unquoted value;"
         " to keep it a string, quote it: \"${...}\")")  # fmt: skip
QUOTED = " (a variable's value in quotes stays a string; for a number or true/false write ${...} unquoted)"
_REFUSED_TYPE = {TYPED: re.compile(r", got (?:an? |empty)"), QUOTED: re.compile(r", got (?:a string|')")}


def hint(kind: str, message: str) -> str:
    """`kind` (TYPED or QUOTED) when `message` refuses a substituted value for its type, else ''."""
    return kind if _REFUSED_TYPE[kind].search(message) else ""


def _typed_or_text(text: str) -> Any:
    try:
        return plain_scalar(text)
    except ValueError:
        return text


def in_run(path: Path_) -> bool:
    """Whether `path` is (in) a node's `run`, the one field where zmqrun fills `{...}` placeholders."""
    return len(path) >= 3 and path[0] == "nodes" and path[2] == "run"


class _Expander:
    def __init__(self, variables: Mapping[str, str]):
        self.variables = variables
        self.secrets: set[str] = set()
        self.braces = False  # set while expanding a `run`: a variable's braces are text, not placeholders

    def value(self, text: str) -> str:
        """A variable's value as it lands: in a `run`, `{` and `}` doubled so they stay literal."""
        return text.replace("{", "{{").replace("}", "}}") if self.braces else text

    def expand(self, text: str, depth: int = 0) -> str:
        """Every `${...}` and `$$` in `text` replaced; any other `$` stays as written."""
        if depth > MAX_NESTING:
            raise ValueError(f"variables nested more than {MAX_NESTING} deep in a default")
        out: list[str] = []
        i = 0
        while True:
            j = text.find("$", i)
            if j < 0:
                out.append(text[i:])
                return "".join(out)
            out.append(text[i:j])
            nxt = text[j + 1 : j + 2]
            if nxt == "$":
                out.append("$")
                i = j + 2
            elif nxt == "{":
                end = _closing(text, j + 2)
                out.append(self.substitute(text[j + 2 : end], depth))
                i = end + 1
            else:
                out.append("$")  # `$VAR`, `$(cmd)`, `$1`: text, left for whatever reads it
                i = j + 1

    def substitute(self, inner: str, depth: int) -> str:
        m = NAME.match(inner)
        if not m:
            raise ValueError(f"invalid variable reference ${{{inner}}}: a name is letters, digits and '_'")
        name, rest = m.group(0), inner[m.end() :]
        op = next((o for o in OPERATORS if rest.startswith(o)), None)
        if rest and op is None:
            raise ValueError(
                f"invalid variable reference ${{{inner}}}: expected }}, :-, -, :?, ?, :+ or + after {name}"
            )
        word = rest[len(op) :] if op else ""
        value = self.variables.get(name)
        if value is not None and SECRET_NAME.search(name) and value:
            self.secrets.update((value, self.value(value)))
        empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op is None:
            if value is None:
                raise Unset(f"variable {name} is not set (give it a value, or a default: ${{{name}:-default}})")
            return self.value(value)
        if op.endswith("-"):
            return self.expand(word, depth + 1) if empty else self.value(str(value))
        if op.endswith("?"):
            if empty:
                why = self.expand(word, depth + 1) or ("not set or empty" if op == ":?" else "not set")
                raise Unset(f"variable {name} is required: {why}")
            return self.value(str(value))
        return "" if empty else self.expand(word, depth + 1)  # `+`: the word when set


def _closing(text: str, start: int) -> int:
    """Index of the `}` that closes a `${` whose body starts at `start` (nested `${...}` allowed)."""
    depth = 0
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise ValueError("unterminated ${ (write $$ for a literal $)")


def interpolate(doc: Document, variables: Mapping[str, str]) -> Result:
    """Substitute variables in every string value of `doc`, in place; keys stay as written.

    An unquoted value is retyped as if its result had been written there (`bind: ${PORT}`
    becomes the port 5558), a quoted one stays a string. Problems carry file, line and path."""
    expander = _Expander(variables)
    problems: list[Problem] = []

    def walk(value: Any, path: Path_) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, path + (i,)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "$" not in value:
            return value
        expander.braces = in_run(path)
        plain = path in doc.plain
        try:
            result = expander.expand(value)
            if result == value or not result:
                return result
            typed = plain_scalar(result) if plain else _typed_or_text(result)
        except (Unset, ValueError) as exc:
            problems.append(doc.problem(path, str(exc)))
            return value
        if not isinstance(typed, str):
            hints[(doc.file_of(path), format_path(path))] = TYPED if plain else QUOTED
        return typed if plain else result

    hints: dict[tuple[str, str], str] = {}
    doc.data = walk(doc.data, ())
    return Result(problems, frozenset(expander.secrets), hints)
