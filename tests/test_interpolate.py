"""Variables in topology files: every compose form, `.env` and `--env-file` precedence, errors with file:line."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.errors import TopologyError
from orchestrator.topology import dotenv
from orchestrator.topology.interpolate import interpolate
from orchestrator.topology.loader import load_text
from orchestrator.topology.source import read
from orchestrator.topology.validate import load_topology


def expand(value: str, env: dict[str, str]) -> object:
    doc = load_text(f"v: {value}\n", "t.yaml")
    result = interpolate(doc, env)
    if result.problems:
        raise TopologyError(result.problems)
    return doc.data["v"]


@pytest.mark.parametrize(
    "value, env, expected",
    [
        ("'${A}'", {"A": "x"}, "x"),
        ("'a${A}b${B}c'", {"A": "1", "B": "2"}, "a1b2c"),
        ("'${A:-d}'", {}, "d"),
        ("'${A:-d}'", {"A": ""}, "d"),  # :- also replaces an empty value
        ("'${A-d}'", {"A": ""}, ""),  # - only an unset one
        ("'${A-d}'", {}, "d"),
        ("'${A:-${B}}'", {"B": "nested"}, "nested"),
        ("'${A:+alt}'", {"A": "x"}, "alt"),
        ("'${A:+alt}'", {}, ""),
        ("'${A:?need it}'", {"A": "ok"}, "ok"),
        ("'${A?need it}'", {"A": ""}, ""),
        ("'$${A}'", {"A": "x"}, "${A}"),  # $$ is a literal $
        ("'cost $$5'", {}, "cost $5"),
        # nothing is ever evaluated: command substitution, backticks, bare $VAR stay text
        ("'$(rm -rf /) `id` $HOME $1'", {"HOME": "/h"}, "$(rm -rf /) `id` $HOME $1"),
        ("'{tasks.port} {{x}}'", {}, "{tasks.port} {{x}}"),  # zmqrun's placeholders untouched
        ("${P}", {"P": "5558"}, 5558),  # unquoted: typed as if written there
        ("${P}", {"P": "true"}, True),
        ("'${P}'", {"P": "5558"}, "5558"),  # quoted: a string
        ("${P}", {"P": "a: b"}, "a: b"),  # a value cannot inject YAML structure
        ("${P}", {"P": "!!python/object:os.system"}, "!!python/object:os.system"),  # nor a tag
        ("${P}", {"P": "*alias"}, "*alias"),
        ("'${P}'", {"P": "05558"}, "05558"),  # quoted: the string, as written
    ],
)
def test_each_form(value: str, env: dict[str, str], expected: object) -> None:
    assert expand(value, env) == expected


@pytest.mark.parametrize(
    "value, env, message",
    [
        ("'${MISSING}'", {}, "t.yaml:1 v: variable MISSING is not set"),
        ("'${A:?set A to the broker host}'", {"A": ""}, "variable A is required: set A to the broker host"),
        ("'${A?}'", {}, "variable A is required: not set"),
        ("'${1A}'", {}, "invalid variable reference"),
        ("'${A'", {}, "unterminated ${"),
        ("'${A!x}'", {}, "expected }, :-, -, :?, ?, :+ or + after A"),
        # a value that an unquoted scalar could not hold is refused as the file would be, not a crash
        ("${P}", {"P": "05558"}, "t.yaml:1 v: '05558' is ambiguous: it has a leading zero"),
        ("${P}", {"P": "1:30"}, "'1:30' is ambiguous: it has a colon"),
        ("'" + "${A:-" * 3000 + "d" + "}" * 3000 + "'", {}, "variables nested more than 32 deep"),
    ],
)
def test_errors(value: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(TopologyError) as info:
        expand(value, env)
    assert message in str(info.value)


def test_every_unset_variable_is_reported_with_its_line() -> None:
    doc = load_text(textwrap.dedent("""\
        nodes:
          a:
            run: x ${ONE}
            env: {K: "${TWO}"}
          b: {run: "${THREE:-ok}"}
    """), "top.yaml")  # fmt: skip
    problems = [str(p) for p in interpolate(doc, {}).problems]
    assert problems == [
        "top.yaml:3 nodes.a.run: variable ONE is not set (give it a value, or a default: ${ONE:-default})",
        "top.yaml:4 nodes.a.env.K: variable TWO is not set (give it a value, or a default: ${TWO:-default})",
    ]


def test_dotenv_syntax() -> None:
    values, problems = dotenv.parse(
        "# comment\n\nA=1\nexport B = two words # note\nC='lit $X # kept'\nD=\"a\\nb\"\nE=\nnot a line\n", ".env"
    )
    assert values == {"A": "1", "B": "two words", "C": "lit $X # kept", "D": "a\nb", "E": ""}
    assert [str(p) for p in problems] == [".env:8: expected KEY=VALUE (a comment starts with #)"]


TOPOLOGY = """\
nodes:
  sink:
    run: python -m orchestrator.nodes.sink --expect ${COUNT}
    sockets:
      results:
        type: PULL
        bind: ${PORT:-25558}
