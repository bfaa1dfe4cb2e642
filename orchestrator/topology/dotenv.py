"""`.env` files as compose reads them: `KEY=VALUE` lines, comments, quotes; and the variables a topology sees."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

from orchestrator.errors import Problem, TopologyError

LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$"}


def parse(text: str, file: str) -> tuple[dict[str, str], list[Problem]]:
    """The variables of one `.env` text, and a problem for each line that is not `KEY=VALUE`."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            problems.append(Problem(file, number, "", "expected KEY=VALUE (a comment starts with #)"))
            continue
        key, raw = m.groups()
        if raw[:1] in ("'", '"') and raw.find(raw[0], 1) < 0:
            problems.append(Problem(file, number, key, f"unterminated {raw[0]}quote (a value spans one line)"))
            continue
        values[key] = _value(raw)
    return values, problems


def _value(raw: str) -> str:
    if raw.startswith("'"):
        return raw[1 : raw.index("'", 1)]  # single quotes: literal
    if raw.startswith('"'):
        out, i = [], 1
        while raw[i] != '"':
            if raw[i] == "\\" and i + 1 < len(raw) - 1:
                out.append(_ESCAPES.get(raw[i + 1], "\\" + raw[i + 1]))
                i += 2
            else:
                out.append(raw[i])
                i += 1
        return "".join(out)
    return re.split(r"\s+#", raw, maxsplit=1)[0]  # unquoted: ` # comment` ends it


def read(path: str, must_exist: bool) -> dict[str, str]:
    """One file's variables; a missing optional file is empty, an unreadable or bad one an error."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(1 << 20)
    except FileNotFoundError:
        if must_exist:
            raise TopologyError([Problem(path, 0, "", "--env-file: no such file")]) from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError([Problem(path, 0, "", f"cannot read the env file: {exc}")]) from None
    values, problems = parse(text.removeprefix("\ufeff"), path)  # a BOM, as some Windows editors write
    if problems:
        raise TopologyError(problems)
    return values


def variables(
    topology_file: str, env_files: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What `${VAR}` means in `topology_file`: the process environment wins over `--env-file`s
    (later files win over earlier ones), which replace the `.env` beside the topology, as in compose."""
    merged: dict[str, str] = {}
    if env_files:
        for path in env_files:
            merged.update(read(path, must_exist=True))
    else:
        merged.update(read(os.path.join(os.path.dirname(os.path.abspath(topology_file)), ".env"), must_exist=False))
    merged.update(os.environ if environ is None else environ)
    return merged
