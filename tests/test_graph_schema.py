"""`zmqrun graph` in every format, and the JSON Schema agreeing with the loader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pydot
import pytest
from conftest import ROOT

from orchestrator.errors import TopologyError
from orchestrator.topology.loader import load_file
from orchestrator.topology.parse import parse
from orchestrator.topology.schema import schema
from orchestrator.topology.validate import load_topology
from orchestrator.view import graph

SHIPPED = sorted((ROOT / "topologies").glob("*.yaml"))
VALID = sorted((ROOT / "tests" / "topologies" / "valid").glob("*.yaml"))
INVALID = sorted((ROOT / "tests" / "topologies" / "invalid").glob("*.yaml"))


def loader_accepts(path: Path) -> bool:
    try:
        doc = load_file(path)
    except TopologyError:
        return False
    return parse(doc)[1] == []


def schema_accepts(path: Path) -> bool:
    try:
        data = load_file(path).data
    except TopologyError:
        return False
    return not list(jsonschema.Draft202012Validator(schema()).iter_errors(data))


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(schema())


@pytest.mark.parametrize("path", SHIPPED + VALID + INVALID, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_schema_and_loader_agree(path):
    expected = path.parent.name != "invalid"
    assert loader_accepts(path) is expected
    assert schema_accepts(path) is expected


def test_corpus_is_not_empty():
    assert len(SHIPPED) >= 14 and len(INVALID) >= 30 and VALID


def test_schema_command_prints_the_schema(zmqrun):
    result = zmqrun.run("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout) == schema()


PIPELINE = ROOT / "topologies" / "pipeline.yaml"


def test_dot_parses_with_a_real_parser_and_has_every_edge():
    (parsed,) = pydot.graph_from_dot_data(graph.dot(load_topology(str(PIPELINE))))
    names = {n.get_name().strip('"') for n in parsed.get_nodes()} - {"node"}
    assert names == {"ventilator", "worker", "sink"}
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"')) for e in parsed.get_edges()}
    assert edges == {("ventilator", "worker"), ("sink", "ventilator"), ("sink", "worker")}
    labels = [e.get_label() for e in parsed.get_edges()]
    assert any("tasks PUSH ← tasks PULL @ 127.0.0.1:auto" in label for label in labels)


def test_mermaid_is_structurally_sound():
    text = graph.mermaid(load_topology(str(PIPELINE)))
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    declared = {m.group(1) for line in lines[1:] if (m := re.fullmatch(r'    (n\d+)\["[^"]+"\]', line))}
    assert len(declared) == 3
    edges = [re.fullmatch(r'    (n\d+) -- "([^"]+)" --> (n\d+)', line) for line in lines[1:] if "-->" in line]
    assert len(edges) == 3 and all(edges)
    assert all(e.group(1) in declared and e.group(3) in declared for e in edges)
    assert '["worker ×2"]' in text


def test_terminal_tree_shows_replicas_sockets_and_peers():
    from rich.console import Console

    console = Console(record=True, width=100, color_system=None)
    console.print(graph.tree(load_topology(str(PIPELINE))))
    text = console.export_text()
    assert "worker ×2" in text
    assert "results PULL bind 127.0.0.1:auto ← ventilator.sink, worker.results" in text
    assert "tasks PULL connect → ventilator.tasks" in text


def test_readme_shows_the_generated_mermaid_of_the_pipeline():
    readme = (ROOT / "README.md").read_text()
    assert graph.mermaid(load_topology(str(PIPELINE))) in readme