"""


def test_dotenv_with_a_bom_and_crlf_lines(tmp_path: Path) -> None:
    env = tmp_path / "win.env"
    env.write_bytes(b"\xef\xbb\xbfCOUNT=1\r\nPORT=2\r\n")
    assert dotenv.read(str(env), must_exist=True) == {"COUNT": "1", "PORT": "2"}


def test_env_precedence(tmp_path: Path) -> None:
    """Process environment > --env-file (later wins) > the .env beside the topology."""
    top = tmp_path / "t.yaml"
    top.write_text(TOPOLOGY)
    (tmp_path / ".env").write_text("COUNT=1\nPORT=25001\n")
    one = tmp_path / "one.env"
    one.write_text("COUNT=2\nPORT=25002\n")
    two = tmp_path / "two.env"
    two.write_text("COUNT=3\n")

    def sink(env_files: list[str], environ: dict[str, str]) -> tuple[str, int | None]:
        node = read(str(top), env_files, environ).doc.data["nodes"]["sink"]
        return node["run"].split()[-1], node["sockets"]["results"]["bind"]

    assert sink([], {}) == ("1", 25001)
    assert sink([], {"COUNT": "9"}) == ("9", 25001)
    assert sink([str(one)], {}) == ("2", 25002)  # --env-file replaces .env
    assert sink([str(one), str(two)], {}) == ("3", 25002)
    assert sink([str(one), str(two)], {"PORT": "25009"}) == ("3", 25009)
    with pytest.raises(TopologyError, match="no such file"):
        read(str(top), [str(tmp_path / "absent.env")], {})


def test_port_from_a_variable_is_validated_like_any_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = tmp_path / "t.yaml"
    top.write_text(TOPOLOGY)
    monkeypatch.setenv("COUNT", "3")
    monkeypatch.setenv("PORT", "99999")
    with pytest.raises(TopologyError, match=r"t.yaml:7 nodes.sink.sockets.results.bind: expected true .* got 99999"):
        load_topology(str(top))
    monkeypatch.setenv("PORT", "25123")
    assert load_topology(str(top)).nodes[0].sockets[0].port == 25123


def test_cli_reports_unset_variable_and_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("COUNT", raising=False)
    top = tmp_path / "t.yaml"
    top.write_text(TOPOLOGY)
    assert main(["check", str(top)]) == 2
    err = capsys.readouterr().err
    assert f"{top}:3 nodes.sink.run: variable COUNT is not set" in err
    assert "nothing was started" in err


def test_unknown_brace_placeholder_explains_braces(tmp_path: Path) -> None:
    top = tmp_path / "t.yaml"
    top.write_text("nodes:\n  a:\n    run: \"python -c 'print({1: 2})' {HOME}\"\n")
    with pytest.raises(TopologyError) as info:
        load_topology(str(top))
    text = str(info.value)
    assert "unknown placeholder {1: 2}" in text and "unknown placeholder {HOME}" in text
    assert "write {{ and }} for literal braces" in text and "${VAR}" in text


def test_a_variables_braces_are_text_not_placeholders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value from the environment lands as written: `{node}` or JSON in it is no zmqrun placeholder."""
    from orchestrator.run.runner import plan_for, remove_rundir

    monkeypatch.setenv("CFG", '{"k": 1}')
    monkeypatch.setenv("WHO", "{node}")
    top = tmp_path / "t.yaml"
    top.write_text(textwrap.dedent("""\
        nodes:
          a:
            run: [python, -c, "print({{1}})", "${CFG}", "${WHO}-{node}", "${NOPE:-{{x}}}"]
            env: {CFG: "${CFG}"}
          b:
            run: python -c 'pass' '${CFG}' ${WHO}
          c:
            shell: true
            run: echo ${WHO} {node}
    """))  # fmt: skip
    plan, rundir = plan_for(load_topology(str(top)))
    remove_rundir(rundir)
    a, b, c = plan.instances
    assert a.argv[1:] == ("-c", "print({1})", '{"k": 1}', "{node}-a", "{x}")  # the file's own braces still escape
    assert dict(a.env)["CFG"] == '{"k": 1}'
    assert b.argv[-2:] == ('{"k": 1}', "{node}")
    assert c.argv[-1] == "echo {node} c"


