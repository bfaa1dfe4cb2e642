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
    assert edges == {("ventilator", "worker"), ("ventilator", "sink"), ("worker", "sink")}  # data: PUSH -> PULL
    labels = [e.get_label() for e in parsed.get_edges()]
    assert any("tasks PUSH (bind) @ 127.0.0.1:auto → tasks PULL" in label for label in labels)


def test_mermaid_is_structurally_sound():
    text = graph.mermaid(load_topology(str(PIPELINE)))
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    declared = {m.group(1) for line in lines[1:] if (m := re.fullmatch(r'    (n\d+)\["[^"]+"\]', line))}
    assert len(declared) == 3
    edges = [re.fullmatch(r'    (n\d+) -->\|"([^"]+)"\| (n\d+)', line) for line in lines[1:] if "-->" in line]
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
    assert "tasks PUSH bind 127.0.0.1:auto → worker.tasks" in text
    assert "tasks PULL connect ← ventilator.tasks" in text


def test_readme_shows_the_generated_mermaid_of_the_pipeline():
    readme = (ROOT / "README.md").read_text()
    assert graph.mermaid(load_topology(str(PIPELINE))) in readme


ARROWS = """
name: arrows
nodes:
  pub: {run: x, sockets: {out: {type: PUB, connect: sub.feed}}}
  sub: {run: x, sockets: {feed: {type: SUB, bind: true}}}
  rep: {run: x, sockets: {s: {type: REP, bind: true}}}
  req: {run: x, sockets: {s: {type: REQ, connect: rep.s}}}
  router: {run: x, sockets: {s: {type: ROUTER, bind: true}}}
  dealer: {run: x, sockets: {s: {type: DEALER, connect: router.s}}}
  pull: {run: x, sockets: {s: {type: PULL, connect: push.s}}}
  push: {run: x, sockets: {s: {type: PUSH, bind: true}}}
"""


def _topology_from(text, tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return load_topology(str(path))


def test_arrows_follow_the_data_whoever_binds(tmp_path):
    t = _topology_from(ARROWS, tmp_path)
    found = {(e.source, e.target): e for e in graph.edges(t)}
    # PUB connects and SUB binds: still PUB -> SUB. PUSH binds and PULL connects: PUSH -> PULL.
    assert set(found) == {("pub", "sub"), ("req", "rep"), ("dealer", "router"), ("push", "pull")}
    assert not found["pub", "sub"].both and not found["push", "pull"].both
    assert found["req", "rep"].both and found["dealer", "router"].both
    assert "(bind)" in found["pub", "sub"].label.split("→")[1]  # the binder is the SUB side
    assert "(bind)" in found["push", "pull"].label.split("→")[0]
    (parsed,) = pydot.graph_from_dot_data(graph.dot(t))
    dirs = {(e.get_source().strip('"'), e.get_destination().strip('"')): e.get("dir") for e in parsed.get_edges()}
    assert dirs[("req", "rep")] == "both" and dirs[("pub", "sub")] is None
    text = graph.mermaid(t)
    assert re.search(r"<-->\|[^|]*REQ[^|]*\|", text) and re.search(r"[^<]-->\|[^|]*PUB[^|]*\|", text)


EVIL = "\x1b[2J\x1b]0;pwned\x07evil\"name\\ #35; <b>x</b>\nerror: forged"


def _evil_topology(tmp_path):
    import json as _json

    return _topology_from(
        f"""
name: {_json.dumps(EVIL)}
nodes:
  a:
    run: {_json.dumps(["echo", EVIL])}
    sockets: {{out: {{type: PUSH, connect: {_json.dumps("ipc:///tmp/" + EVIL.replace(" ", "_").replace(chr(10), "_"))}}}}}
""",
        tmp_path,
    )


def test_dot_quotes_untrusted_names_so_a_real_parser_reads_them_back(tmp_path):
    t = _evil_topology(tmp_path)
    text = graph.dot(t)
    assert "\x1b" not in text and "\x07" not in text
    (parsed,) = pydot.graph_from_dot_data(text)
    assert parsed.get_name().strip('"').replace('\\"', '"').replace("\\\\", "\\") == 'evil"name\\ #35; <b>x</b>\\nerror: forged'
    assert len(text.splitlines()) == 7  # graph, rankdir, node, a, the endpoint, the edge, }: nothing forged


def test_mermaid_labels_carry_no_raw_quote_or_control(tmp_path):
    text = graph.mermaid(_evil_topology(tmp_path))
    assert "\x1b" not in text and "\x07" not in text
    for line in text.splitlines()[1:]:
        inner = re.findall(r'"([^"]*)"', line)
        assert inner, line
        assert all('"' not in part and "<" not in part and "#35;" not in part.replace("#35;35;", "") for part in inner)
    assert "#quot;" in text and "#lt;b#gt;" in text


def test_tree_shows_no_escape_sequence(tmp_path):
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None)
    console.print(graph.tree(_evil_topology(tmp_path)))
    text = console.export_text()
    assert "\x1b" not in text and "\x07" not in text and "\nerror: forged" not in text
