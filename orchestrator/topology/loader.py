"""Strict YAML loading: plain data only, every key once, aliases bounded, a line for every path."""

from __future__ import annotations

import os
import re
from typing import Any

import yaml

from orchestrator.errors import Problem, TopologyError

MAX_BYTES = 1 << 20  # a topology is a page of text; a megabyte is already absurd
MAX_NODES = 50_000  # after alias expansion; stops "billion laughs" documents cheaply

Path_ = tuple[str | int, ...]


# YAML 1.1 (PyYAML) reads `075151` as octal and `8:42:17` or `1:05` as base 60; YAML 1.2 reads
# neither. A plain scalar of that shape is refused rather than silently re-based: the author
# meant a decimal number or a string, and only they know which.
_AMBIGUOUS_TAG = "tag:zmqrun,2026:ambiguous-number"
_AMBIGUOUS = re.compile(r"^[-+]?(?:0[0-9_]+(?:\.[0-9_]*)?|[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)$")
# The rest of YAML 1.2's core schema for numbers: decimal, 0o octal and 0x hex integers; floats
# with an optional exponent, .inf and .nan. YAML 1.1's binary (`0b11`) and digit groups (`1_000`)
# are not numbers in 1.2: they stay strings, and a field that wants a number says so.
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_DROPPED = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    return int(loader.construct_scalar(node), 0)  # decimal, 0o or 0x: the ambiguous shapes never get here


def make_loader(base: type[Any]) -> type[Any]:
    """`base` (SafeLoader or LibYAML's CSafeLoader) with YAML 1.2 booleans and numbers, so
    `restart: no` stays the string "no", and ambiguous YAML 1.1 numbers tagged for refusal."""
    loader: type[Any] = type("_Loader", (base,), {})
    loader.yaml_implicit_resolvers = {
        key: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))  # fmt: skip
    loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
    loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789"))
    for first in "-+0123456789":
        loader.yaml_implicit_resolvers.setdefault(first, []).insert(0, (_AMBIGUOUS_TAG, _AMBIGUOUS))
    loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    return loader


def make_dumper(base: type[Any]) -> type[Any]:
    """`base` (a SafeDumper) that quotes every string that YAML 1.1 or zmqrun's loader would read
    as something else: `"1e3"`, `"0o17"` and `"-.5"` are plain strings to YAML 1.1, so PyYAML
    writes them bare, and zmqrun (or a YAML 1.2 reader such as Compose's) would read a number back."""
    dumper: type[Any] = type("_Dumper", (base,), {})
    dumper.yaml_implicit_resolvers = {key: list(rs) for key, rs in base.yaml_implicit_resolvers.items()}
    for key, resolvers in make_loader(yaml.SafeLoader).yaml_implicit_resolvers.items():
        dumper.yaml_implicit_resolvers.setdefault(key, []).extend(resolvers)
    return dumper


# LibYAML's parser when PyYAML was built with it: it keeps every node's line (the marks) and
# composes a file some ten times faster than the pure-Python parser, which matters at start-up.
_Loader = make_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


MAX_DEPTH = 64  # a topology is a few levels deep; PyYAML's composer recurses once per level

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Document:
    """A loaded file: plain Python data plus the line where each path starts."""

    __slots__ = ("data", "file", "lines", "plain", "files")

    def __init__(self, file: str, data: Any, lines: dict[Path_, int] | None = None):
        self.file = file
        self.data = data
        self.lines: dict[Path_, int] = lines if lines is not None else {}
        self.plain: set[Path_] = set()  # unquoted scalars holding a '$': interpolation retypes them
        self.files: dict[Path_, str] = {}  # subtrees that came from an included file

    def file_of(self, path: Path_) -> str:
        """The file that `path` came from: an included file's, or this document's."""
        while path:
            if path in self.files:
                return self.files[path]
            path = path[:-1]
        return self.file

    def line(self, path: Path_) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def problem(self, path: Path_, message: str) -> Problem:
        return Problem(self.file_of(path), self.line(path), format_path(path), message)


