"""`zmqrun config FILE`: the topology as zmqrun reads it (variables substituted, includes merged), secrets redacted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from orchestrator.errors import TopologyError
from orchestrator.topology.interpolate import REDACTED, SECRET_NAME, hide
from orchestrator.topology.loader import make_dumper
from orchestrator.topology.parse import parse
from orchestrator.topology.source import read
from orchestrator.topology.validate import check
from orchestrator.view.text import has_control


def redact(data: Any, secrets: frozenset[str]) -> Any:
    """`data` with every value of a secret-looking env key, and every substituted secret, hidden."""
    if isinstance(data, dict):
        return {k: _env(v, secrets) if k == "env" else redact(v, secrets) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v, secrets) for v in data]
    if isinstance(data, str):
        return hide(data, secrets)
    if data is not None and not isinstance(data, bool) and str(data) in secrets:
        return REDACTED
    return data


def _env(env: Any, secrets: frozenset[str]) -> Any:
    if not isinstance(env, dict):
        return redact(env, secrets)
    return {k: REDACTED if SECRET_NAME.search(str(k)) else redact(v, secrets) for k, v in env.items()}


def _escape(data: Any) -> Any:
    """`$` written `$$`, so the output is itself a topology that means the same, as compose does."""
    if isinstance(data, dict):
        return {k: _escape(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_escape(v) for v in data]
    return data.replace("$", "$$") if isinstance(data, str) else data


def resolved(file: str, env_files: Sequence[str] = ()) -> str:
    """The YAML text of `file` after interpolation and includes; invalid topologies raise as for a run."""
    source = read(file, env_files)
    topology, problems = parse(source.doc)
    problems = source.with_later(problems + check(topology, source.doc))
    if problems:
        raise TopologyError(problems)
    data = _escape(redact(source.doc.data, source.secrets))
    dumper = make_dumper(yaml.SafeDumper)  # what it prints reads back the same: "1e3" stays a string
    text = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=120)
    if has_control(text):  # YAML escapes ESC and the like, but writes bidi overrides raw unless ASCII-only
        text = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=False, width=120)
    return text
