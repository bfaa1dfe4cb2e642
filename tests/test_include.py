"""`include:` of topology files: nodes merged, cycles and clashes refused, every error names its own file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orchestrator.errors import TopologyError
from orchestrator.run.runner import plan_for, remove_rundir
from orchestrator.topology.validate import load_topology


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(TopologyError) as info:
        load_topology(str(path))
    return [str(p) for p in info.value.problems]


def test_included_nodes_join_and_keep_their_folder(tmp_path: Path) -> None:
    main = write(tmp_path, "main.yaml", """\
        include: [parts/workers.yaml]
        nodes:
          sink:
            run: python -m orchestrator.nodes.sink --expect 2
            sockets: {results: {type: PULL, bind: true}}
    """)  # fmt: skip
    write(tmp_path, "parts/workers.yaml", """\
        name: workers
        nodes:
          worker:
            run: python work.py
            sockets: {results: {type: PUSH, connect: sink.results}}
          helper:
            cwd: sub
            run: python help.py
    """)  # fmt: skip
    topology = load_topology(str(main))
    assert [n.name for n in topology.nodes] == ["sink", "worker", "helper"]
    plan, rundir = plan_for(topology)
    remove_rundir(rundir)
    cwd = {i.node.name: i.cwd for i in plan.instances}
    assert cwd == {"sink": str(tmp_path), "worker": str(tmp_path / "parts"), "helper": str(tmp_path / "parts/sub")}


def test_include_cycle_is_refused(tmp_path: Path) -> None:
    main = write(tmp_path, "a.yaml", "include: [b.yaml]\nnodes:\n  a: {run: x}\n")
    write(tmp_path, "b.yaml", "include:\n  - a.yaml\nnodes:\n  b: {run: x}\n")
    assert problems(main) == [f"{tmp_path / 'b.yaml'}:2 include[0]: include cycle: a.yaml -> b.yaml -> a.yaml"]
    selfish = write(tmp_path, "self.yaml", "include: [./self.yaml]\nnodes:\n  a: {run: x}\n")
    assert problems(selfish) == [f"{selfish}:1 include[0]: include cycle: self.yaml -> self.yaml"]


def test_name_clash_is_refused_with_both_places(tmp_path: Path) -> None:
    main = write(tmp_path, "main.yaml", "include: [one.yaml, two.yaml]\nnodes:\n  sink: {run: x}\n")
    write(tmp_path, "one.yaml", "nodes:\n  worker: {run: x}\n")
    write(tmp_path, "two.yaml", "nodes:\n  other: {run: x}\n  sink: {run: y}\n  worker: {run: y}\n")
    two, one = tmp_path / "two.yaml", tmp_path / "one.yaml"
    assert problems(main) == [
        f"{two}:3 nodes.sink: node 'sink' is already defined in {main}:3; names must not clash",
        f"{two}:4 nodes.worker: node 'worker' is already defined in {one}:2; names must not clash",
    ]


def test_errors_name_the_file_they_came_from(tmp_path: Path) -> None:
    main = write(tmp_path, "main.yaml", """\
        include: [part.yaml, missing.yaml]
        nodes:
          sink:
            run: x
            sockets: {results: {type: PULL, bind: true}}
    """)  # fmt: skip
    part = write(tmp_path, "part.yaml", """\
        expect: {timeout: 3s}
        nodes:
          worker:
            run: x ${UNSET_FOR_TEST}
            sockets:
              results: {type: PUSHH, connect: sink.results}
    """)  # fmt: skip
    found = problems(main)  # all at once: variables, includes, and the parser's
    # a missing file is reported where it is named, with the path it was looked for at
    assert f"{main}:1 include[1]: cannot include missing.yaml: no such file ({tmp_path / 'missing.yaml'})" in found
    for start in (f"{part}:4 nodes.worker.run: variable UNSET_FOR_TEST is not set",
                  f"{part}:1 expect: 'expect' belongs in the including file",
                  f"{part}:6 nodes.worker.sockets.results.type: unknown socket type 'PUSHH'"):  # fmt: skip
        assert any(p.startswith(start) for p in found), start


def test_a_folder_is_refused_where_it_is_included(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    main = write(tmp_path, "main.yaml", "include: [parts]\nnodes:\n  a: {run: x}\n")
    assert problems(main) == [f"{main}:1 include[0]: cannot include parts: a folder, not a topology file"]


def test_a_base_shared_by_two_parts_is_merged_once(tmp_path: Path) -> None:
    """debug.yaml and monitoring.yaml both include base.yaml: one topology, not a clash with itself."""
    main = write(tmp_path, "main.yaml", "include: [debug.yaml, monitoring.yaml]\nnodes:\n  a: {run: x}\n")
    write(tmp_path, "debug.yaml", "include: [base.yaml]\nnodes:\n  tap: {run: x}\n")
    write(tmp_path, "monitoring.yaml", "include: [./sub/../base.yaml]\nnodes:\n  mon: {run: x}\n")
    write(tmp_path, "base.yaml", "nodes:\n  base: {run: x}\n")
    assert [n.name for n in load_topology(str(main)).nodes] == ["a", "tap", "base", "mon"]


def test_schema_accepts_include_and_a_file_of_includes_only(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from orchestrator.topology.schema import schema

    validator = jsonschema.Draft202012Validator(schema())
    assert not list(validator.iter_errors({"include": ["a.yaml", "b.yaml"]}))
    assert list(validator.iter_errors({"include": "a.yaml"}))  # the schema asks for the list form
    assert list(validator.iter_errors({"name": "x"}))  # neither nodes nor include


def test_included_file_sees_main_variables_then_its_own_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.topology.source import read

    main = write(tmp_path, "main.yaml", "include: [parts/p.yaml]\nnodes:\n  a: {run: 'x ${SHARED}'}\n")
    write(tmp_path, "parts/p.yaml", "nodes:\n  b: {run: 'y ${SHARED} ${OWN}'}\n")
    (tmp_path / ".env").write_text("SHARED=main\n")
    (tmp_path / "parts" / ".env").write_text("SHARED=part\nOWN=part-own\n")
    nodes = read(str(main), environ={}).doc.data["nodes"]
    assert (nodes["a"]["run"], nodes["b"]["run"]) == ("x main", "y main part-own")


def test_an_include_chain_thousands_deep_is_refused_not_a_crash(tmp_path: Path) -> None:
    for i in range(1200):
        (tmp_path / f"f{i}.yaml").write_text(f"include: [f{i + 1}.yaml]\nnodes:\n  n{i}: {{run: x}}\n")
    (tmp_path / "f1200.yaml").write_text("nodes:\n  last: {run: x}\n")
    with pytest.raises(TopologyError) as exc:
        load_topology(str(tmp_path / "f0.yaml"))
    (problem,) = exc.value.problems
    assert "includes nested too deeply (more than 32 files deep)" in problem.message and problem.line == 1


def test_a_file_included_twice_over_at_every_level_is_not_read_a_million_times(tmp_path: Path) -> None:
    # 2**25 reads if each include were read again; the pytest timeout would end this test long before.
    for i in range(25):
        (tmp_path / f"d{i}.yaml").write_text(f"include: [d{i + 1}.yaml, d{i + 1}.yaml]\nnodes:\n  n{i}: {{run: x}}\n")
    (tmp_path / "d25.yaml").write_text("nodes:\n  last: {run: x}\n")
    topology = load_topology(str(tmp_path / "d0.yaml"))
    assert len(topology.nodes) == 26  # each file merged once
