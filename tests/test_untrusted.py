"""Strings from outside (topology values, file names, other processes' command lines, node
output) reach no terminal, log or report raw, in any command or output mode; colour obeys
NO_COLOR and --no-color on a real pty; a closed stdout never shows a traceback."""

from __future__ import annotations

import itertools
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

import psutil
import pytest
from conftest import ROOT, finish, wait_for

# A screen clear, a window title (OSC), a bidi override, and a newline that forges a line.
EVIL = "\x1b[2J\x1b]0;pwned\x07\u202eevil\nerror: forged"
RAW = ("\x1b", "\x07", "\u202e")


def assert_clean(text: str) -> None:
    for raw in RAW:
        assert raw not in text, f"{raw!r} reached the output: {text!r}"
    assert not any(line.startswith("error: forged") for line in text.splitlines()), text


def evil_topology(zmqrun, **extra: str) -> str:
    literal = "ipc:///tmp/" + EVIL.replace("\n", "").replace(" ", "")  # an endpoint is one word
    node = {"run": ["python3", "-c", "print('hello')", EVIL],
            "sockets": {"out": {"type": "PUSH", "connect": "b.s"}, "lit": {"type": "PUSH", "connect": literal}}}
    doc = {
        "name": EVIL,
        "description": EVIL,
        "nodes": {"a": node, "b": {"run": "python3 -c pass", "ready": "started", "sockets": {"s": {"type": "PULL", "bind": True}}}},
        **extra,
    }
    return str(zmqrun.write(json.dumps(doc)))  # JSON is YAML: every escape survives into the file


def test_check_prints_no_escape_from_the_topology(zmqrun):
    result = zmqrun.run("check", evil_topology(zmqrun))
    assert result.returncode == 0, result.stderr
    assert "evil" in result.stdout and "\\nerror: forged" in result.stdout
    assert_clean(result.stdout)


def test_error_messages_print_no_escape_from_the_topology_or_its_file_name(zmqrun):
    path = zmqrun.write(json.dumps({"nodes": {"a": {"run": "x", "restart": EVIL}}}), name="\x1b]0;t\x07.yaml")
    for command in (("check", str(path)), (str(path),), ("test", str(path)), ("graph", str(path))):
        result = zmqrun.run(*command)
        assert result.returncode in (1, 2), result
        assert "restart" in result.stderr + result.stdout
        assert_clean(result.stderr + result.stdout)


def test_graph_in_every_format_prints_no_escape(zmqrun):
    path = evil_topology(zmqrun)
    for fmt in ("tree", "mermaid", "dot"):
        result = zmqrun.run("graph", path, "--format", fmt)
        assert result.returncode == 0, result.stderr
        assert "evil" in result.stdout
        assert_clean(result.stdout)


def test_free_and_check_print_no_escape_from_another_process_command_line(zmqrun):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); s.listen(); print('up', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code, EVIL], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "up\n"
        result = zmqrun.run("free", str(port))
        assert f"pid {holder.pid}" in result.stdout and "left alone" in result.stdout
        assert_clean(result.stdout + result.stderr)
        # check (and a run) name the holder of a fixed port, command line included
        path = zmqrun.write(f"nodes:\n  a:\n    run: x\n    sockets: {{s: {{type: PULL, bind: {port}}}}}\n")
        for command in (("check", str(path)), (str(path),)):
            result = zmqrun.run(*command)
            assert result.returncode == 2 and f"already in use by pid {holder.pid}" in result.stderr, result.stderr
            assert "evil\\nerror: forged" in result.stderr
            assert_clean(result.stdout + result.stderr)
    finally:
        holder.kill()
        holder.wait()


