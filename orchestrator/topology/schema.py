"""JSON Schema of a topology file, for editors' YAML language servers (`zmqrun schema`).
It states the shape the loader accepts; cross-references (does `sink.results` exist, do the
socket types pair up) are beyond a schema and stay with `zmqrun check`."""

from __future__ import annotations

from typing import Any

from orchestrator.topology.blocks import CONDITIONS, EXPECT_KEYS, READY_KEYS, READY_WHEN, RESTART_KEYS
from orchestrator.topology.model import BUFFERING, DEVICES, SOCKET_TYPES
from orchestrator.topology.parse import IMAGE, MAX_REPLICAS, NODE_KEYS, SECURITY, SOCKET_KEYS, STOP_SIGNALS, TOP_KEYS
from orchestrator.topology.reader import DURATION_PATTERN

DURATION: dict[str, Any] = {
    "description": "seconds, or a string such as 500ms, 3s, 2m, 1m30s, 1h",
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": DURATION_PATTERN},
    ],
}
BUFFERING_SCHEMA = {"enum": list(BUFFERING),
                    "description": "line: a pseudo-terminal (the default); full: a pipe; unbuffered: a pipe and PYTHONUNBUFFERED=1"}
REGEX = {"type": "string", "description": "a Python regular expression"}
WORDS = {"type": "array", "items": {"type": ["string", "number"]}, "minItems": 1}
IMAGE_REF = {"type": "string", "pattern": IMAGE.pattern,
             "description": "container image for `zmqrun export` (a node's own wins over the top-level default)"}
NODE_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"
SOCKET_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,62}$"
TARGET = r"^([A-Za-z][A-Za-z0-9_-]*\.[A-Za-z][A-Za-z0-9_]*|tcp://[^\s/]+:\d{1,5}|ipc://\S+|inproc://\S+)$"


def _obj(properties: dict[str, Any], keys: set[str], **extra: Any) -> dict[str, Any]:
    assert set(properties) == keys, set(properties) ^ keys  # the schema and the loader list the same keys
    return {"type": "object", "properties": properties, "additionalProperties": False, **extra}


def _per_node(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "propertyNames": {"pattern": NODE_NAME}, "additionalProperties": value}


def _one_or_many(item: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]}


def schema() -> dict[str, Any]:
    socket = _obj(
        {
            "type": {"type": "string", "enum": list(SOCKET_TYPES) + [t.lower() for t in SOCKET_TYPES]},
            "bind": {"description": "true: zmqrun assigns a port; a number fixes it",
                     "anyOf": [{"const": True}, {"type": "integer", "minimum": 1, "maximum": 65535}]},
            "connect": {"description": "NODE.SOCKET, an endpoint, or a list of them",
                        "anyOf": [{"type": "string", "pattern": TARGET},
                                  {"type": "array", "items": {"type": "string", "pattern": TARGET}, "minItems": 1}]},
            "host": {"type": "string"},
            "transport": {"enum": ["tcp", "ipc"]},
            "security": {"description": "curve: this edge is encrypted and authenticated; none: plain (exempt)",
                         "enum": list(SECURITY)},
        },
        SOCKET_KEYS,
        required=["type"],
        oneOf=[{"required": ["bind"]}, {"required": ["connect"]}],
    )  # fmt: skip
    restart = {
        "anyOf": [
            {"enum": ["no", "on-failure", "always"]},
            _obj(
                {"policy": {"enum": ["no", "on-failure", "always"]}, "limit": {"type": "integer", "minimum": 0},
                 "window": DURATION, "backoff": DURATION, "max_backoff": DURATION},
                RESTART_KEYS,
            ),
        ]
    }  # fmt: skip
    ready = {
        "anyOf": [
            {"enum": [w for w in READY_WHEN if w != "log"]},
            _obj({"when": {"enum": list(READY_WHEN)}, "log": REGEX, "timeout": DURATION}, READY_KEYS,
                 **{"if": {"properties": {"when": {"const": "log"}}, "required": ["when"]},
                    "then": {"required": ["log"]}}),
        ]
    }  # fmt: skip
    node = _obj(
        {
            "run": {"description": "command: split into words, no shell unless shell: true",
                    "anyOf": [{"type": "string", "minLength": 1}, WORDS]},
            "shell": {"type": "boolean"},
            "device": {"enum": list(DEVICES)},
            "replicas": {"type": "integer", "minimum": 1, "maximum": MAX_REPLICAS},
            "env": {"type": "object", "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                    "additionalProperties": {"type": ["string", "number"]}},
            "cwd": {"type": "string"},
            "sockets": {"type": "object", "propertyNames": {"pattern": SOCKET_NAME}, "additionalProperties": socket},
            "restart": restart,
            "stop_signal": {"enum": sorted(STOP_SIGNALS) + sorted(s.lower() for s in STOP_SIGNALS)},
            "grace": DURATION,
            "depends_on": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}},
                                     _per_node({"anyOf": [{"enum": sorted(CONDITIONS)},
                                                          {"type": "object", "properties": {"condition": {"enum": sorted(CONDITIONS)}},
                                                           "required": ["condition"]}]})]},
            "ready": ready,
            "stdin": {"anyOf": [{"const": "inherit"}, {"type": "null"},
                                {"type": "array", "items": {"type": ["string", "number"]}}]},
            "exit_on_end": {"type": "boolean"},
            "buffering": BUFFERING_SCHEMA,
            "image": IMAGE_REF,
        },
        NODE_KEYS,
        anyOf=[{"required": ["run"], "not": {"required": ["device"]}},
               {"required": ["device"], "not": {"required": ["run"]}}],
    )  # fmt: skip
    regexes = _per_node(_one_or_many(REGEX))
    expect = _obj(
        {
            "timeout": DURATION,
            "exit": _per_node(_one_or_many({"type": "integer"})),
            "output": regexes,
            "absent": regexes,
            "equal": {"type": "array", "items": {**_per_node(REGEX), "minProperties": 2, "maxProperties": 2}},
        },
        EXPECT_KEYS,
    )
    top = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://zmqrun.invalid/topology.schema.json",
        "title": "zmqrun topology",
        **_obj(
            {
                "name": {"type": "string"},
                "description": {"type": "string"},
                "ports": {"type": "string", "pattern": r"^\d+\s*-\s*\d+$"},
                "grace": DURATION,
                "buffering": BUFFERING_SCHEMA,
                "nodes": {**_per_node(node), "minProperties": 1},
                "expect": expect,
                "image": IMAGE_REF,
                "security": {"description": "default for every edge: curve (keys made per run) or none",
                             "enum": list(SECURITY)},
            },
            TOP_KEYS,
            anyOf=[{"required": ["nodes"]}, {"required": ["include"]}],
            patternProperties={"^x-": {}},
        ),
    }
    # Resolved before parsing (topology/include.py), so the parser never sees it.
    top["properties"]["include"] = {"type": "array", "items": {"type": "string", "minLength": 1},
                                    "description": "topology files whose nodes join this one, relative to it"}  # fmt: skip
    return top
