"""`include:` of other topology files: their nodes join the including file's, cycles and clashes refused."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from orchestrator.errors import Problem, TopologyError
from orchestrator.topology.loader import Document, Path_

# What an included file may hold besides nodes: the run-wide keys belong to the including file.
INCLUDED_KEYS = {"include", "nodes", "name", "description"}

Loader = Callable[[str], Document]  # reads and interpolates one file

# A topology file is untrusted: a chain of includes thousands deep would exhaust Python's stack.
MAX_DEPTH = 32


def merge_includes(doc: Document, load: Loader, stack: tuple[str, ...] = (), seen: set[str] | None = None
                   ) -> list[Problem]:  # fmt: skip
    """Replace `doc`'s `include:` list with the nodes of those files, in place; every problem found.
    A file reached twice without a cycle (two parts sharing a base) is merged once."""
    seen = set() if seen is None else seen
    data = doc.data
    if not isinstance(data, dict) or "include" not in data:
        return []
    stack = stack + (os.path.realpath(doc.file),)
    problems: list[Problem] = []
    entries = data.pop("include")
    if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
        return [doc.problem(("include",), "expected a list of topology file paths, relative to this file")]
    nodes = data.get("nodes")
    if nodes is None:
        nodes = data["nodes"] = {}
    if not isinstance(nodes, dict):
        return problems  # the parser reports the shape of `nodes`
    here = os.path.dirname(os.path.realpath(doc.file))
    for i, entry in enumerate(entries):
        path = os.path.normpath(os.path.join(os.path.dirname(doc.file), entry))
        real = os.path.realpath(path)
        if real in stack:
            chain = [os.path.basename(f) for f in stack] + [os.path.basename(path)]
            problems.append(doc.problem(("include", i), "include cycle: " + " -> ".join(chain)))
            continue
        if not os.path.isfile(path):
            what = "a folder, not a topology file" if os.path.isdir(path) else f"no such file ({path})"
            problems.append(doc.problem(("include", i), f"cannot include {entry}: {what}"))
            continue
        if real in seen:
            continue
        if len(stack) > MAX_DEPTH:
            problems.append(doc.problem(("include", i), f"includes nested too deeply (more than {MAX_DEPTH} files deep)"))
            break
        seen.add(real)
        try:
            sub = load(path)
        except TopologyError as exc:
            problems += exc.problems
            continue
        problems += merge_includes(sub, load, stack, seen)
        problems += _adopt(doc, sub, nodes, here)
    return problems


def _adopt(doc: Document, sub: Document, nodes: dict[str, Any], here: str) -> list[Problem]:
    """Move `sub`'s nodes into `nodes`, keeping where each came from and its relative paths."""
    if not isinstance(sub.data, dict):
        return [sub.problem((), "expected a topology mapping")]
    allowed = ", ".join(sorted(INCLUDED_KEYS))
    problems = [
        sub.problem((key,), f"{key!r} belongs in the including file; an included file holds {allowed}")
        for key in sub.data
        if key not in INCLUDED_KEYS and not key.startswith("x-")
    ]
    theirs = sub.data.get("nodes") or {}
    if not isinstance(theirs, dict):
        return problems + [sub.problem(("nodes",), "expected a mapping of node names to nodes")]
    there = os.path.dirname(os.path.realpath(sub.file))
    for name, node in theirs.items():
        key: Path_ = ("nodes", name)
        if name in nodes:
            first = f"{doc.file_of(key)}:{doc.line(key)}"
            problems.append(sub.problem(key, f"node {name!r} is already defined in {first}; names must not clash"))
            continue
        if isinstance(node, dict) and there != here:
            # A node's folder is its own file's folder, as it would be if that file ran alone.
            cwd = os.path.join(there, node["cwd"]) if isinstance(node.get("cwd"), str) else there
            node["cwd"] = os.path.relpath(cwd, here)
        nodes[name] = node
        for path, line in sub.lines.items():
            if path[:2] == key:
                doc.lines[path] = line
        doc.files[key] = sub.file
        doc.files.update({p: f for p, f in sub.files.items() if p[:2] == key})
    return problems