def test_config_prints_resolved_topology_with_secrets_redacted(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    top = tmp_path / "t.yaml"
    top.write_text(textwrap.dedent("""\
        nodes:
          sink:
            run: python -m orchestrator.nodes.sink --login ${DB_PASSWORD} --count ${COUNT}
            env:
              API_KEY: literal-in-file
              PLAIN: "cost $$5"
            sockets:
              results: {type: PULL, bind: true}
    """))  # fmt: skip
    (tmp_path / ".env").write_text("DB_PASSWORD=hunter2\nCOUNT=4\n")
    monkeypatch.delenv("COUNT", raising=False)
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    assert main(["config", str(top)]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "literal-in-file" not in out
    assert "--login <redacted> --count 4" in out
    assert "API_KEY: <redacted>" in out
    assert "cost $$5" in out  # the output is itself a topology that means the same
    again = tmp_path / "again.yaml"
    again.write_text(out)
    assert read(str(again), environ={}).doc.data["nodes"]["sink"]["env"]["PLAIN"] == "cost $5"


def test_check_resolved_prints_what_config_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """`zmqrun check --resolved FILE` is the issue's other name for `zmqrun config FILE`."""
    monkeypatch.setenv("DB_PASSWORD", "hunter2")
    monkeypatch.setenv("COUNT", "7")
    monkeypatch.delenv("PORT", raising=False)
    top = tmp_path / "t.yaml"
    top.write_text(TOPOLOGY.replace("--expect ${COUNT}", "--expect ${COUNT} --pw ${DB_PASSWORD}"))
    assert main(["config", str(top)]) == 0
    config = capsys.readouterr().out
    assert "--expect 7 --pw <redacted>" in config and "bind: 25558" in config
    assert main(["check", "--resolved", str(top)]) == 0
    assert capsys.readouterr().out == config
    monkeypatch.delenv("COUNT")
    assert main(["check", "--resolved", str(top), str(top)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("variable COUNT is not set") == 2


def test_a_value_refused_for_its_type_says_how_to_write_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unquoted values are typed as YAML would, quoted ones stay strings; a refusal says which way to go."""
    top = tmp_path / "t.yaml"
    top.write_text(textwrap.dedent("""\
        nodes:
          a:
            run: ${CMD}
            env:
              DEBUG: ${DEBUG}
              OK: "${DEBUG}"
            replicas: "${N}"
            sockets:
              s:
                type: PUSH
                bind: "${PORT}"
              t:
                type: PUSH
                bind: ${BAD_PORT}
    """))  # fmt: skip
    for name, value in {"CMD": "123", "DEBUG": "true", "N": "2", "PORT": "5555", "BAD_PORT": "70000"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(TopologyError) as info:
        load_topology(str(top))
    unquote = "(a variable's value in quotes stays a string; for a number or true/false write ${...} unquoted)"
    quote = "(a variable's value is read as YAML reads an unquoted value; to keep it a string, quote it: \"${...}\")"
    assert [str(p) for p in info.value.problems] == [
        f"{top}:3 nodes.a.run: expected a command string or a list of words, got an integer {quote}",
        f"{top}:5 nodes.a.env.DEBUG: expected a string or a number, got a boolean {quote}",
        f"{top}:7 nodes.a.replicas: expected an integer, got a string {unquote}",
        f"{top}:11 nodes.a.sockets.s.bind: expected true (assign a port) or a port number 1-65535, got '5555' {unquote}",
        f"{top}:14 nodes.a.sockets.t.bind: expected true (assign a port) or a port number 1-65535, got 70000",
    ]


def test_a_variable_in_flow_style_yaml_gets_a_hint() -> None:
    """`[${PART}]` and `{bind: ${PORT}}` are YAML errors (braces are flow syntax); say how to write them."""
    for text in ("include: [${PART}]\nnodes: {a: {run: x}}\n", "nodes:\n  a: {run: x, sockets: {s: {bind: ${P}}}}\n"):
        with pytest.raises(TopologyError) as info:
            load_text(text, "t.yaml")
        assert "quote a ${VAR} value or write that part in block style" in str(info.value)
    with pytest.raises(TopologyError) as info:
        load_text("nodes: [\n", "t.yaml")
    assert "${VAR}" not in str(info.value)


def test_a_refused_value_does_not_echo_a_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The values a secret-named variable put in place stay hidden in error messages too (CI logs)."""
    top = tmp_path / "t.yaml"
    top.write_text("nodes:\n  a:\n    run: x\n    restart: ${API_KEY}\n"
                   "    sockets: {s: {type: PUSH, bind: '${DB_PASSWORD}'}}\n")  # fmt: skip
    monkeypatch.setenv("API_KEY", "always-hunter2")
    monkeypatch.setenv("DB_PASSWORD", "s3cret")
    for command in (["check"], ["config"]):
        assert main([*command, str(top)]) == 2
        err = capsys.readouterr().err
        assert "nodes.a.restart: expected no, on-failure or always, got '<redacted>'" in err
        assert "nodes.a.sockets.s.bind:" in err and "got '<redacted>'" in err
        assert "hunter2" not in err and "s3cret" not in err


def test_readme_one_liner_braces_and_variables_render_as_documented(tmp_path: Path) -> None:
    from orchestrator.run.runner import plan_for, remove_rundir

    top = tmp_path / "t.yaml"
    top.write_text('nodes:\n  a:\n    run: python -c "print(sorted({{3, 1, 2}}))" --home ${HOME} --port {out.port}\n'
                   "    sockets: {out: {type: PUB, bind: 25432}}\n")  # fmt: skip
    plan, rundir = plan_for(load_topology(str(top)))
    remove_rundir(rundir)
    assert plan.instances[0].argv[1:] == ("-c", "print(sorted({3, 1, 2}))", "--home", os.environ["HOME"], "--port", "25432")


def test_env_file_flag_reaches_every_loading_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("COUNT", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    top = tmp_path / "t.yaml"
    top.write_text(TOPOLOGY)
    env = tmp_path / "ci.env"
    env.write_text("COUNT=42\n")
    for command in (["config"], ["check", "--no-color"], ["graph"]):
        assert main([*command, str(top)]) == 2, command
        assert main([*command, "--env-file", str(env), str(top)]) == 0, command
    assert "--expect 42" in capsys.readouterr().out


def test_env_file_flag_reaches_run_and_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREETING", raising=False)
    top = tmp_path / "hello.yaml"
    top.write_text(textwrap.dedent("""\
        nodes:
          hello: {run: "python -c 'print(\\"${GREETING}\\")'", ready: started}
        expect: {timeout: 30s, exit: {hello: 0}, output: {hello: '^from the env file$'}}
    """))  # fmt: skip
    env = tmp_path / "ci.env"
    env.write_text("GREETING='from the env file'\n")
    assert main(["test", str(top)]) == 1  # FAIL: invalid topology (GREETING unset)
    assert main(["test", "--env-file", str(env), str(top)]) == 0
    assert main(["run", "--no-color", "--env-file", str(env), str(top)]) == 0


@pytest.mark.parametrize("op", [":-", "-", ":+", ":?"])
def test_variable_references_nested_too_deeply_are_refused_not_a_crash(tmp_path, monkeypatch, op):
    for name in "ABC":
        monkeypatch.delenv(name, raising=False)
    if op == ":+":
        monkeypatch.setenv("A", "set")
    word = "${A" + op
    deep = word * 2000 + "x" + "}" * 2000  # 12 KB: Python's recursion limit, without the bound
    path = tmp_path / "t.yaml"
    path.write_text(f'nodes:\n  a:\n    run: "{deep}"\n')
    with pytest.raises(TopologyError) as exc:
        load_topology(str(path))
    (problem,) = exc.value.problems
    assert problem.line == 3 and "variables nested more than 32 deep" in problem.message
    shallow = tmp_path / "s.yaml"
    shallow.write_text('nodes:\n  a:\n    run: "${A:-${B:-${C:-deep enough}}}"\n')
    monkeypatch.delenv("A", raising=False)
    assert load_topology(str(shallow)).node("a").run[-2:] == ("deep", "enough")