class _Builder:
    def __init__(self, file: str):
        self.doc = Document(file, None)
        self.problems: list[Problem] = []
        self.count = 0
        self.constructor = _Loader("")
        self.active: set[int] = set()

    def fail(self, path: Path_, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.doc.file, node.start_mark.line + 1, format_path(path), message))

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self.active:
            self.fail(path, node, "recursive alias (a value that contains itself)")
            return None
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _AMBIGUOUS_TAG:
                self.fail(path, node, _ambiguous(node.value))
                return None
            if node.tag not in _SCALAR_TAGS:
                self.fail(path, node, f"unsupported tag {node.tag!r}: only plain data is allowed")
                return None
            if not node.style and "$" in node.value:  # plain: None from PyYAML's parser, "" from LibYAML's
                self.doc.plain.add(path)
            return self.constructor.construct_object(node, deep=True)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != "tag:yaml.org,2002:seq":
                    self.fail(path, node, f"unsupported tag {node.tag!r}")
                    return None
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)
            if node.tag != "tag:yaml.org,2002:map":
                self.fail(path, node, f"unsupported tag {node.tag!r}")
                return None
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    value = self.build(source, path)
                    if isinstance(value, dict):
                        merged = {**value, **merged}
                    else:
                        self.fail(path, source, "a merge key (<<) takes a mapping or a list of mappings")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                self.fail(path, key_node, "keys must be plain scalars")
                continue
            key = str(self.constructor.construct_object(key_node))
            if key in out:
                first = self.doc.lines.get(path + (key,), 0)
                self.fail(path + (key,), key_node, f"duplicate key {key!r} (first defined on line {first})")
                continue
            self.doc.lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, path + (key,))
        return {**merged, **out}


def plain_scalar(text: str) -> Any:
    """`text` typed as if it had been written unquoted in a topology file (`5558` is an int);
    ValueError for what would be refused there (`05558`, `1:30`)."""
    loader = _Loader("")
    tag = loader.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _AMBIGUOUS_TAG:
        raise ValueError(_ambiguous(text))
    return loader.construct_object(yaml.ScalarNode(tag, text), deep=True)


class _TooBig(Exception):
    pass


def _ambiguous(text: str) -> str:
    what = "a colon (YAML 1.1 reads it in base 60)" if ":" in text else "a leading zero (YAML 1.1 reads it as octal)"
    return (f"{text!r} is ambiguous: it has {what}; write the decimal number without it, "
            "or quote it if you mean a string")  # fmt: skip


def _too_deep(text: str, file: str) -> Problem | None:
    """Nesting deeper than MAX_DEPTH, found from the event stream (which, unlike composing,
    does not recurse), so a small file nested 500 deep is refused rather than crashing."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    return Problem(file, line, "", f"nested too deeply (more than {MAX_DEPTH} levels)")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return None  # composing reports it, with its line
    return None


def load_text(text: str, file: str = "<string>") -> Document:
    """Parse one YAML document strictly; raise TopologyError with every problem found."""
    builder = _Builder(file)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise TopologyError([Problem(file, 0, "", f"file is larger than {MAX_BYTES // 1024} KiB")])
    if (deep := _too_deep(text, file)) is not None:
        raise TopologyError([deep])
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        lines = {m.line for m in (exc.problem_mark, exc.context_mark) if m is not None}
        flow = any("${" in t for i, t in enumerate(text.splitlines()) if i in lines)
        hint = " (in [...] or {...}, quote a ${VAR} value or write that part in block style)" if flow else ""
        raise TopologyError([Problem(file, line, "", f"invalid YAML: {exc.problem or exc.context}{hint}")]) from None
    except yaml.YAMLError as exc:
        raise TopologyError([Problem(file, 0, "", f"invalid YAML: {exc}")]) from None
    if len(nodes) != 1 or nodes[0] is None:
        what = "is empty" if not nodes or nodes[0] is None else "holds more than one YAML document"
        raise TopologyError([Problem(file, 1, "", f"file {what}; expected one topology mapping")])
    try:
        builder.doc.data = builder.build(nodes[0], ())
    except _TooBig:
        raise TopologyError(
            [Problem(file, 0, "", f"document expands to more than {MAX_NODES} values (alias bomb?)")]
        ) from None
    if builder.problems:
        raise TopologyError(builder.problems)
    return builder.doc


def load_file(path: str | os.PathLike[str]) -> Document:
    path = os.fspath(path)
    try:
        if os.stat(path).st_size > MAX_BYTES:
            raise TopologyError([Problem(path, 0, "", f"file is larger than {MAX_BYTES // 1024} KiB")])
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise TopologyError([Problem(path, 0, "", "is a folder, not a topology file (`zmqrun test FOLDER` runs each one in it)")]) from None
    except OSError as exc:
        raise TopologyError([Problem(path, 0, "", f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TopologyError([Problem(path, 0, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    return load_text(text, path)
