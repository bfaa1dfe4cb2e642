"""Exported documents as YAML text: block style, keys in the order built, multi-line strings as
literal blocks, no line wrapping; the same documents always give the same bytes."""

from __future__ import annotations

from typing import Any

import yaml

from orchestrator.topology.loader import make_dumper
from orchestrator.view.text import has_control, one_line

_Dumper: Any = make_dumper(yaml.SafeDumper)  # "1e3" stays a string for YAML 1.2 readers too


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.split("\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(docs: list[dict[str, Any]], header: list[str]) -> str:
    # A header line holds topology values: one line each, or a newline would start YAML of its own.
    comments = "".join(f"# {one_line(line)}\n" for line in header)
    options: dict[str, Any] = {"Dumper": _Dumper, "sort_keys": False, "default_flow_style": False, "width": 10_000,
                               "explicit_start": True}  # fmt: skip
    body = yaml.dump_all(docs, allow_unicode=True, **options)
    if has_control(body):  # YAML escapes ESC and the like, but writes bidi overrides raw unless ASCII-only
        body = yaml.dump_all(docs, allow_unicode=False, **options)
    return comments + body
