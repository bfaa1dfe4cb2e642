"""Strict loading and field parsing: every bad input gives its message, line and YAML path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orchestrator.errors import TopologyError
from orchestrator.topology.loader import MAX_BYTES, load_text
from orchestrator.topology.parse import parse

GOOD = """\
name: t
nodes:
  a:
    run: python3 a.py
    sockets:
      out: {type: PUSH, bind: true}
  b:
    run: [python3, b.py]
    sockets:
      inp: {type: PULL, connect: a.out}
"""


def problems_of(text: str) -> list[str]:
    try:
        doc = load_text(textwrap.dedent(text), "t.yaml")
    except TopologyError as exc:
        return [str(p) for p in exc.problems]
    return [str(p) for p in parse(doc)[1]]


def test_good_file_has_no_problems():
    assert problems_of(GOOD) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("nodes:\n  a: {run: x}\n  a: {run: y}\n", "t.yaml:3 nodes.a: duplicate key 'a' (first defined on line 2)"),
        ("nodes:\n  a:\n    run: x\n    replica: 2\n", "t.yaml:4 nodes.a.replica: unknown key 'replica' (did you mean 'replicas'?)"),
        ("nodes:\n  a:\n    run: x\n    replicas: two\n", "t.yaml:4 nodes.a.replicas: expected an integer, got a string"),
        ("nodes:\n  a:\n    run: x\n    replicas: true\n", "t.yaml:4 nodes.a.replicas: expected an integer, got a boolean"),
        (
            "nodes:\n  a:\n    run: x\n    sockets:\n      tasks: {type: PUSHH, bind: true}\n",
            "t.yaml:5 nodes.a.sockets.tasks.type: unknown socket type 'PUSHH' (expected one of PAIR, PUB, SUB,",
        ),
        ("nodes:\n  a:\n    run: x\n    sockets:\n      s: {type: PUSH}\n", "t.yaml:5 nodes.a.sockets.s: a socket has exactly one of 'bind'"),
        ("nodes:\n  a:\n    run: x\n    sockets:\n      s: {type: PUSH, bind: 70000}\n", "nodes.a.sockets.s.bind: expected true (assign a port) or a port number"),
        ("nodes:\n  a:\n    run: x\n    sockets:\n      s: {type: PULL, connect: 'tcp://nohost'}\n", "malformed endpoint 'tcp://nohost'"),
        ("nodes:\n  a:\n    sockets: {}\n", "t.yaml:2 nodes.a: missing required key 'run'"),
        ("nodes:\n  a:\n    run: 'x \"unclosed'\n", "t.yaml:3 nodes.a.run: cannot split the command into words"),
        ("nodes:\n  a:\n    run: x\n    grace: soon\n", "t.yaml:4 nodes.a.grace: expected a duration such as 500ms"),
        ("nodes:\n  a:\n    run: x\n    restart: sometimes\n", "nodes.a.restart: expected no, on-failure or always, got 'sometimes'"),
        ("nodes:\n  a:\n    run: x\n    stop_signal: SIGFOO\n", "nodes.a.stop_signal: expected one of"),
        ("nodes:\n  a:\n    run: x\n    buffering: lines\n",
         "t.yaml:4 nodes.a.buffering: expected one of line, full, unbuffered, got 'lines'"),
        ("buffering: none\nnodes:\n  a:\n    run: x\n", "buffering: expected one of line, full, unbuffered, got 'none'"),
        ("nodes:\n  9a: {run: x}\n", "t.yaml:2 nodes.9a: a node name starts with a letter"),
        ("nodes: {}\n", "nodes: expected a mapping of node names to nodes, with at least one node"),
        ("name: t\n", "t.yaml:1: missing required key 'nodes'"),
        ("nodes:\n  a: {run: x}\nexpect:\n  output: {a: '(unclosed'}\n", "t.yaml:4 expect.output.a: invalid regular expression"),
        ("nodes:\n  a: {run: x}\nports: 100-200\n", "ports: port range 100-200 must lie within 1024-65535"),
        ("nodes:\n  a: !!python/object:os.system {run: x}\n", "unsupported tag 'tag:yaml.org,2002:python/object:os.system'"),
        ("nodes:\n  a: {run: !!binary aGVsbG8=}\n", "unsupported tag 'tag:yaml.org,2002:binary'"),
        ("nodes: [a\n", "t.yaml:2: invalid YAML"),
        ("nodes:\n  a: {run: x}\n---\nnodes: {}\n", "holds more than one YAML document"),
        ("", "file is empty"),
        ("a: &x [1, *x]\n", "recursive alias"),
    ],
)
def test_each_bad_input_is_reported_with_line_and_path(text, expected):
    found = problems_of(text)
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once():
    text = """\
    nodes:
      a:
        run: x
        replica: 2
        sockets:
          s: {type: PUSHH, bind: true}
      b:
        grace: never
    """
    found = problems_of(text)
    assert len(found) >= 4, found
    assert [p.split()[0] for p in found] == sorted([p.split()[0] for p in found], key=lambda s: int(s.split(":")[1]))


def test_alias_bomb_is_refused_cheaply():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    lines.append("nodes: {n: {run: x}}")
    with pytest.raises(TopologyError, match="alias bomb"):
        load_text("\n".join(lines) + "\n", "bomb.yaml")


def test_oversized_text_is_refused():
    with pytest.raises(TopologyError, match="larger than"):
        load_text("# " + "x" * MAX_BYTES + "\nnodes: {}\n", "big.yaml")


def test_yaml_11_booleans_stay_strings():
    doc = load_text("nodes:\n  a: {run: x, restart: no}\n", "t.yaml")
    topology, problems = parse(doc)
    assert problems == []
    assert topology.nodes[0].restart.policy == "no"


def test_merge_keys_and_aliases_work_for_sharing_settings():
    text = """\
    x-common: &common {run: python3 w.py, grace: 2s}
    nodes:
      a: {<<: *common, replicas: 2}
    """
    doc = load_text(textwrap.dedent(text), "t.yaml")
    topology, problems = parse(doc)
    assert problems == []
    node = topology.nodes[0]
    assert (node.run, node.grace, node.replicas) == (("python3", "w.py"), 2.0, 2)


def test_libyaml_and_the_pure_python_parser_load_every_file_alike(monkeypatch):
    """LibYAML is used for speed; whatever it reports differently (a plain scalar's style is ""
    there, None in PyYAML) must not change data, lines or which scalars were written unquoted."""
    import yaml

    from orchestrator.topology import loader

    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without LibYAML")
    root = Path(__file__).resolve().parent.parent
    files = sorted(root.glob("topologies/*.yaml")) + sorted(root.glob("tests/topologies/**/*.yaml"))
    texts = [f.read_text() for f in files] + ["a: ${P}\nb: '${Q}'\nc: no\nd: [1, 2.5, null, true]\n"]
    assert len(texts) > 10
    results = {}
    for name, base in (("libyaml", yaml.CSafeLoader), ("python", yaml.SafeLoader)):
        monkeypatch.setattr(loader, "_Loader", loader.make_loader(base))
        out = []
        for text in texts:
            try:
                doc = load_text(text, "t.yaml")
                out.append((doc.data, doc.lines, doc.plain))
            except TopologyError as exc:
                out.append(([str(p) for p in exc.problems], {}, set()))
        results[name] = out
    assert results["libyaml"] == results["python"]


# ---- YAML 1.2 numbers: nothing is silently re-based ----------------------------------------

@pytest.mark.parametrize(
    "text, what",
    [
        ("bind: 075151", "leading zero"),  # YAML 1.1: octal, port 31337
        ("bind: 8:42:17", "colon"),  # YAML 1.1: base 60, port 31337
        ("replicas: 010", "leading zero"),  # YAML 1.1: 8
        ("replicas: 1:05", "colon"),  # YAML 1.1: 65
        ("grace: 1:30.5", "colon"),  # YAML 1.1: 90.5
        ("x: 08", "leading zero"),
        ("x: -010", "leading zero"),
    ],
)
def test_ambiguous_yaml_11_numbers_are_refused_with_their_line(text, what):
    with pytest.raises(TopologyError) as exc:
        load_text("a: 1\n" + text, "t.yaml")
    (problem,) = exc.value.problems
    assert problem.line == 2 and what in problem.message and "quote it" in problem.message


@pytest.mark.parametrize("text, value", [("x: 10", 10), ("x: 0", 0), ("x: -7", -7), ("x: '010'", "010"),
                                         ("x: '8:42:17'", "8:42:17"), ("x: 0.5", 0.5), ("x: 0x1F", 31)])  # fmt: skip
def test_plain_decimal_numbers_and_quoted_strings_load_as_written(text, value):
    assert load_text(text).data == {"x": value}


@pytest.mark.parametrize("text, value", [
    ("x: 0b11", "0b11"), ("x: 1_000", "1_000"), ("x: 1_0.5", "1_0.5"),  # YAML 1.1 numbers, 1.2 strings
    ("x: 0o17", 15), ("x: 1e3", 1000.0), ("x: +12", 12), ("x: -.5", -0.5),  # YAML 1.2 numbers, 1.1 strings
])  # fmt: skip
def test_numbers_follow_yaml_12_core_not_yaml_11(text, value):
    loaded = load_text(text).data["x"]
    assert loaded == value and type(loaded) is type(value)


def test_a_yaml_11_only_number_is_no_silent_port_or_count(tmp_path):
    from orchestrator.topology.validate import load_topology

    path = tmp_path / "t.yaml"
    path.write_text("nodes:\n  w:\n    run: x\n    replicas: 0b11\n    sockets: {s: {type: PULL, bind: 1_0000}}\n")
    with pytest.raises(TopologyError) as exc:
        load_topology(str(path))
    text = str(exc.value)
    assert "nodes.w.replicas" in text and "nodes.w.sockets.s.bind" in text, text


def test_a_replica_count_with_a_leading_zero_is_refused_end_to_end(tmp_path):
    from orchestrator.topology.validate import load_topology

    path = tmp_path / "t.yaml"
    path.write_text("nodes:\n  w:\n    run: x\n    replicas: 010\n")
    with pytest.raises(TopologyError) as exc:
        load_topology(str(path))
    assert "nodes.w.replicas" in str(exc.value) and "ambiguous" in str(exc.value)


@pytest.mark.parametrize("doc", ["a: " + "[" * 500 + "]" * 500, "a:\n" + "".join(" " * i + "-\n" for i in range(1, 400)),
                                 "a: " + "{b: " * 300 + "1" + "}" * 300])  # fmt: skip
def test_a_small_file_nested_too_deep_is_refused_not_a_crash(doc):
    assert len(doc.encode()) < 100_000
    with pytest.raises(TopologyError) as exc:
        load_text(doc, "t.yaml")
    (problem,) = exc.value.problems
    assert "nested too deeply" in problem.message and problem.line >= 1


@pytest.mark.parametrize("text, seconds", [("1m30s", 90.0), ("1h 15m", 4500.0), ("500ms", 0.5), ("2m", 120.0),
                                           ("1.5", 1.5), ("1m30", None), ("1ms30", None), ("s", None)])  # fmt: skip
def test_durations_combine_units(text, seconds):
    from orchestrator.topology.reader import parse_duration

    assert parse_duration(text) == seconds


@pytest.mark.parametrize("value", ["1e3", "0o17", "-.5", "+12", "0b11", "1_000", "010", "8:42:17", "0x1F", ".inf",
                                   "yes", "no", "true", "~", "1.5", "1:30.5"])  # fmt: skip
def test_config_and_export_quote_every_string_that_would_read_back_as_something_else(value, tmp_path):
    import json

    import yaml

    from orchestrator.commands.config import resolved
    from orchestrator.export.output import dump
    from orchestrator.topology.loader import make_loader

    path = tmp_path / "t.yaml"
    path.write_text(f"nodes:\n  a:\n    run: x\n    env: {{X: {json.dumps(value)}}}\n")
    assert load_text(resolved(str(path))).data["nodes"]["a"]["env"]["X"] == value  # zmqrun reads back its own print
    (doc,) = yaml.load_all(dump([{"X": value}], []), Loader=make_loader(yaml.SafeLoader))
    assert doc == {"X": value}  # and a YAML 1.2 reader (Compose's) reads the export's string as a string
