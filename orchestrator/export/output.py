"""Exported documents as YAML text: block style, keys in the order built, multi-line strings as
literal blocks, no line wrapping; the same documents always give the same bytes."""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.split("\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(docs: list[dict[str, Any]], header: list[str]) -> str:
    comments = "".join(f"# {line}\n" for line in header)
    body = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=10_000,
                         allow_unicode=True, explicit_start=True)  # fmt: skip
    return comments + body