def test_json_lines_and_junit_carry_no_escape(zmqrun, tmp_path):
    path = evil_topology(zmqrun, expect={"timeout": "20s", "output": {"a": "never printed"}})
    result = zmqrun.run(path, "--json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(r["node"] == "a" and r["line"] == "hello" for r in records)
    for r in records:
        assert_clean(r["line"])
    report = tmp_path / "junit.xml"
    result = zmqrun.run("test", path, "--junit", str(report))
    assert result.returncode == 1
    assert_clean(result.stdout)
    text = report.read_text()
    assert_clean(text)
    ET.fromstring(text)  # still well-formed XML


def _on_a_pty(args: list[str], env: dict[str, str], cwd: str) -> str:
    """Run zmqrun with stdout and stderr on a real pseudo-terminal; everything it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=env, cwd=cwd)  # fmt: skip
    os.close(slave)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        proc.kill()
        proc.wait()
    return out.decode("utf-8", "replace")


PIPELINE = str(ROOT / "topologies" / "pipeline.yaml")
COMMANDS = [["check", PIPELINE], ["graph", PIPELINE], ["graph", "--format", "dot", PIPELINE], ["schema"],
            ["free", "1"], ["test", PIPELINE], ["--timeout", "20s", PIPELINE]]  # fmt: skip


def test_on_a_pty_there_is_colour_and_no_color_turns_all_of_it_off(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    coloured = _on_a_pty(["check", PIPELINE], env, str(tmp_path))
    assert "\x1b[" in coloured  # the pty really is a terminal: bold headers
    for args in COMMANDS:
        plain = _on_a_pty(args, {**env, "NO_COLOR": "1"}, str(tmp_path))
        assert "\x1b" not in plain, (args, plain[:300])
    # The live status table must move the cursor, but it too draws without any style.
    live = _on_a_pty(["--status", "--timeout", "20s", PIPELINE], {**env, "NO_COLOR": "1"}, str(tmp_path))
    assert "sink.1" in live and not re.search(r"\x1b\[[0-9;]*m", live), live[:300]
    for args in (["check", "--no-color", PIPELINE], ["graph", "--no-color", PIPELINE], ["--no-color", "--timeout", "20s", PIPELINE]):
        plain = _on_a_pty(args, env, str(tmp_path))
        assert "pipeline" in plain or "sink" in plain
        assert "\x1b" not in plain, (args, plain[:300])
    for args in COMMANDS:  # --no-color is taken by every command, not refused as unknown
        plain = _on_a_pty([*args, "--no-color"], env, str(tmp_path))
        assert "\x1b" not in plain and "unrecognized arguments" not in plain, (args, plain[:300])


def test_every_command_takes_no_color():
    import argparse

    from orchestrator.commands.parser import build_parser

    def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not nested:
            yield path, parser
        for action in nested:
            for name, child in action.choices.items():
                yield from leaves(child, (*path, name))

    found = dict(leaves(build_parser()))
    assert len(found) >= 18 and ("export", "compose") in found  # every command and export engine
    for path, parser in found.items():
        assert "--no-color" in parser._option_string_actions, path


def test_check_piped_prints_the_whole_plan(zmqrun):
    long_arg = "x" * 300
    path = zmqrun.write(f"nodes:\n  a:\n    run: python3 -c pass {long_arg}\n    sockets: {{s: {{type: PUSH, bind: true}}}}\n")
    result = zmqrun.run("check", str(path))
    assert result.returncode == 0
    assert long_arg in result.stdout  # on one line, uncut
    assert "tcp://127.0.0.1:" in result.stdout


SUBCOMMANDS = [["schema"], ["check", PIPELINE], ["graph", PIPELINE], ["graph", "--format", "mermaid", PIPELINE],
               ["graph", "--format", "dot", PIPELINE], ["free", "1", "2", "3"], ["test", PIPELINE], [PIPELINE],
               ["--help"], ["--version"], ["check", "/nonexistent.yaml"]]  # fmt: skip


@pytest.mark.parametrize("args", SUBCOMMANDS, ids=lambda a: " ".join(x.rsplit("/", 1)[-1] for x in a))
def test_every_subcommand_with_its_output_closed_early_prints_no_traceback(args, tmp_path):
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first byte: every write is EPIPE
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", *args], stdout=w, stderr=subprocess.PIPE,
                            env={**os.environ, "NO_COLOR": "1"}, cwd=tmp_path)  # fmt: skip
    os.close(w)
    _, err = finish(proc, 60)
    assert b"Traceback" not in err and b"Exception ignored" not in err, err.decode()
    assert proc.returncode in (0, 1, 2), err.decode()


def test_a_reader_that_goes_early_ends_the_command_quietly(tmp_path):
    proc = subprocess.run(f"{sys.executable} -m orchestrator schema | head -c 10 >/dev/null", shell=True,
                          capture_output=True, cwd=tmp_path, timeout=60, check=False)  # fmt: skip
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr


def test_time_wait_has_no_owner_and_holds_nothing(zmqrun):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()  # the side that closes first keeps TIME_WAIT: here, local port `port`
    wait_for(lambda: client.recv(1) == b"")
    client.close()
    server.close()
    result = zmqrun.run("free", str(port))
    assert "TIME_WAIT" in result.stdout, result.stdout
    assert "no permission" not in result.stdout and "unknown process" not in result.stdout
    assert f"port {port}: free" in result.stdout
    assert result.returncode == 0


@pytest.mark.parametrize("args", SUBCOMMANDS, ids=lambda a: " ".join(x.rsplit("/", 1)[-1] for x in a))
def test_every_subcommand_with_its_stdout_closed_outright_prints_no_traceback(args, tmp_path):
    proc = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "orchestrator", *args],
                          capture_output=True, env={**os.environ, "NO_COLOR": "1"}, cwd=tmp_path, timeout=60, check=False)  # fmt: skip
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    assert proc.returncode in (0, 2), proc.stderr.decode()


@pytest.mark.parametrize("args, env, message", [
    (["--log-dir", "/proc/no-such-dir", PIPELINE], {}, "--log-dir /proc/no-such-dir: No such file or directory"),
    ([PIPELINE], {"TMPDIR": "/no-such-dir"}, "cannot make the run directory /no-such-dir/zmqrun-"),
    (["export", "compose", PIPELINE, "--image", "x", "-o", "/no-such-dir/c.yaml"], {}, "zmqrun: /no-such-dir/c.yaml: No such file or directory"),
    (["export", "kubernetes", PIPELINE, "--image", "x", "-o", "/dev/null"], {}, "zmqrun: /dev/null: File exists"),
    (["examples", "--copy", "/dev/null"], {}, "zmqrun: /dev/null/topologies: Not a directory"),
    (["test", "--junit", "/no-such-dir/j.xml", str(ROOT / "topologies" / "pair.yaml")], {}, "zmqrun: /no-such-dir/j.xml: No such file or directory"),
])  # fmt: skip
def test_environment_problems_are_one_clear_line_not_a_traceback(zmqrun, args, env, message):
    result = zmqrun.run(*args, env=env)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_config_prints_no_raw_control_and_still_means_the_same(zmqrun):
    import yaml

    result = zmqrun.run("config", evil_topology(zmqrun))
    assert result.returncode == 0, result.stderr
    assert_clean(result.stdout)
    assert yaml.safe_load(result.stdout)["name"] == EVIL  # escaped, not dropped


@pytest.mark.parametrize("engine", ["kubernetes", "compose"])
def test_export_prints_no_raw_control_and_no_forged_yaml(zmqrun, engine):
    import yaml

    path = zmqrun.write(json.dumps({
        "name": "x\nkind: Forged",
        "description": EVIL,
        "nodes": {"a": {"run": ["python3", "-c", "print(1)", EVIL], "sockets": {"s": {"type": "PULL", "bind": True}}}},
    }))  # fmt: skip
    result = zmqrun.run("export", engine, str(path), "--image", "zmqrun:0.1")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stdout)
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert not any(str(d.get("kind", "")).startswith("Forged") for d in docs)  # no document forged by the name
    assert EVIL in json.dumps(docs, ensure_ascii=False) or json.dumps(EVIL)[1:-1] in json.dumps(docs)


_RUNS = itertools.count()


def _live_evil_run(zmqrun) -> tuple[subprocess.Popen[str], str]:
    """A live run whose topology name, description and command line carry EVIL; ready."""
    run_id = f"zr-evil-{os.getpid()}-{next(_RUNS)}"  # each test its own, even after a SIGKILLed one
    doc = {"name": EVIL, "description": EVIL, "nodes": {
        "a": {"run": ["python3", "-c", "import time\nprint('hi', flush=True)\ntime.sleep(600)", EVIL], "ready": "started",
              "sockets": {"s": {"type": "PUSH", "bind": True}}},
        "b": {"run": ["python3", "-c", "import time; time.sleep(600)"], "sockets": {"i": {"type": "PULL", "connect": "a.s"}}},
    }}  # fmt: skip
    proc = zmqrun.start("--run-id", run_id, str(zmqrun.write(json.dumps(doc))))

    def ready() -> bool:
        result = zmqrun.run("ps", run_id, "--json")
        return result.returncode == 0 and json.loads(result.stdout)["run"]["running"] == 2

    wait_for(ready, timeout=30, interval=0.2)
    return proc, run_id


def test_control_commands_print_no_escape_from_a_live_runs_topology(zmqrun):
    proc, run_id = _live_evil_run(zmqrun)
    for args in (["ls"], ["ls", "--json"], ["ps", run_id], ["ps", run_id, "--edges"], ["ps", run_id, "--json"],
                 ["ps", run_id, "--edges", "--json"], ["logs", run_id], ["logs", run_id, "--json"],
                 ["restart", run_id, "b"], ["stop", run_id, "b", "--json"], ["start", run_id, "b"]):  # fmt: skip
        result = zmqrun.run(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert_clean(result.stdout + result.stderr)
        if args[0] == "ps" and "--json" not in args:
            assert result.stdout.startswith(f"run {run_id}: evil\\nerror: forged ("), result.stdout
    web = zmqrun.start("web", run_id)
    assert web.stdout is not None
    url_line = web.stdout.readline()
    assert url_line.startswith(f"zmqrun web: run {run_id} (evil\\nerror: forged) at http://127.0.0.1:"), url_line
    assert_clean(url_line)
    web.terminate()
    shown = json.loads(zmqrun.run("ps", run_id, "--json").stdout)["run"]["name"]
    assert shown == "evil\nerror: forged"  # the data survives, the control does not
    proc.send_signal(signal.SIGINT)
    finish(proc, 30)


def test_the_control_and_comfort_commands_on_a_pty_obey_no_color_and_the_flag(zmqrun, tmp_path):
    proc, run_id = _live_evil_run(zmqrun)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    for args in (["ls"], ["ps", run_id], ["ps", run_id, "--edges"], ["logs", run_id]):
        assert "\x1b[" in _on_a_pty(args, env, str(tmp_path)), args  # bold headers, coloured labels: a terminal
        for plain in (_on_a_pty(args, {**env, "NO_COLOR": "1"}, str(tmp_path)), _on_a_pty([*args, "--no-color"], env, str(tmp_path))):
            assert "INSTANCE" in plain or "RUN" in plain or "EDGE" in plain or "a.1" in plain, plain
            assert "\x1b" not in plain, (args, plain[:300])
    for args in (["restart", run_id, "b"], ["stop", run_id, "b"], ["start", run_id, "b"], ["config", PIPELINE],
                 ["examples"], ["examples", "pipeline"], ["export", "compose", PIPELINE, "--image", "x"], ["completion", "bash"]):  # fmt: skip
        for plain in (_on_a_pty(args, {**env, "NO_COLOR": "1"}, str(tmp_path)), _on_a_pty([*args, "--no-color"], env, str(tmp_path))):
            assert plain.strip() and "\x1b" not in plain, (args, plain[:300])
    proc.send_signal(signal.SIGINT)
    finish(proc, 30)


def _output_gone(args: list[str], how: str, cwd) -> subprocess.Popen[bytes]:
    """zmqrun started with its stdout closed outright (`>&-`) or a pipe whose reader has gone (EPIPE)."""
    env = {**os.environ, "NO_COLOR": "1"}
    if how == "closed":
        return subprocess.Popen(["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "orchestrator", *args],
                                stderr=subprocess.PIPE, env=env, cwd=cwd)  # fmt: skip
    r, w = os.pipe()
    os.close(r)
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", *args], stdout=w, stderr=subprocess.PIPE, env=env, cwd=cwd)
    os.close(w)
    return proc


@pytest.mark.parametrize("how", ["closed", "epipe"])
def test_every_command_of_the_parser_with_its_output_gone_prints_no_traceback(zmqrun, tmp_path, how):
    from orchestrator.commands.parser import COMMANDS

    proc, run_id = _live_evil_run(zmqrun)
    one_shot = [["config", PIPELINE], ["examples"], ["examples", "pipeline"], ["examples", "--copy", str(tmp_path / "copy")],
                ["completion", "bash"], ["export", "compose", PIPELINE, "--image", "x"],
                ["export", "kubernetes", PIPELINE, "--image", "x"], ["ls"], ["ls", "--json"], ["ps", run_id],
                ["ps", run_id, "--edges"], ["ps", run_id, "--json"], ["logs", run_id], ["logs", run_id, "--json"],
                ["restart", run_id, "b"], ["stop", run_id, "b"], ["start", run_id, "b", "--json"]]  # fmt: skip
    # Until the run ends these follow it; with a reader gone (EPIPE) `logs -f` ends at its first line.
    following = [["logs", "-f", run_id], ["web", run_id]]
    covered = {a[0] for a in SUBCOMMANDS + one_shot + following} | {"run", "_complete"}
    assert covered >= set(COMMANDS), set(COMMANDS) - covered
    for args in one_shot:
        _, err = finish(_output_gone(args, how, tmp_path), 60)
        assert b"Traceback" not in err and b"Exception ignored" not in err, (args, err.decode())
    followers = [(args, _output_gone(args, how, tmp_path)) for args in following]
    if how == "epipe":  # both end by themselves, with the run still alive
        for args, follower in followers:
            _, err = finish(follower, 30)
            assert b"Traceback" not in err and follower.returncode in (0, 1), (args, err.decode())
    else:  # both follow into /dev/null until the run ends: wait until they do follow it
        logs_f, web = followers[0][1], followers[1][1]
        p = psutil.Process(logs_f.pid)
        wait_for(lambda: (p.net_connections if hasattr(p, "net_connections") else p.connections)("unix"), timeout=30)
        assert web.stderr is not None and b"Ctrl-C to stop" in web.stderr.readline()
    proc.send_signal(signal.SIGINT)
    finish(proc, 30)
    for args, follower in followers:
        _, err = finish(follower, 30)
        assert b"Traceback" not in err and b"Exception ignored" not in err, (args, err.decode())
        assert follower.returncode in (0, 1), (args, follower.returncode, err.decode())


@pytest.mark.parametrize("args", [["schema"], ["check", PIPELINE], ["graph", "--format", "dot", PIPELINE], ["examples"],
                                  ["--timeout", "20s", PIPELINE]], ids=lambda a: " ".join(x.rsplit("/", 1)[-1] for x in a))  # fmt: skip
def test_a_full_disk_under_stdout_is_one_line_not_a_traceback(args, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "orchestrator", *args], stdout=full, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmp)}, cwd=tmp_path, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == "zmqrun: No space left on device", proc.stderr
    assert "Traceback" not in proc.stderr
    wait_for(lambda: list(tmp.iterdir()) == [], timeout=10)  # a run torn down all the same
